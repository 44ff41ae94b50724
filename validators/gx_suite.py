"""Validation of shards against a SuiteSpec: the row-wise expectations run in the Arrow
executor (arrow_exec: one mask per expectation per batch, RE2), everything else in Great
Expectations' own engine (gx_engine), and the two verdicts combine into one ShardValidation
per shard. Batches come as Arrow tables or record batches; pandas frames are still accepted."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from laas.validators.ahead import mapped_ahead
from laas.validators.arrow_exec import compile_check, run_check
from laas.validators.gx_engine import (
    ROW_WISE,
    build_suites,  # noqa: F401 - part of this module's interface
    render_docs,
    run_alone,
    run_pooled,
)
from laas.validators.mask_results import (
    PARTIAL,
    Page,
    Tally,
    gx_result,
    holds,
    suite_result,
)
from laas.validators.outcomes import EXAMPLES, merge, outcome, shard_result
from laas.validators.regex_screen import scan_job, shared_scans
from laas.validators.report import ShardValidation
from laas.validators.spec import SuiteSpec
from laas.validators.text import TEXT_HASH_COLUMN
from laas.validators.text_batches import (  # with_text_hash: part of this module's interface
    hashed,
    keyed,
    repeats,
    with_text_hash,  # noqa: F401
)
from laas.validators.text_keys import text_hash_array

Batch = pa.Table | pa.RecordBatch | pd.DataFrame
_UNIQUENESS = ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique")


def warm() -> None:
    """What a process's first validation would otherwise pay for (seconds, mostly importing
    Great Expectations): GX's context and Data Docs templates, the text keys' table of
    characters only Python normalizes."""
    from laas.validators.gx_engine import _batch_definition, _page_view
    from laas.validators.unicode_fold import python_only_class

    _batch_definition()
    _page_view()
    python_only_class()


def poolable(spec: SuiteSpec) -> bool:
    """Whether every expectation judges a row by that row alone (uniqueness made per shard),
    so shards can be validated together and each still gets its own verdict."""
    return all(e.type in ROW_WISE or e.type in _UNIQUENESS for e in spec.expectations)


def as_table(data: Batch) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    return pa.Table.from_pandas(data, preserve_index=False)


def _execute(table: pa.Table, spec: SuiteSpec, groups: np.ndarray | None,
             later: frozenset[int] = frozenset(), first: np.ndarray | None = None
             ) -> tuple[dict[int, Tally], pa.Table]:
    """The expectations the Arrow executor runs, by index in the spec, and the table with its
    text-hash column. Arrow's kernels release the GIL: the masks run on the other cores while
    this thread makes the keys; the checks of the hash column follow."""
    checks = {i: c for i, e in enumerate(spec.expectations)
              if i not in later and (c := compile_check(e)) is not None}
    unkeyed = bool(spec.text_hash_of) and TEXT_HASH_COLUMN not in table.column_names
    late = [i for i in checks if unkeyed and TEXT_HASH_COLUMN in _key_columns(spec.expectations[i])]
    scans = shared_scans(spec, checks, table)
    shared = {i for ids in scans.values() for i in ids}
    first = repeats(table, spec) if unkeyed else first  # for the keys and the regex screens
    jobs = [scan_job(spec, checks, table, col, ids, first if col in spec.text_hash_of else None)
            for col, ids in scans.items()] + [
        partial(_one, i, checks[i], table, groups) for i in checks
        if i not in shared and i not in late]
    with ThreadPoolExecutor(max_workers=max(1, min(len(jobs), os.cpu_count() or 1))) as pool:
        early = [pool.submit(job) for job in jobs]
        table = hashed(table, spec, first) if unkeyed else table
        then = [pool.submit(_one, i, checks[i], table, groups) for i in late]
        masks = {i: m for f in early + then for i, m in f.result().items()}
    tallies = {i: Tally(spec.expectations[i], masks[i], table) for i in sorted(masks)
               if masks[i] is not None}
    return tallies, table


def _one(i: int, check: Any, table: pa.Table, groups: np.ndarray | None) -> dict:
    return {i: run_check(check, table, groups)}


def _run_gx(lengths: list[int], frame: pd.DataFrame, spec: SuiteSpec, rest: tuple[int, ...],
            docs: list[str] | None) -> list[dict]:
    """GX's verdicts on the expectations the executor left to it, per shard: in one pooled
    run when they are all row-wise, else shard by shard."""
    if len(lengths) > 1 and all(spec.expectations[i].type in ROW_WISE for i in rest):
        return run_pooled(lengths, frame, spec, rest, docs)
    starts = np.cumsum([0, *lengths[:-1]])
    return [run_alone(frame.iloc[a:a + m].reset_index(drop=True), spec, rest, docs)
            for a, m in zip(starts, lengths, strict=True)]


def check_frame(key: str, df: Batch, spec: SuiteSpec,
                docs: list[str] | None = None) -> ShardValidation:
    """Validate one batch; with `docs`, append the GX Data Docs HTML page of each result."""
    return check_pool([key], [len(df)], df, spec, docs)[0]


def check_frames_pooled(parts: list[tuple[str, Batch]], spec: SuiteSpec,
                        docs: list[str] | None = None) -> list[ShardValidation]:
    """Validate several small shards in one pass and give each shard the result it would
    have had on its own."""
    tables = [as_table(df) for _, df in parts]
    if not tables:
        return []
    return check_pool([k for k, _ in parts], [t.num_rows for t in tables],
                      pa.concat_tables(tables, promote_options="default"), spec, docs)


def check_pool(keys: list[str], lengths: list[int], frame: Batch, spec: SuiteSpec,
               docs: list[str] | None = None) -> list[ShardValidation]:
    """Shards already concatenated (`lengths` rows each, in order), validated in one pass:
    every mask is computed once for the whole pool and counted per shard, uniqueness is
    judged within each shard, and `mostly` per shard."""
    try:
        table = as_table(frame)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # a pandas column Arrow cannot type (mixed
        return _in_gx_only(keys, lengths, frame, spec, docs)  # objects): GX reads it as ever
    return check_table_pool(keys, lengths, table, spec, docs)[0]


def _in_gx_only(keys: list[str], lengths: list[int], frame: pd.DataFrame, spec: SuiteSpec,
                docs: list[str] | None) -> list[ShardValidation]:
    if spec.text_hash_of and TEXT_HASH_COLUMN not in frame:
        frame = frame.assign(**{TEXT_HASH_COLUMN: text_hash_array(
            [frame[c] for c in spec.text_hash_of], spec.text_key_scheme).to_pylist()})
    gx = _run_gx(lengths, frame, spec, tuple(range(len(spec.expectations))), docs)
    return _combine(keys, lengths, spec, {}, gx)


def check_table_pool(keys: list[str], lengths: list[int], table: pa.Table, spec: SuiteSpec,
                     docs: list[str] | None = None, later: frozenset[int] = frozenset(),
                     page: Page | None = None, first: np.ndarray | None = None
                     ) -> tuple[list[ShardValidation], pa.Table]:
    """check_pool, and the table with the text-hash column it computed (the stage also
    writes the hashes out for the dataset-wide duplicate check). `later`: expectations the
    caller judges itself (a shard's uniqueness, whole), held here as placeholders. `page`:
    the executor's results are added to it instead of rendered (a shard in batches).
    `first`: the rows' repeats in the text-hash columns (keyed), if the caller hashed them."""
    groups = np.repeat(np.arange(len(keys)), lengths) if len(keys) > 1 else None
    tallies, table = _execute(table, spec, groups, later, first)
    rest = tuple(i for i in range(len(spec.expectations)) if i not in tallies and i not in later)
    gx = _run_gx(lengths, table.to_pandas(), spec, rest, docs) if rest else \
        [{} for _ in keys]
    if page is not None:
        page.add(tallies, table.num_rows)
    elif docs is not None and tallies:
        docs.append(render_docs(suite_result(spec, [
            gx_result(spec.expectations[i], i, t.counts(0, table.num_rows, PARTIAL))
            for i, t in tallies.items()])))
    return _combine(keys, lengths, spec, tallies, gx, later), table


def _combine(keys: list[str], lengths: list[int], spec: SuiteSpec, tallies: dict[int, Tally],
             gx: list[dict], later: frozenset[int] = frozenset()) -> list[ShardValidation]:
    """Each shard's outcomes, in spec order, from the executor's tallies and GX's verdicts."""
    bounds = np.cumsum([0, *lengths])
    results = []
    for n, key in enumerate(keys):
        outcomes = []
        for i, e in enumerate(spec.expectations):
            if i in tallies:
                c = tallies[i].counts(int(bounds[n]), int(bounds[n + 1]), EXAMPLES)
                outcomes.append(outcome(e, holds(e, c), c.unexpected, c.examples))
            elif i in later:
                outcomes.append(outcome(e, True, 0, []))
            else:
                g = gx[n][i]
                outcomes.append(outcome(e, g.success, g.unexpected_count, g.examples,
                                         g.observed))
        results.append(shard_result(key, outcomes))
    return results


def _key_columns(e: Any) -> list[str]:
    return list(e.kwargs.get("column_list") or [e.kwargs.get("column")])


def check_in_batches(key: str, batches: Iterable[Batch], spec: SuiteSpec,
                     docs: list[str] | None = None,
                     on_table: Callable[[pa.Table], None] | None = None) -> ShardValidation:
    """One shard too big for one pass, validated batch by batch (memory bounded by the batch)
    and merged, except uniqueness, which holds per shard, whole: the key columns (only those)
    of every batch are kept and checked together at the end, so a duplicate is found however
    many batches lie between it and its twin. `on_table` sees each batch with its keys."""
    whole = {i: e for i, e in enumerate(spec.expectations)
             if e.type in _UNIQUENESS and compile_check(e) is not None}
    keys = sorted({c for e in whole.values() for c in _key_columns(e)})
    kept, page = [], Page() if docs is not None else None  # one page a shard, not a batch

    def check(table: pa.Table, first: np.ndarray | None) -> ShardValidation:
        (result,), table = check_table_pool([key], [table.num_rows], table, spec, docs,
                                            later=frozenset(whole), page=page, first=first)
        if on_table is not None:
            on_table(table)
        return result

    # each batch's text hashes are made while the batches before it are validated, two at a
    # time (the keys cost several times the masks); the batches are checked in order in a
    # thread, so the shard's uniqueness, judged once the last is keyed, overlaps its checks
    tables = mapped_ahead(lambda batch: keyed(as_table(batch), spec), batches, depth=2)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="laas-check") as checker:
        parts: list[Future] = []  # one batch in the checks, the next waiting: bounded memory
        for table, first in tables:  # uniqueness is left out per batch: judged once, below
            wait(parts[-1:])
            parts.append(checker.submit(check, table, first))
            kept.append(table.select([c for c in keys if c in table.column_names]))
        full = pa.concat_tables(kept) if whole else None
        masks = {i: run_check(compile_check(e), full) for i, e in whole.items()}
        merged = merge([f.result() for f in parts])
    outcomes, shown = list(merged.outcomes), page.results(spec) if page is not None else []
    for i, e in whole.items():
        if masks[i] is None:  # a key column the shard lacks: failed, as GX fails it
            outcomes[i] = outcome(e, False, None, [])
            continue
        tally = Tally(e, masks[i], full)
        c = tally.counts(0, full.num_rows, EXAMPLES)
        outcomes[i] = outcome(e, holds(e, c), c.unexpected, c.examples)
        shown.append(gx_result(e, i, tally.counts(0, full.num_rows, PARTIAL)))
    if docs is not None and shown:
        docs.append(render_docs(suite_result(spec, sorted(
            shown, key=lambda r: r.expectation_config.meta["laas_index"]))))
    return shard_result(key, outcomes) if whole else merged
