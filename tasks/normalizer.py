"""The normalized stage's per-shard work, a plain function Dask workers run: a shard's rows as
Parquet under the declared schema, hashed in the canonical laas-table-v1 form as they are
written. A shard that cannot be normalized is set aside with a reason instead of raising."""

from __future__ import annotations

import secrets

import pyarrow as pa
import pyarrow.parquet as pq

from laas.anchors.adapters.files import redact, url_to_fs
from laas.anchors.core.canonical import to_hex
from laas.anchors.core.dropped_records import table_digest
from laas.anchors.core.hashing import TableHasher
from laas.anchors.core.models import ShardEntry, rows_digest
from laas.errors import ShardReadError
from laas.tasks.bad_records import RecordDrops
from laas.tasks.dataset_spec import DatasetSpec
from laas.tasks.read_errors import describe_error, encoding_hint
from laas.tasks.readers import iter_batches, read_schema
from laas.tasks.rows import FAILED_COLUMN, ROW_COLUMN
from laas.tasks.shard_licenses import LICENSE_COLUMN, column_licenses, shard_licenses
from laas.tasks.stage_files import Sha256Sink, remove, set_aside, unsafe_key, write_parquet

KEEP_BYTES = 256 << 20  # most canonical bytes of a shard's rows kept in memory for `keep`


def normalize(raw: ShardEntry, spec: DatasetSpec, out_dir: str, bad_status: str,
              dropped_dir: str | None = None, keep: dict | None = None) -> ShardEntry:
    """Normalized stage: the shard's rows as Parquet under the declared schema, hashed in the
    canonical laas-table-v1 form (codec-independent), streamed batch by batch. With
    `dropped_dir` (on_failure: drop_rows), records no reader can make a row of are left out,
    written there with why, and committed to (laas.tasks.bad_records). With `keep`, the rows
    written and hashed are also left there as a table by shard key (up to KEEP_BYTES of
    them; a bigger shard is not kept), for the validation to take without reading them back."""
    if raw.status != "ok":
        return raw.model_copy(update={"content_hash": None, "byte_size": 0})
    problem = "empty (0 bytes)" if raw.byte_size == 0 else unsafe_key(raw.key)
    if problem:
        return set_aside(raw, problem, bad_status)
    out = f"{out_dir}/{raw.key}.parquet"
    try:
        drops = RecordDrops() if dropped_dir is not None else None
        entry = _write_normalized(raw, spec, out, bad_status, drops, keep)
        return entry if not drops or entry.status != "ok" else \
            _with_drops(entry, raw, drops, spec, f"{dropped_dir}/{raw.key}.parquet", bad_status)
    except OSError as e:  # the store refused the file (name, permissions, space): this shard only
        return set_aside(raw, f"cannot be stored as {redact(out)} ({describe_error(e)}); rename "
                              "the object or fix the artifact store", bad_status)


def _write_normalized(raw: ShardEntry, spec: DatasetSpec, out: str, bad_status: str,
                      drops: RecordDrops | None, keep: dict | None = None) -> ShardEntry:
    fs, path = url_to_fs(out)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    tmp = f"{path}.{secrets.token_hex(6)}.tmp"  # renamed over `path`: never follows a link
    hasher = TableHasher(read_schema(spec))  # also the reader's record of rows handed on
    try:
        with fs.open(tmp, "wb") as f:
            sink = Sha256Sink(f)  # the file's sha256, from the bytes as they are written
            writer = None
            values: set[str | None] = set()  # its `license` column's values, if it has one
            kept: list | None = [] if keep is not None else None
            try:
                for batch in iter_batches(raw.uri, spec, expect=raw.content_hash, drops=drops,
                                          seen=hasher):
                    if writer is None:
                        writer = pq.ParquetWriter(sink, batch.schema, compression="zstd")
                    hasher.update(batch)
                    values |= column_licenses(batch)
                    writer.write_batch(batch)
                    if kept is not None:
                        kept.append(batch)
                        kept = kept if hasher.size <= KEEP_BYTES else None
            finally:
                if writer is not None:
                    writer.close()
        if hasher.rows == 0:
            raise ShardReadError(f"shard {redact(raw.uri)}: " + (
                f"no row is left: all {len(drops)} records cannot be read (first: "
                f"{drops.first()})" if drops else "empty (0 rows)"))
        fs.mv(tmp, path)
        if kept:
            keep[raw.key] = pa.Table.from_batches(kept)
    except ShardReadError as e:
        fs.rm(tmp)  # no half-written shard is left to be mistaken for a result
        return ShardEntry(key=raw.key, uri=raw.uri, source_uri=raw.source_uri,
                          status=bad_status, reason=str(e), **raw.attribution)
    return ShardEntry(key=raw.key, uri=out, source_uri=raw.source_uri, byte_size=hasher.size,
                      rows=hasher.rows, content_hash=to_hex(hasher.digest()),
                      sha256=sink.hexdigest(), licenses=shard_licenses(
                          raw, spec.license, values, LICENSE_COLUMN in hasher.schema.names),
                      **raw.attribution)


def _with_drops(entry: ShardEntry, raw: ShardEntry, drops: RecordDrops, spec: DatasetSpec,
                dropped_uri: str, bad_status: str) -> ShardEntry:
    """The normalized shard as derived from the raw one minus the records left out, which
    go to `dropped_uri` with why; or the shard set aside when too many were."""
    n, rows_in = len(drops), entry.rows + len(drops)
    what = f"{n} of {rows_in} records cannot be read (first: {drops.first()})"
    if n / rows_in > spec.max_dropped_rows:
        remove(entry.uri)  # no normalized file is left for a shard set aside
        hint = encoding_hint(spec.format_of(raw.uri)) if drops.reasons[0] == "not UTF-8" else ""
        return set_aside(raw, f"{what}: over max_dropped_rows "
                              f"{spec.max_dropped_rows:.0%}{hint}", bad_status)
    left_out = drops.table(ROW_COLUMN, FAILED_COLUMN)
    write_parquet(dropped_uri, left_out)
    return entry.model_copy(update={
        "parent_hash": raw.content_hash, "rows_in": rows_in, "reason": what,
        "dropped": {"unreadable": n}, "dropped_rows_hash": rows_digest(drops.numbers),
        "dropped_uri": dropped_uri, "dropped_records_hash": table_digest(left_out)})
