"""Reading shards, as plain functions Dask workers run: a source shard (JSONL, JSON, CSV and
its dialects, Parquet, compressed or not) as record batches under the declared schema, and a
normalized shard read back only once its hash is checked. Streamed in record batches, so memory
is bounded by the batch size, not the shard size; every problem is one line naming the shard."""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq
from fsspec.compression import compr
from fsspec.utils import infer_compression

from laas.anchors.adapters.files import open_uri, redact
from laas.anchors.core.canonical import to_hex
from laas.anchors.core.hashing import HashingReader, TableHasher
from laas.anchors.core.models import ShardEntry
from laas.errors import SchemaError, ShardReadError
from laas.tasks.bad_records import JsonlLineFilter, RecordDrops, RowsToDrop
from laas.tasks.csv_header import BadTable
from laas.tasks.dataset_spec import TABLE_FORMATS, DatasetSpec
from laas.tasks.dialect import csv_batches
from laas.tasks.read_errors import READ_ERRORS, columns_hint, describe_error, read_problem
from laas.tasks.short_rows import ShortRows
from laas.tasks.text_reader import text_batches
from laas.tasks.timestamps import as_text, parsed
from laas.tasks.transcode import as_utf8

ARROW_TYPES = {
    "string": pa.string(), "int64": pa.int64(), "float64": pa.float64(),
    "bool": pa.bool_(), "timestamp": pa.timestamp("us", tz="UTC"),
}
BLOCK_SIZE = 8 << 20  # bytes of text parsed per batch (JSONL, CSV)
PARQUET_BATCH = 65_536  # rows per batch read from Parquet
SPOOL_BYTES = 256 << 20  # a Parquet source copied for hashing stays in memory up to this


def arrow_schema(spec: DatasetSpec) -> pa.Schema:
    return pa.schema([pa.field(c.name, ARROW_TYPES[c.type], c.nullable) for c in spec.columns])


def _raw_batches(f: Any, fmt: str, schema: pa.Schema, spec: DatasetSpec,
                 read: _Read) -> Iterator[pa.RecordBatch]:
    if fmt == "jsonl":
        if read.drops is not None:
            f = JsonlLineFilter(f, schema, spec.kinds, read.drops)
        yield from pajson.open_json(f, read_options=pajson.ReadOptions(block_size=BLOCK_SIZE),
                                    parse_options=pajson.ParseOptions(
                                        explicit_schema=schema,
                                        unexpected_field_behavior="ignore"))
    elif fmt in TABLE_FORMATS or fmt == "text":
        layout = spec.csv if fmt in TABLE_FORMATS else spec.text
        f, encoding = as_utf8(f, layout.encoding)
        layout = layout.model_copy(update={"encoding": encoding})
        if fmt == "text":
            yield from text_batches(f, schema.names[0], layout, BLOCK_SIZE)
        else:
            yield from csv_batches(f, fmt, schema, layout, BLOCK_SIZE, read.pad, read.drops,
                                   read.droppable)
    elif fmt == "json":  # one array of objects: read whole (use JSONL for large shards)
        rows = json.load(f)
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise BadTable("not valid json: not an array of objects; one per line: format jsonl")
        table = pa.Table.from_pylist([{k: r.get(k) for k in schema.names} for r in rows],
                                     schema=as_text(schema))  # timestamps as JSONL reads them
        yield from (parsed(b, schema) for b in table.to_batches())
    else:
        pf = pq.ParquetFile(f)
        missing = [n for n in schema.names if n not in pf.schema_arrow.names]
        if missing:
            raise KeyError(", ".join(missing))
        yield from pf.iter_batches(batch_size=PARQUET_BATCH, columns=schema.names)


class _Read(NamedTuple):
    """How a shard is read: Arrow on its bytes as they are (`droppable`: a record Arrow
    refuses raises RowsToDrop), or again, fixing what Arrow met: short CSV rows padded, and
    records no reader can take left out and noted in `drops`."""

    pad: bool = False
    drops: RecordDrops | None = None
    droppable: bool = False


