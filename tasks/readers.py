"""Reading shards, as plain functions Dask workers run: a source shard (JSONL, JSON, CSV and
its dialects, Parquet, compressed or not) as record batches under the declared schema, and a
normalized shard read back only once its hash is checked. Streamed in record batches, so memory
is bounded by the batch size, not the shard size; every problem is one line naming the shard."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq
from fsspec.utils import infer_compression

from laas.anchors.adapters.files import redact
from laas.anchors.core.hashing import HashingReader, TableHasher
from laas.errors import SchemaError, ShardReadError
from laas.tasks.bad_records import (
    JsonlLineFilter,
    RecordDrops,
    RowsToDrop,
    TooManyDrops,
    rows_after,
)
from laas.tasks.csv_header import BadTable
from laas.tasks.dataset_spec import TABLE_FORMATS, DatasetSpec
from laas.tasks.dialect import csv_batches
from laas.tasks.json_array import json_batches
from laas.tasks.jsonl_lines import non_finite
from laas.tasks.jsonl_nulls import LinesToJudge, NullLines
from laas.tasks.line_stream import BigRecord
from laas.tasks.read_errors import READ_ERRORS, columns_hint, describe_error, read_problem
from laas.tasks.short_rows import ShortRows
from laas.tasks.source_bytes import source_bytes, unchanged
from laas.tasks.text_reader import text_batches
from laas.tasks.transcode import as_utf8
from laas.tasks.zstd_frames import decompressed

ARROW_TYPES = {
    "string": pa.string(), "int64": pa.int64(), "float64": pa.float64(),
    "bool": pa.bool_(), "timestamp": pa.timestamp("us", tz="UTC"),
}
BLOCK_SIZE = 8 << 20  # bytes of text parsed per batch (JSONL, CSV)
HUGE_BLOCK = 256 << 20  # per batch once a record is longer than BLOCK_SIZE (as text documents)
PARQUET_BATCH = 65_536  # rows per batch read from Parquet
_READ_AGAIN = (ShortRows, RowsToDrop, BigRecord, TooManyDrops, LinesToJudge)  # fixed by a read


def arrow_schema(spec: DatasetSpec) -> pa.Schema:
    return pa.schema([pa.field(c.name, ARROW_TYPES[c.type], c.nullable) for c in spec.columns])


def _raw_batches(f: Any, fmt: str, schema: pa.Schema, spec: DatasetSpec,
                 read: _Read) -> Iterator[pa.RecordBatch]:
    if fmt == "jsonl":
        # a line that is no object (`null`) is left out, refused (`lines`), or kept from Arrow
        f = JsonlLineFilter(f, schema, spec.kinds, read.drops) \
            if read.drops is not None or read.lines else NullLines(f, refuse=read.droppable)
        # No reader thread: one left reading when a line is refused mid-stream (a `null`,
        # the read done again) aborted the process at exit, 'terminate called without an
        # active exception', in ~1 of 15 runs; as fast on 156 MB (0.42-0.45 s, 0.40-0.46)
        block = pajson.ReadOptions(block_size=read.block_size or BLOCK_SIZE, use_threads=False)
        yield from pajson.open_json(f, read_options=block, parse_options=pajson.ParseOptions(
                                        explicit_schema=schema,
                                        unexpected_field_behavior="ignore"))
    elif fmt in TABLE_FORMATS or fmt == "text":
        layout = spec.csv if fmt in TABLE_FORMATS else spec.text
        f, encoding = as_utf8(f, layout.encoding)
        layout = layout.model_copy(update={"encoding": encoding})
        if fmt == "text":
            yield from text_batches(f, schema.names[0], layout, read.block_size or BLOCK_SIZE,
                                    read.drops)
        else:
            yield from csv_batches(f, fmt, schema, layout, read.block_size or BLOCK_SIZE,
                                   read.pad, read.drops, read.droppable)
    elif fmt == "json":  # one array of objects: read whole (use JSONL for large shards)
        yield from json_batches(f, schema, spec.kinds, read.drops, read.droppable)
    else:
        pf = pq.ParquetFile(f)
        missing = [n for n in schema.names if n not in pf.schema_arrow.names]
        if missing:
            raise KeyError(", ".join(missing))
        yield from pf.iter_batches(batch_size=PARQUET_BATCH, columns=schema.names)


class _Read(NamedTuple):
    """How a shard is read: Arrow on its bytes as they are (`droppable`: a record Arrow
    refuses raises RowsToDrop), or again, fixing what the read before met: short CSV rows
    padded, unreadable records left out (`drops`), bigger blocks, JSONL line by line."""

    pad: bool = False
    drops: RecordDrops | None = None
    droppable: bool = False
    block_size: int | None = None  # None: BLOCK_SIZE
    lines: bool = False  # JSONL judged line by line (`null` may follow an object)


def read_schema(spec: DatasetSpec) -> pa.Schema:
    """The schema a source shard's batches come in: every column nullable, so an absent
    column can be named by laas, not by Arrow."""
    return pa.schema([f.with_nullable(True) for f in arrow_schema(spec)])


def iter_batches(uri: str, spec: DatasetSpec, expect: str | None = None,
                 drops: RecordDrops | None = None, seen: TableHasher | None = None
                 ) -> Iterator[pa.RecordBatch]:
    """A source shard as record batches under read_schema(spec); raises ShardReadError or
    SchemaError (one line, naming the shard) at the first problem. With `expect` (the raw
    stage's content hash) the bytes read must still be those: a shard replaced between stages
    is refused, so no checkpoint derives from bytes the raw one did not hash. With `drops`
    (on_failure: drop_rows) records no reader can make a row of are left out and noted there
    (laas.tasks.bad_records) instead. `seen`: the caller's hasher, into which it puts every
    batch before it asks for the next (else the rows handed on are hashed here)."""
    schema = read_schema(spec)
    name = redact(uri)
    # A read Arrow stops at (_READ_AGAIN) is done again, fixing that, and goes on after the
    # rows already handed on once its own first rows hash the same (the bytes' hash is
    # checked at a read's end): a shard swapped between the reads gets no row in.
    handed = seen if seen is not None else TableHasher(schema)
    read = _Read(droppable=drops is not None)
    if drops is not None:
        drops.limit = spec.max_dropped_rows
    for _ in range(len(_READ_AGAIN) + 1):  # each fix at most once
        rows, digest = handed.rows, handed.digest() if handed.rows else b""
        try:
            yield from rows_after(_checked_batches(uri, spec, expect, schema, name, read), rows,
                              digest, schema, name, None if seen is not None else handed)
            return
        except ShortRows as short:
            if spec.csv.short_rows == "error" or read.pad:
                raise _short_rows_error(name, short) from None
            read = read._replace(pad=True)
        except RowsToDrop:
            read = read._replace(drops=drops, droppable=False,
                                 pad=read.pad or spec.csv.short_rows == "pad")
        except TooManyDrops as too:
            drops.recount(too.records, name)  # over max_dropped_rows, or read again
        except LinesToJudge:
            read = read._replace(lines=True)
        except BigRecord:
            if read.block_size == HUGE_BLOCK:
                raise ShardReadError(f"shard {name}: a record longer than "
                                     f"{HUGE_BLOCK / (1 << 20):g} MB; split it") from None
            read = read._replace(block_size=HUGE_BLOCK)
        if drops is not None:
            drops.clear()  # the next read notes them again, from the start
    raise ShardReadError(f"shard {name}: cannot be read")  # not reached: each fix once


def _short_rows_error(name: str, short: ShortRows) -> ShardReadError:
    return ShardReadError(f"shard {name}: {short.describe()}; set `csv: {{short_rows: pad}}` "
                          "to read missing trailing fields as empty")


def _checked_batches(uri: str, spec: DatasetSpec, expect: str | None, schema: pa.Schema,
                     name: str, read: _Read) -> Iterator[pa.RecordBatch]:
    fmt = spec.format_of(uri)
    try:
        with source_bytes(uri, fmt, expect, name) as src:
            codec = infer_compression(uri)
            # A non-nullable column null in every row of the shard was absent from it, not
            # empty; in one batch alone it is not (JSONL records may add a field late).
            absent, rows = [c.name for c in spec.columns if not c.nullable], 0
            with (decompressed(src, codec) if codec else contextlib.nullcontext(src)) as f:
                for batch in _raw_batches(f, fmt, schema, spec, read):
                    rows += batch.num_rows
                    absent = [c for c in absent if batch.column(c).null_count == batch.num_rows]
                    yield _conform(batch, schema, spec, name, read, fmt == "jsonl")
            if isinstance(src, HashingReader):
                unchanged(name, expect, src.finish()[0])
            if absent and rows:
                raise SchemaError(f"shard {name}: missing column(s) {', '.join(absent)}")
    except KeyError as e:
        raise SchemaError(f"shard {name}: missing column(s) {e.args[0]}{columns_hint(fmt)}"
                          ) from None
    except BadTable as e:  # the table's own words: a timestamp, a header
        raise SchemaError(f"shard {name}: {e}") from None
    except READ_ERRORS as e:
        if "straddling object" in str(e):
            raise BigRecord from None  # a record longer than the block: read with bigger ones
        if read.droppable and (fmt == "jsonl" and isinstance(e, pa.ArrowInvalid | ValueError)
                               or fmt == "text" and isinstance(e, UnicodeDecodeError)):
            raise RowsToDrop from None  # a record no reader takes: the next read drops it
        raise read_problem(e, fmt, name, uri, spec, schema) from None
    except (ShardReadError, SchemaError, *_READ_AGAIN):
        raise
    except Exception as e:  # a store's own errors (botocore and the like)
        raise ShardReadError(f"shard {name}: unreadable ({describe_error(e)})") from None


def _conform(batch: pa.RecordBatch, schema: pa.Schema, spec: DatasetSpec,
             name: str, read: _Read, jsonl: bool) -> pa.RecordBatch:
    droppable = read.droppable and jsonl
    if jsonl and not read.lines and read.drops is None and non_finite(batch):
        raise RowsToDrop if droppable else LinesToJudge  # NaN: a line laas does not take
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
