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

from laas.anchors.adapters.files import join, open_uri, redact, url_to_fs
from laas.anchors.core.canonical import to_hex
from laas.anchors.core.hashing import TableHasher
from laas.anchors.core.models import ShardEntry, rows_digest
from laas.errors import ShardReadError
from laas.tasks.dataset_spec import DatasetSpec
from laas.tasks.readers import verified_table

ROW_COLUMN = "_laas_row"  # in the dropped-rows file: the row's number in the normalized shard
FAILED_COLUMN = "_laas_failed"  # and the expectations it failed


def verified_text_keys(hashes_dir: str, entries: list[ShardEntry]
                       ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Each validated shard's duplicate keys, read back from the store and checked against
    the digest its entry carries (what validation computed): {key: hashes in row order}, and
    {key: why} for shards whose keys in the store are not those (rewritten, planted)."""
    import blake3

    from laas.tasks.text_hashes import text_keys_bytes

    expected = {e.key: e.text_keys_hash for e in entries if e.text_keys_hash}
    found: dict[str, list[np.ndarray]] = {}
    fs, path = url_to_fs(hashes_dir)
    for p in sorted(fs.glob(f"{path}/*.parquet")):
        try:
            with open_uri(join(fs, p)) as f:  # a regular file, never a pipe
                t = pq.read_table(f, columns=["key", "h"])
        except (OSError, ValueError, KeyError, pa.ArrowInvalid):
            continue  # not one of ours: the digests below decide what is missing
        keys = t.column("key").to_numpy(zero_copy_only=False)
        h = t.column("h").to_numpy(zero_copy_only=False)
        if not len(keys):  # a batch whose shards all failed before their keys were made
            continue
        # grouped by one stable sort (rows keep their order within a key), not one pass over
        # the file per key: a file holds up to a thousand shards' keys
        order = np.argsort(keys, kind="stable")
        names, starts = np.unique(keys[order], return_index=True)
        for key, part in zip(names, np.split(h[order], starts[1:]), strict=True):
            if key in expected:
                found.setdefault(key, []).append(part)
    good, bad = {}, {}
    for key, digest in expected.items():
        hashes = np.concatenate(found[key]) if key in found else np.empty(0, object)
        mine = "0x" + blake3.blake3(text_keys_bytes(hashes)).hexdigest()
        if mine == digest:
            good[key] = hashes
        else:
            bad[key] = (f"shard {key}: its duplicate keys in the store are not those its "
                        "validation computed (rewritten?); rerun")
    return good, bad


def later_duplicates(text_keys: dict[str, np.ndarray], keys: list[str]
                     ) -> dict[str, np.ndarray]:
    """Per shard, the rows whose text repeats an earlier row of the dataset (order: shard key,
    then row). Only `keys` take part."""
    order_keys = sorted(k for k in set(keys) if k in text_keys)
    if not order_keys:
        return {}
    code = np.concatenate([np.full(len(text_keys[k]), i) for i, k in enumerate(order_keys)])
    row = np.concatenate([np.arange(len(text_keys[k])) for k in order_keys])
    h = np.concatenate([text_keys[k] for k in order_keys])
    _, first = np.unique(h, return_index=True)  # in (key, row) order already
    later = np.ones(len(h), bool)
    later[first] = False
    return {order_keys[c]: row[later & (code == c)] for c in np.unique(code[later])}


def distinct_rows(text_keys: dict[str, np.ndarray], keys: list[str]) -> tuple[int, int]:
    """(rows, distinct rows) by duplicate key over the shards named by `keys`."""
    parts = [text_keys[k] for k in keys if k in text_keys]
    if not parts:
        return 0, 0
    h = np.concatenate(parts)
    return len(h), len(np.unique(h))


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

