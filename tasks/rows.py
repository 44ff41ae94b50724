"""Row-level filtering (`on_failure: drop_rows`), as plain functions for Dask workers: the rows
that repeat earlier text across the dataset, and each shard's validated file, which is the
normalized shard without its failing rows. The dropped rows go to a file of their own with
the expectations each failed, and the manifest commits to the set of dropped row numbers, so
anyone can re-derive the validated shard from the normalized one (`laas verify` does)."""

from __future__ import annotations

import secrets

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from laas.anchors.canonical import to_hex
from laas.anchors.hashing import TableHasher
from laas.anchors.models import ShardEntry, rows_digest
from laas.anchors.storage import redact, url_to_fs
from laas.errors import ShardReadError
from laas.tasks.shards import verified_bytes
from laas.validators.spec import DatasetSpec

ROW_COLUMN = "_laas_row"  # in the dropped-rows file: the row's number in the normalized shard
FAILED_COLUMN = "_laas_failed"  # and the expectations it failed


def later_duplicates(hashes_dir: str, keys: list[str]) -> dict[str, np.ndarray]:
    """Per shard, the rows whose text repeats an earlier row of the dataset (order: shard key,
    then row), from the text hashes the validate pass wrote. Only `keys` take part."""
    fs, path = url_to_fs(hashes_dir)
    order_keys = sorted(set(keys))
    index = {k: i for i, k in enumerate(order_keys)}
    cs, rs, hs = [], [], []
    for p in sorted(fs.glob(f"{path}/*.parquet")):
        with fs.open(p, "rb") as f:
            t = pq.read_table(f)
        key, h = t.column("key").to_pylist(), t.column("h").to_numpy(zero_copy_only=False)
        start = 0
        while start < len(key):  # a shard's rows are contiguous and in order in one file
            end = start + 1
            while end < len(key) and key[end] == key[start]:
                end += 1
            if key[start] in index:
                cs.append(np.full(end - start, index[key[start]]))
                rs.append(np.arange(end - start))
                hs.append(h[start:end])
            start = end
    if not cs:
        return {}
    code = np.concatenate(cs)
    row, h = np.concatenate(rs), np.concatenate(hs)
    order = np.lexsort((row, code))
    _, first = np.unique(h[order], return_index=True)
    later = np.ones(len(order), bool)
    later[first] = False
    dup = order[later]
    out: dict[str, np.ndarray] = {}
    for c in np.unique(code[dup]):
        out[order_keys[c]] = np.sort(row[dup][code[dup] == c])
    return out


def filter_shard(entry: ShardEntry, duplicates: list[int], spec: DatasetSpec, out_dir: str,
                 bad_status: str) -> ShardEntry:
    """The validated shard without its failing rows, written and hashed; or the entry set
    aside (whole-shard failure, too many rows dropped). Unchanged if no row is dropped."""
    from laas.validators.row_filter import dedupe_label, failing_rows, whole_shard_problem

    if entry.status != "ok" or entry.validation is None:
        return entry
    suite = spec.suite

    def aside(reason: str) -> ShardEntry:
        return entry.model_copy(update={"status": bad_status, "reason": reason})

    if problem := whole_shard_problem(entry.validation, suite):
        return aside(problem)
    try:
        table = pq.read_table(pa.BufferReader(verified_bytes(entry)))
    except ShardReadError as e:
        return aside(str(e))
    masks = failing_rows(table, suite)
    if (dup := dedupe_label(suite)) is not None:
        masks[dup] = np.zeros(table.num_rows, bool)
        masks[dup][np.asarray(duplicates, dtype=np.int64)] = True
    drop = np.zeros(table.num_rows, bool)
    for m in masks.values():
        drop |= m
    n = int(drop.sum())
    if n == 0:
        return entry
    if n == table.num_rows or n / table.num_rows > spec.max_dropped_rows:
        return aside(f"{n} of {table.num_rows} rows fail ({_counts(masks)}): over "
                     f"max_dropped_rows {spec.max_dropped_rows:.0%}")
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
        _write(kept_uri, kept)
        _write(dropped_uri, gone)
    except OSError as e:
        return aside(f"validated shard cannot be stored under {redact(out_dir)}: {e}")
    return entry.model_copy(update={
        "uri": kept_uri, "content_hash": to_hex(hasher.digest()), "byte_size": hasher.size,
        "rows": kept.num_rows, "parent_hash": entry.content_hash, "rows_in": entry.rows,
        "reason": f"{n} of {table.num_rows} rows dropped ({_counts(masks)})",
        "dropped": {name: int(m.sum()) for name, m in masks.items() if m.any()},
        "dropped_rows_hash": rows_digest(rows), "dropped_uri": dropped_uri})


def _counts(masks: dict[str, np.ndarray]) -> str:
    return ", ".join(f"{name} {int(m.sum())}" for name, m in masks.items() if m.any())


def _write(uri: str, table: pa.Table) -> None:
    """Written under a fresh name, then renamed: never through a link planted at `uri`."""
    fs, path = url_to_fs(uri)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    tmp = f"{path}.{secrets.token_hex(6)}.tmp"
    with fs.open(tmp, "wb") as f:
        pq.write_table(table, f, compression="zstd")
    fs.mv(tmp, path)

