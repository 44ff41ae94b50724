"""The validated stage's per-shard work, as plain functions Dask workers run: the dataset's
Great Expectations suite over normalized shards (small ones pooled, big ones in row batches),
each shard's results and Data Docs page, and its text hashes for the dataset-wide checks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from laas.anchors.adapters.files import redact, url_to_fs
from laas.anchors.core.canonical import keccak256
from laas.anchors.core.models import ShardEntry
from laas.errors import ShardReadError
from laas.tasks.dataset_spec import DatasetSpec
from laas.tasks.normalized_reads import verified_batches, verified_table
from laas.tasks.read_ahead import read_ahead
from laas.tasks.text_hashes import TextHashSink

VALIDATE_BATCH = 50_000  # rows per Great Expectations validation: bounds its memory


def validated_entry(entry: ShardEntry, spec: DatasetSpec, bad_status: str,
                    docs_dir: str) -> ShardEntry:
    """Validated stage for one shard: run the suite on the normalized shard in batches of
    rows, and write its Data Docs page(s)."""
    return validated_entries([entry], spec, bad_status, docs_dir)[0]


def validated_entries(entries: Iterable[ShardEntry], spec: DatasetSpec, bad_status: str,
                      docs_dir: str, hashes_dir: str | None = None, judge: bool = True,
                      keys: list[str] | None = None, tables: dict | None = None
                      ) -> list[ShardEntry]:
    """Validated stage for a batch of shards: a big shard is validated alone, VALIDATE_BATCH
    rows at a time, its uniqueness over the whole shard; small ones together, up to
    VALIDATE_BATCH rows per pass (a Great Expectations run costs ~0.15 s fixed). Each shard
    gets its own result; one that fails an `error` expectation keeps its results and gets
    bad_status. With hashes_dir, the rows' text hashes go there for the dataset-wide duplicate
    check. Batches stay Arrow tables: no pandas unless GX's engine runs something.
    `entries` are taken one at a time (they may be made as they are asked for), `keys` theirs
    if given; `tables`, a shard's rows by key (taken from it) as the normalized stage hashed and
    wrote them: they are not read back (the same task normalized it: no file between)."""
    from laas.validators.gx_suite import check_in_batches, check_table_pool  # GX only here

    out: dict[int, ShardEntry] = {}
    pool: list[tuple[int, ShardEntry, pa.Table]] = []
    pooled_rows = 0
    if keys is None:
        entries = list(entries)
        keys = [e.key for e in entries]
    sink = TextHashSink(hashes_dir, keys, spec.suite.text_hash_of)
    tables = tables if tables is not None else {}

    def flush() -> None:
        nonlocal pooled_rows
        keys, lengths = [e.key for _, e, _ in pool], [t.num_rows for _, _, t in pool]
        # One Arrow concat, one text-hash pass for the whole pool.
        pages: list[str] = []
        results, hashed = check_table_pool(keys, lengths, pa.concat_tables(
            [t for _, _, t in pool]), spec.suite, docs=pages)
        sink.add(keys, lengths, hashed)
        docs_uri = _write_docs(docs_dir, keys, pages)
        for (n, e, _), result in zip(pool, results, strict=True):
            out[n] = _with_results(e, result, docs_uri, bad_status, judge)
        pool.clear()
        pooled_rows = 0

    for n, e in enumerate(entries):
        if e.status != "ok":
            out[n] = e
            continue
        held = tables.pop(e.key, None)
        try:
            if (e.rows or 0) >= VALIDATE_BATCH:
                pages: list[str] = []
                batches = held.combine_chunks().to_batches(VALIDATE_BATCH) if held is not None \
                    else read_ahead(verified_batches(e, VALIDATE_BATCH))
                result = check_in_batches(
                    e.key, batches, spec.suite,
                    docs=pages,
                    on_table=lambda t, key=e.key: sink.add([key], [t.num_rows], t))
                out[n] = _with_results(e, result, _write_docs(docs_dir, [e.key], pages),
                                       bad_status, judge)
                continue
            table = held if held is not None else verified_table(e)
        except ShardReadError as problem:  # its keys in the sink are not in its entry: unused
            out[n] = e.model_copy(update={"status": bad_status, "reason": str(problem)})
            continue
        pool.append((n, e, table))
        pooled_rows += table.num_rows
        if pooled_rows >= VALIDATE_BATCH:
            flush()
    if pool:
        flush()
    sink.close()
    from laas.validators.outcomes import share_outcomes

    done = [out[n] for n in range(len(keys))]
    shared = share_outcomes([e.validation for e in done])
    return [e.model_copy(update={"validation": v, "text_keys_hash": sink.digest(e.key)})
            if v is not None else e for e, v in zip(done, shared, strict=True)]


def _write_docs(docs_dir: str, keys: list[str], pages: list[str]) -> str:
    """One HTML file per GX run group: a shard's own page, or the page of the small shards
    validated together (named by their keys, so a rerun writes the same file)."""
    from laas.anchors.adapters.artifacts import write_replacing

    digest = keccak256("\n".join(keys).encode()).hex()[:16]
    page = "\n".join(pages).encode()  # the pages of several row batches follow each other
    for name in ([keys[0]] if len(keys) == 1 else []) + [f"batch-{digest}"]:
        docs_uri = f"{docs_dir}/{name}.html"
        fs, path = url_to_fs(docs_uri)
        try:
            write_replacing(fs, path, page)
            return docs_uri
        except OSError:  # a shard name the store cannot hold as a file: the digest name can
            continue
    raise ShardReadError(f"Data Docs of {keys[0]}: cannot be written under {redact(docs_dir)}")


def _with_results(entry: ShardEntry, result: Any, docs_uri: str, bad_status: str,
                  judge: bool = True) -> ShardEntry:
    """The shard with its results; judged (set aside if it failed) unless its rows are to be
    filtered first (drop_rows decides per row, later)."""
    update = {"validation": result.model_dump(mode="json"), "docs_uri": docs_uri}
    if judge and not result.success:
        update |= {"status": bad_status, "reason": f"failed expectations: {result.summary()}"}
    return entry.model_copy(update=update)