def iter_batches(uri: str, spec: DatasetSpec, expect: str | None = None,
                 drops: RecordDrops | None = None) -> Iterator[pa.RecordBatch]:
    """A source shard as record batches under the declared schema; raises ShardReadError or
    SchemaError (one line, naming the shard) at the first problem. With `expect` (the raw
    stage's content hash) the bytes read must still be those: a shard replaced between stages
    is refused, so no checkpoint derives from bytes the raw one did not hash. With `drops`
    (on_failure: drop_rows) records no reader can make a row of are left out and noted there
    (laas.tasks.bad_records) instead."""
    # Parse with every column nullable so an absent column can be named below, not by Arrow.
    schema = pa.schema([f.with_nullable(True) for f in arrow_schema(spec)])
    name = redact(uri)
    # Rows handed on by a read that Arrow then stops at (the bytes' hash only checked at
    # the end of a read), hashed: the second read, fixing what Arrow met, goes on after them
    # once its own first rows hash the same, so a shard swapped between the reads is refused.
    first = TableHasher(schema)
    try:
        for batch in _checked_batches(uri, spec, expect, schema, name,
                                      _Read(droppable=drops is not None)):
            first.update(batch)
            yield batch
        return
    except ShortRows as short:
        if spec.csv.short_rows == "error":
            raise _short_rows_error(name, short) from None
    except RowsToDrop:
        pass
    again, left = TableHasher(schema), first.rows
    fixing = _Read(pad=spec.csv.short_rows == "pad", drops=drops)
    try:
        for batch in _checked_batches(uri, spec, expect, schema, name, fixing):
            skip = min(left, batch.num_rows)
            if skip:
                again.update(batch.slice(0, skip))
                left -= skip
                if not left and again.digest() != first.digest():
                    raise ShardReadError(f"shard {name}: changed while read; rerun to ingest "
                                         "it") from None
            if skip < batch.num_rows:
                yield batch.slice(skip)
    except ShortRows as short:  # a long row left out, then a short one: error asked for
        raise _short_rows_error(name, short) from None


def _short_rows_error(name: str, short: ShortRows) -> ShardReadError:
    return ShardReadError(f"shard {name}: {short.describe()}; set `csv: {{short_rows: pad}}` "
                          "to read missing trailing fields as empty")


def _checked_batches(uri: str, spec: DatasetSpec, expect: str | None, schema: pa.Schema,
                     name: str, read: _Read) -> Iterator[pa.RecordBatch]:
    fmt = spec.format_of(uri)
    try:
        with _source(uri, fmt, expect, name) as src:
            codec = infer_compression(uri)
            with (compr[codec](src, mode="rb") if codec else contextlib.nullcontext(src)) as f:
                for batch in _raw_batches(f, fmt, schema, spec, read):
                    yield _conform(batch, schema, spec, name, read.droppable and fmt == "jsonl")
            if isinstance(src, HashingReader):
                _unchanged(name, expect, src.finish()[0])
    except KeyError as e:
        raise SchemaError(f"shard {name}: missing column(s) {e.args[0]}{columns_hint(fmt)}"
                          ) from None
    except BadTable as e:  # the table's own words: a timestamp, a header
        raise SchemaError(f"shard {name}: {e}") from None
    except READ_ERRORS as e:
        if read.droppable and fmt == "jsonl" and isinstance(e, pa.ArrowInvalid | ValueError):
            raise RowsToDrop from None  # a line Arrow refused: the filtered read drops it
        raise read_problem(e, fmt, name, uri, spec, schema) from None
    except (ShardReadError, SchemaError, ShortRows, RowsToDrop):
        raise
    except Exception as e:  # a store's own errors (botocore and the like)
        raise ShardReadError(f"shard {name}: unreadable ({describe_error(e)})") from None


