"""Row-level filtering (`on_failure: drop_rows`), as plain functions for Dask workers: the rows
that repeat earlier text across the dataset, and each shard's validated file, which is the
normalized shard without its failing rows. The dropped rows go to a file of their own with
the expectations each failed, and the manifest commits to the set of dropped row numbers, so
anyone can re-derive the validated shard from the normalized one (`laas verify` does)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from laas.anchors.adapters.files import redact
from laas.anchors.core.canonical import to_hex
from laas.anchors.core.hashing import TableHasher
from laas.anchors.core.models import ShardEntry, rows_digest
from laas.errors import ShardReadError
from laas.tasks.dataset_spec import DatasetSpec
from laas.tasks.normalized_reads import verified_table
from laas.tasks.shard_licenses import column_licenses, kept_licenses
from laas.tasks.stage_files import write_parquet
from laas.tasks.text_keys import TextKeys

ROW_COLUMN = "_laas_row"  # in the dropped-rows file: the row's number in the normalized shard
FAILED_COLUMN = "_laas_failed"  # and the expectations it failed


def later_duplicates(text_keys: TextKeys | dict, keys: list[str]) -> dict[str, np.ndarray]:
    """Per shard, the rows whose text repeats an earlier row of the dataset (order: shard key,
    then row). Only `keys` take part."""
    order_keys = sorted(k for k in set(keys) if k in text_keys)
    if not order_keys:
        return {}
    text_keys = TextKeys.of(text_keys)
    lengths = [text_keys.rows(k) for k in order_keys]
    code = np.repeat(np.arange(len(order_keys)), lengths)
    row = np.concatenate([np.arange(n) for n in lengths])
    later = _repeats(text_keys.chunks(order_keys))  # in (key, row) order
    return {order_keys[c]: row[later & (code == c)] for c in np.unique(code[later])}


def distinct_rows(text_keys: TextKeys | dict, keys: list[str]) -> tuple[int, int]:
    """(rows, distinct rows) by duplicate key over the shards named by `keys`."""
    parts = TextKeys.of(text_keys).chunks([k for k in keys if k in text_keys])
    if not parts:
        return 0, 0
    later = _repeats(parts)
    return len(later), len(later) - int(np.count_nonzero(later))


def _repeats(chunks: list[pa.Array]) -> np.ndarray:
    """Per row, in chunk order, whether its key equals an earlier row's (nulls equal each
    other). The 32-hex text keys are one fixed width: one 64-bit number per row, sorted
    (validators.fixed_keys), leaves the few rows that may have a twin, and only those get
    dictionary codes (at 2 M keys a hash table of strings cost the flow ~1 s, serial, after
    the workers were done); other keys, or many repeats, get codes for every row. One array,
    so one dictionary: unifying per-chunk dictionaries costs chunks x keys."""
    from laas.validators.fixed_keys import fixed_words, maybe_equal

    whole = pa.chunked_array(chunks, pa.string()).cast(pa.large_string()).combine_chunks()
    words = fixed_words(whole)
    maybe = None if words is None else maybe_equal(words, np.ones(len(whole), bool), None)
    rows = np.arange(len(whole)) if maybe is None else np.flatnonzero(maybe)
    codes = pc.dictionary_encode(whole if maybe is None else whole.take(rows),
                                 null_encoding="encode").indices.to_numpy(zero_copy_only=False)
    _, first = np.unique(codes, return_index=True)
    again = np.ones(len(rows), bool)
    again[first] = False
    later = np.zeros(len(whole), bool)
    later[rows[again]] = True
    return later


def filter_shard(entry: ShardEntry, duplicates: list[int], spec: DatasetSpec, out_dir: str,
                 bad_status: str) -> ShardEntry:
    """The validated shard without its failing rows, written and hashed; or the entry set
    aside (whole-shard failure, too many rows dropped). Unchanged if no row is dropped."""
    if entry.status != "ok" or entry.validation is None:
        return entry

    def aside(reason: str) -> ShardEntry:
        return entry.model_copy(update={"status": bad_status, "reason": reason})

    try:
        return _filter(entry, duplicates, spec, out_dir, aside)
    except Exception as e:  # one shard's trouble sets it aside, never the stage
        return aside(f"shard {entry.key}: rows could not be filtered ({type(e).__name__}: "
                     f"{str(e)[:200]})")


def _filter(entry: ShardEntry, duplicates: list[int], spec: DatasetSpec, out_dir: str,
            aside: object) -> ShardEntry:
    from laas.validators.row_filter import dedupe_label, failing_rows, whole_shard_problem

    suite = spec.suite

    if problem := whole_shard_problem(entry.validation, suite):
        return aside(problem)
    try:
        table = verified_table(entry)
    except ShardReadError as e:
        return aside(str(e))
    masks = failing_rows(table, suite)
    if (dup := dedupe_label(suite)) is not None:
        rows = np.asarray(duplicates, dtype=np.int64)
        if len(rows) and (rows.min() < 0 or rows.max() >= table.num_rows):
            return aside(f"shard {entry.key}: duplicate rows out of range; rerun")
        masks[dup] = np.zeros(table.num_rows, bool)
        masks[dup][rows] = True
    drop = np.zeros(table.num_rows, bool)
    for m in masks.values():
        drop |= m
    n = int(drop.sum())
    if n == 0:
        return entry
    if n == table.num_rows or n / table.num_rows > spec.max_dropped_rows:
        why = "no row is left" if n == table.num_rows else \
            f"over max_dropped_rows {spec.max_dropped_rows:.0%}"
        return aside(f"{n} of {table.num_rows} rows fail ({_counts(masks)}): {why}")
    kept_uri = f"{out_dir}/shards/{entry.key}.parquet"
    dropped_uri = f"{out_dir}/dropped/{entry.key}.parquet"
    kept = table.filter(pa.array(~drop))
    hasher = TableHasher(kept.schema)
    hasher.update(kept)
    rows = np.flatnonzero(drop)
    why = [[name for name, m in masks.items() if m[r]] for r in rows]
    gone = table.filter(pa.array(drop)).append_column(ROW_COLUMN, pa.array(rows, pa.int64())) \
        .append_column(FAILED_COLUMN, pa.array(why, pa.list_(pa.string())))
    try:
        sha256 = write_parquet(kept_uri, kept)
        write_parquet(dropped_uri, gone)
    except OSError as e:
        return aside(f"validated shard cannot be stored under {redact(out_dir)}: {e}")
    return entry.model_copy(update={
        "uri": kept_uri, "content_hash": to_hex(hasher.digest()), "byte_size": hasher.size,
        "sha256": sha256, "licenses": kept_licenses(entry.licenses, column_licenses(table),
                                                    column_licenses(kept), spec.license),
        "rows": kept.num_rows, "parent_hash": entry.content_hash, "rows_in": entry.rows,
        "reason": f"{n} of {table.num_rows} rows dropped ({_counts(masks)})",
        "dropped": {name: int(m.sum()) for name, m in masks.items() if m.any()},
        "dropped_rows_hash": rows_digest(rows), "dropped_uri": dropped_uri})


def _counts(masks: dict[str, np.ndarray]) -> str:
    return ", ".join(f"{name} {int(m.sum())}" for name, m in masks.items() if m.any())
