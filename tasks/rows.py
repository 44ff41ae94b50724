"""Row-level filtering (`on_failure: drop_rows`), as plain functions for Dask workers: the rows
that repeat earlier text across the dataset, and each shard's validated file, which is the
normalized shard without its failing rows. The dropped rows go to a file of their own with
the expectations each failed, and the manifest commits to the set of dropped row numbers, so
anyone can re-derive the validated shard from the normalized one (`laas verify` does)."""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from laas.anchors.adapters.files import join, open_uri, redact, url_to_fs
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


def verified_text_keys(hashes_dir: str, entries: list[ShardEntry]) -> tuple[TextKeys,
                                                                             dict[str, str]]:
    """Each validated shard's duplicate keys, read back from the store and checked against
    the digest its entry carries (what validation computed): {key: hashes in row order}, and
    {key: why} for shards whose keys in the store are not those (rewritten, planted). All in
    Arrow: at a million rows, numpy's sorts of Python strings took seconds of the flow."""
    import blake3

    expected = {e.key: e.text_keys_hash for e in entries if e.text_keys_hash}
    # where each key's rows and lines are, file after file; hashed at the end one key at a
    # time: a BLAKE3 hasher per shard held to the end was ~2 KB each, 200 MB of the flow at
    # 100,000 shards, and an Arrow slice per shard ~800 B (tasks.text_keys)
    files: list[pa.Array] = []
    lines: list[memoryview] = []
    spans: dict[str, list[tuple[int, int, int, int, int]]] = {}
    fs, path = url_to_fs(hashes_dir)
    for p in sorted(fs.glob(f"{path}/*.parquet")):
        try:
            with open_uri(join(fs, p)) as f:  # a regular file, never a pipe
                # ParquetFile, not read_table: that imports pyarrow.dataset into the flow
                # (~0.15 s of CPU per run) and refuses a missing column, which this leaves out
                one = pq.ParquetFile(f)
                if not {"key", "h"} <= set(one.schema_arrow.names):
                    continue
                t = one.read(columns=["key", "h"])
        except (OSError, ValueError, KeyError, pa.ArrowInvalid):
            continue  # not one of ours: the digests below decide what is missing
        if not t.num_rows:  # a batch whose shards all failed before their keys were made
            continue
        keys, h = t.column("key").combine_chunks(), t.column("h").combine_chunks()
        if (keys.type, h.type) != (pa.string(), pa.string()) or keys.null_count \
                or h.null_count or pc.any(pc.match_substring(h, "\n")).as_py():
            # not one of ours (other types: Arrow cannot even compare some); a key holding a
            # newline would pass in the digest (a line per key) for two keys, so one repeat
            # could hide in it; a null for an empty line
            continue
        starts = _runs(keys)
        names = keys.take(starts[:-1]).to_pylist()
        if len(set(names)) < len(names):
            # a key in several runs (not as TextHashSink writes): grouped by one stable sort
            # (rows keep their order within a key), not one pass over the file per key
            order = pc.sort_indices(keys)
            keys, h = keys.take(order), h.take(order)
            starts = _runs(keys)
            names = keys.take(starts[:-1]).to_pylist()
        # text_keys_bytes of the whole file at once: a shard's bytes are a slice of them
        # (one Arrow pass per file, not five per shard; its names and byte bounds as Python
        # values at once, not an Arrow scalar and two numpy ones per shard)
        data, offsets = _lines(h)
        files.append(h)
        lines.append(data)
        bounds = offsets[starts].tolist()
        for key, (a, b), (lo, hi) in zip(names, itertools.pairwise(starts),
                                         itertools.pairwise(bounds), strict=True):
            if key in expected:
                spans.setdefault(key, []).append((len(files) - 1, a, b, lo, hi))
    good, bad = TextKeys(files), {}
    for key, digest in expected.items():
        hasher = blake3.blake3()
        for n, _, _, lo, hi in spans.get(key, ()):
            hasher.update(lines[n][lo:hi])
        if "0x" + hasher.hexdigest() == digest:
            good.spans[key] = [(n, a, b) for n, a, b, _, _ in spans.get(key, ())]
        else:
            bad[key] = (f"shard {key}: its duplicate keys in the store are not those its "
                        "validation computed (rewritten?); rerun")
    return good, bad


def _runs(keys: pa.Array) -> list[int]:
    """Where each run of equal consecutive values starts, and the length at the end."""
    return [0, *(np.flatnonzero(pc.not_equal(keys[1:], keys[:-1]).to_numpy(
        zero_copy_only=False)) + 1).tolist(), len(keys)]


def _lines(hashes: pa.Array) -> tuple[memoryview, np.ndarray]:
    """text_hashes.text_keys_bytes of every row, as one buffer and the row offsets into it."""
    text = pa.large_string()
    lines = pc.binary_join_element_wise(pc.fill_null(hashes.cast(text), ""),
                                        pa.scalar("", text), pa.scalar("\n", text))
    offsets = np.frombuffer(lines.buffers()[1], np.int64)[lines.offset:][:len(lines) + 1]
    return memoryview(lines.buffers()[2] or b""), offsets


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