@contextlib.contextmanager
def _source(uri: str, fmt: str, expect: str | None, name: str) -> Iterator[Any]:
    """The shard's bytes to parse. With `expect` they are hashed as they are parsed (a stream),
    or, for Parquet (read at random), copied to a local spool while hashed and parsed from that
    copy: either way the rows come from the very bytes that were hashed."""
    with open_uri(uri) as raw:
        if expect is None:
            yield raw
        elif fmt != "parquet":
            yield HashingReader(raw)
        else:
            with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
                reader = HashingReader(raw)
                shutil.copyfileobj(reader, spool, 1 << 20)
                _unchanged(name, expect, reader.finish()[0])
                spool.seek(0)
                yield spool


def _unchanged(name: str, expect: str, digest: bytes) -> None:
    if to_hex(digest) != expect:
        raise ShardReadError(f"shard {name}: changed since the raw stage hashed it "
                             f"({expect[:18]}…); rerun to ingest the new bytes")


def _conform(batch: pa.RecordBatch, schema: pa.Schema, spec: DatasetSpec,
             name: str, droppable: bool = False) -> pa.RecordBatch:
    if batch.num_rows:
        # A non-nullable column null in every row was absent from the file, not empty.
        absent = [c.name for c in spec.columns
                  if not c.nullable and batch.column(c.name).null_count == batch.num_rows]
        if absent:
            raise SchemaError(f"shard {name}: missing column(s) {', '.join(absent)}")
    try:
        batch.validate(full=True)  # the JSON reader passes invalid UTF-8 through; catch it here
    except pa.ArrowInvalid as e:
        if droppable:
            raise RowsToDrop from None  # a line of bad UTF-8: the filtered read drops it
        raise ShardReadError(f"shard {name}: not well-formed UTF-8 ({describe_error(e)})") from None
    try:
        return batch.select(schema.names).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
        raise SchemaError(f"shard {name}: does not match the declared schema "
                          f"({describe_error(e)})") from None


def read_table(uri: str, spec: DatasetSpec) -> pa.Table:
    """A whole source shard under the declared schema (small shards and tests)."""
    batches = list(iter_batches(uri, spec))
    table = pa.Table.from_batches(batches, schema=batches[0].schema) if batches else None
    if table is None or table.num_rows == 0:
        raise ShardReadError(f"shard {redact(uri)}: empty (0 rows)")
    return table

def verified_batches(entry: ShardEntry, batch_size: int = PARQUET_BATCH
                     ) -> Iterator[pa.RecordBatch]:
    """A normalized shard's rows, read once: each batch is hashed as it is decoded and, after
    the last, the table must still be the one the normalized stage hashed, or ShardReadError
    (a file swapped in the store between the stages would otherwise be validated in place of
    the committed one; the caller discards what it made of the batches). One decode serves
    both the hash and the validation."""
    name = redact(entry.uri)
    try:
        with open_uri(entry.uri) as f:
            data = pa.py_buffer(f.read())
        pf = pq.ParquetFile(pa.BufferReader(data))
        hasher = TableHasher(pf.schema_arrow)
        for batch in pf.iter_batches(batch_size=batch_size):
            hasher.update(batch)
            yield batch
    except READ_ERRORS as e:
        raise ShardReadError(f"shard {name}: normalized file unreadable ({describe_error(e)})") \
            from None
    found = (to_hex(hasher.digest()), hasher.size, hasher.rows)
    if found != (entry.content_hash, entry.byte_size, entry.rows):
        raise ShardReadError(f"shard {name}: changed since the normalized stage hashed it "
                             f"({(entry.content_hash or '-')[:18]}…); rerun to normalize again")


def verified_table(entry: ShardEntry) -> pa.Table:
    """verified_batches, whole: the table is returned only once its hash is checked."""
    batches = list(verified_batches(entry))
    if not batches:  # the normalized stage never keeps an empty shard
        raise ShardReadError(f"shard {redact(entry.uri)}: normalized file has no rows")
    return pa.Table.from_batches(batches)
