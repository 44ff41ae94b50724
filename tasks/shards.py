"""Per-shard work, as plain functions that Dask workers run: discover, hash raw bytes, read and
normalize to Parquet, validate. No Prefect here; a bad shard returns an entry with a reason
instead of raising, so one corrupt file never costs the other shards' work. Shards are streamed
in record batches, so memory is bounded by the batch size, not the shard size."""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

import blake3
import numpy as np
import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq
from fsspec.compression import compr
from fsspec.utils import infer_compression

from laas.anchors.adapters.files import join, open_uri, redact, url_to_fs
from laas.anchors.core.canonical import keccak256, to_hex
from laas.anchors.core.hashing import HashingReader, TableHasher, hash_stream, rehash_parquet
from laas.anchors.core.models import ShardEntry
from laas.errors import SchemaError, ShardReadError
from laas.tasks.dataset_spec import TABLE_FORMATS, CsvDialect, DatasetSpec
from laas.tasks.dialect import open_batches

ARROW_TYPES = {
    "string": pa.string(), "int64": pa.int64(), "float64": pa.float64(),
    "bool": pa.bool_(), "timestamp": pa.timestamp("us", tz="UTC"),
}
BLOCK_SIZE = 8 << 20  # bytes of text parsed per batch (JSONL, CSV)
PARQUET_BATCH = 65_536  # rows per batch read from Parquet
VALIDATE_BATCH = 50_000  # rows per Great Expectations validation: bounds its memory
SPOOL_BYTES = 256 << 20  # a Parquet source copied for hashing stays in memory up to this
MAX_NAME_BYTES = 240  # a file name component, with room for ".parquet" under most filesystems
_READ_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OSError,
                EOFError, zlib.error, json.JSONDecodeError, UnicodeDecodeError)


def arrow_schema(spec: DatasetSpec) -> pa.Schema:
    return pa.schema([pa.field(c.name, ARROW_TYPES[c.type], c.nullable) for c in spec.columns])


def _glob_base(pattern: str) -> str:
    parts = pattern.split("/")
    for i, p in enumerate(parts):
        if any(ch in p for ch in "*?["):
            return "/".join(parts[:i])
    return "/".join(parts[:-1])


def discover(spec: DatasetSpec) -> list[tuple[str, str]]:
    """(key, uri) of every source shard, sorted; the key is the path below the glob's base."""
    fs, pattern = url_to_fs(spec.source_uri)
    base = _glob_base(pattern)
    paths = sorted(p for p in fs.glob(pattern) if fs.isfile(p))
    return [(str(PurePosixPath(p).relative_to(base)) if base else p, join(fs, p)) for p in paths]


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    msg = text.splitlines()[0] if text else type(exc).__name__
    if isinstance(exc, PermissionError):
        msg = f"access denied ({msg}); check the storage credentials"
    return redact(f"{type(exc).__name__}: {msg}")[:300]


def hash_raw(key: str, uri: str, bad_status: str = "failed", *,
             expect_table: str | None = None) -> ShardEntry:
    """Raw stage: the bytes as they landed. With `expect_table` (a derived dataset's source:
    a parent's shard the gate proved) the same bytes must also hash, as a table, to what the
    gate proved, or the shard is set aside: a file swapped after the gate never enters."""
    try:
        with open_uri(uri) as f:
            if expect_table is None:
                digest, size = hash_stream(f)
            else:
                data = pa.py_buffer(f.read())
                digest, size = hash_stream(pa.BufferReader(data))
                if to_hex(rehash_parquet(pa.BufferReader(data))[0]) != expect_table:
                    return ShardEntry(key=key, uri=uri, source_uri=uri, status=bad_status,
                                      reason=f"shard {redact(uri)}: changed since the gate "
                                             "proved its parent's shard; rerun")
    except Exception as e:  # any store's any error: recorded on the shard, never fatal to the run
        return ShardEntry(key=key, uri=uri, source_uri=uri, status=bad_status,
                          reason=f"shard {redact(uri)} unreadable: {_describe(e)}")
    return ShardEntry(key=key, uri=uri, source_uri=uri, byte_size=size, content_hash=to_hex(digest))


def hash_parent_shard(key: str, uri: str, expect_table: str,
                      bad_status: str = "failed") -> ShardEntry:
    """hash_raw of a derived dataset's source, which must still be what the gate proved."""
    return hash_raw(key, uri, bad_status, expect_table=expect_table)


def _raw_batches(f: object, fmt: str, schema: pa.Schema, dialect: CsvDialect
                 ) -> Iterator[pa.RecordBatch]:
    if fmt == "jsonl":
        yield from pajson.open_json(f, read_options=pajson.ReadOptions(block_size=BLOCK_SIZE),
                                    parse_options=pajson.ParseOptions(
                                        explicit_schema=schema,
                                        unexpected_field_behavior="ignore"))
    elif fmt in TABLE_FORMATS:
        yield from open_batches(f, fmt, schema, dialect, BLOCK_SIZE)
    elif fmt == "json":  # one array of objects: read whole (use JSONL for large shards)
        rows = json.load(f)
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ValueError("expected a JSON array of objects")
        yield from pa.Table.from_pylist(
            [{k: r.get(k) for k in schema.names} for r in rows], schema=schema).to_batches()
    else:
        pf = pq.ParquetFile(f)
        missing = [n for n in schema.names if n not in pf.schema_arrow.names]
        if missing:
            raise KeyError(", ".join(missing))
        yield from pf.iter_batches(batch_size=PARQUET_BATCH, columns=schema.names)


def iter_batches(uri: str, spec: DatasetSpec, expect: str | None = None
                 ) -> Iterator[pa.RecordBatch]:
    """A source shard as record batches under the declared schema; raises ShardReadError or
    SchemaError (one line, naming the shard) at the first problem. With `expect` (the raw
    stage's content hash) the bytes read must still be those: a shard replaced between stages
    is refused, so no checkpoint derives from bytes the raw one did not hash."""
    # Parse with every column nullable so an absent column can be named below, not by Arrow.
    schema = pa.schema([f.with_nullable(True) for f in arrow_schema(spec)])
    fmt = spec.format_of(uri)
    name = redact(uri)
    try:
        with _source(uri, fmt, expect, name) as src:
            codec = infer_compression(uri)
            with (compr[codec](src, mode="rb") if codec else contextlib.nullcontext(src)) as f:
                for batch in _raw_batches(f, fmt, schema, spec.csv):
                    yield _conform(batch, schema, spec, name)
            if isinstance(src, HashingReader):
                _unchanged(name, expect, src.finish()[0])
    except KeyError as e:
        raise SchemaError(f"shard {name}: missing column(s) {e.args[0]}") from None
    except _READ_ERRORS as e:
        text = _describe(e)
        if "include_columns" in text or "does not exist" in text:
            raise SchemaError(f"shard {name}: missing column ({text})") from None
        if "invalid UTF8" in text or isinstance(e, UnicodeDecodeError):
            raise ShardReadError(f"shard {name}: not well-formed UTF-8 ({text})") from None
        raise ShardReadError(f"shard {name}: not valid {fmt} ({text})") from None
    except (ShardReadError, SchemaError):
        raise
    except Exception as e:  # a store's own errors (botocore and the like)
        raise ShardReadError(f"shard {name}: unreadable ({_describe(e)})") from None


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
             name: str) -> pa.RecordBatch:
    if batch.num_rows:
        # A non-nullable column null in every row was absent from the file, not empty.
        absent = [c.name for c in spec.columns
                  if not c.nullable and batch.column(c.name).null_count == batch.num_rows]
        if absent:
            raise SchemaError(f"shard {name}: missing column(s) {', '.join(absent)}")
    try:
        batch.validate(full=True)  # the JSON reader passes invalid UTF-8 through; catch it here
    except pa.ArrowInvalid as e:
        raise ShardReadError(f"shard {name}: not well-formed UTF-8 ({_describe(e)})") from None
    try:
        return batch.select(schema.names).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
        raise SchemaError(f"shard {name}: does not match the declared schema "
                          f"({_describe(e)})") from None


def read_table(uri: str, spec: DatasetSpec) -> pa.Table:
    """A whole source shard under the declared schema (small shards and tests)."""
    batches = list(iter_batches(uri, spec))
    table = pa.Table.from_batches(batches, schema=batches[0].schema) if batches else None
    if table is None or table.num_rows == 0:
        raise ShardReadError(f"shard {redact(uri)}: empty (0 rows)")
    return table


def unsafe_key(key: str) -> str | None:
    """Why a shard key must not become a path under the stage folder, if it must not: object
    stores accept keys such as `../../etc/passwd`, and the key names the normalized file."""
    parts = PurePosixPath(key).parts
    if not parts or key.startswith("/") or ".." in parts or "\\" in key:
        return f"unsafe shard name {key!r} (absolute, or climbs with ..); rename the object"
    return None


def name_clashes(entries: list[ShardEntry] | tuple[ShardEntry, ...]) -> dict[str, str]:
    """Shards whose normalized file (`KEY.parquet`) cannot exist beside the others': a name
    that is another shard's folder (`d.jsonl` beside `d.jsonl.parquet/x`), or a component too
    long for a file system. Decided over the whole stage, so a rerun sets aside the same ones
    whatever order the workers run in."""
    outs = {e.key: f"{e.key}.parquet" for e in entries if e.status == "ok"}
    folders = {"/".join(parts[:i]) for out in outs.values()
               for parts in [out.split("/")] for i in range(1, len(parts))}
    clashes = {}
    for key, out in outs.items():
        if any(len(part.encode()) > MAX_NAME_BYTES for part in out.split("/")):
            clashes[key] = (f"its name has a part over {MAX_NAME_BYTES} bytes, too long for a "
                            "file name; rename the object")
        elif out in folders:
            clashes[key] = (f"its normalized file {out} would be the folder of another "
                            "shard's; rename one of them")
    return clashes


def set_aside(entry: ShardEntry, reason: str, bad_status: str) -> ShardEntry:
    return entry.model_copy(update={"content_hash": None, "byte_size": 0, "status": bad_status,
                                    "reason": f"shard {redact(entry.uri)}: {reason}"})


def normalize(raw: ShardEntry, spec: DatasetSpec, out_dir: str, bad_status: str) -> ShardEntry:
    """Normalized stage: the shard's rows as Parquet under the declared schema, hashed in the
    canonical laas-table-v1 form (codec-independent), streamed batch by batch."""
    if raw.status != "ok":
        return raw.model_copy(update={"content_hash": None, "byte_size": 0})
    problem = "empty (0 bytes)" if raw.byte_size == 0 else unsafe_key(raw.key)
    if problem:
        return set_aside(raw, problem, bad_status)
    out = f"{out_dir}/{raw.key}.parquet"
    try:
        return _write_normalized(raw, spec, out, bad_status)
    except OSError as e:  # the store refused the file (name, permissions, space): this shard only
        return set_aside(raw, f"cannot be stored as {redact(out)} ({_describe(e)}); rename "
                              "the object or fix the artifact store", bad_status)


def _write_normalized(raw: ShardEntry, spec: DatasetSpec, out: str,
                      bad_status: str) -> ShardEntry:
    fs, path = url_to_fs(out)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    tmp = f"{path}.{secrets.token_hex(6)}.tmp"  # renamed over `path`: never follows a link
    hasher: TableHasher | None = None
    try:
        with fs.open(tmp, "wb") as f:
            writer = None
            try:
                for batch in iter_batches(raw.uri, spec, expect=raw.content_hash):
                    if writer is None:
                        hasher = TableHasher(batch.schema)
                        writer = pq.ParquetWriter(f, batch.schema, compression="zstd")
                    hasher.update(batch)
                    writer.write_batch(batch)
            finally:
                if writer is not None:
                    writer.close()
        if hasher is None or hasher.rows == 0:
            raise ShardReadError(f"shard {redact(raw.uri)}: empty (0 rows)")
        fs.mv(tmp, path)
    except ShardReadError as e:
        fs.rm(tmp)  # no half-written shard is left to be mistaken for a result
        return ShardEntry(key=raw.key, uri=raw.uri, source_uri=raw.source_uri,
                          status=bad_status, reason=str(e))
    return ShardEntry(key=raw.key, uri=out, source_uri=raw.source_uri, byte_size=hasher.size,
                      rows=hasher.rows, content_hash=to_hex(hasher.digest()))


def validate(entry: ShardEntry, spec: DatasetSpec, bad_status: str, docs_dir: str) -> ShardEntry:
    """Validated stage for one shard: run the suite on the normalized shard in batches of
    rows, and write its Data Docs page(s)."""
    return validate_batch([entry], spec, bad_status, docs_dir)[0]


def remove(uri: str) -> None:
    """Whatever is at uri, gone; a planted link is removed, not followed."""
    import os

    fs, path = url_to_fs(uri)
    if fs.protocol in ("file", ("file", "local")) and os.path.islink(path):
        os.unlink(path)
    elif fs.exists(path):
        fs.rm(path, recursive=True)


def fresh_dir(uri: str) -> str:
    """An empty folder at uri (what an interrupted attempt, or anyone with write access to the
    store, left there is removed)."""
    remove(uri)
    fs, path = url_to_fs(uri)
    fs.makedirs(path, exist_ok=True)
    return uri


class _HashSink:
    """The text hashes of a batch's rows, by shard key, to one Parquet file for the
    dataset-wide duplicate checks (so it reads one file per batch and hashes nothing again).
    The file lies in the store, where anyone may rewrite it, so each shard's entry commits to
    the digest of its own hashes (`text_keys_hash`) and the flow checks the file against it."""

    def __init__(self, hashes_dir: str | None, keys: list[str], columns: tuple[str, ...]):
        self.columns = columns
        self.writer = self.file = None
        self.digests: dict[str, Any] = {}
        if hashes_dir and columns:
            name = keccak256("\n".join(keys).encode()).hex()[:16]
            self.fs, self.path = url_to_fs(f"{hashes_dir}/batch-{name}.parquet")
            self.tmp = f"{self.path}.{secrets.token_hex(6)}.tmp"  # renamed: never via a link
            self.file = self.fs.open(self.tmp, "wb")
            self.writer = pq.ParquetWriter(self.file, pa.schema([("key", pa.string()),
                                                                 ("h", pa.string())]))

    def add(self, keys: list[str], lengths: list[int], table: pa.Table) -> None:
        """The text-hash column of `table` (the shards' rows, `lengths` each, in order), as
        the validation computed it."""
        if self.writer is None:
            return
        from laas.validators.text import TEXT_HASH_COLUMN

        hashes = table.column(TEXT_HASH_COLUMN)
        self.writer.write_table(pa.table({"key": pa.array(keys).take(
            pa.array(np.repeat(np.arange(len(keys)), lengths))), "h": hashes}))
        start = 0
        for key, n in zip(keys, lengths, strict=True):
            part = hashes.slice(start, n).to_pylist()
            start += n
            self.digests.setdefault(key, blake3.blake3()).update(text_keys_bytes(part))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.file.close()
            self.fs.mv(self.tmp, self.path)

    def digest(self, key: str) -> str | None:
        d = self.digests.get(key)
        return None if d is None else "0x" + d.hexdigest()


def text_keys_bytes(hashes: list[str | None]) -> bytes:
    """What a shard's text-key digest covers: its rows' keys, in row order, one per line."""
    return "".join(f"{h or ''}\n" for h in hashes).encode()


def validate_batch(entries: list[ShardEntry], spec: DatasetSpec, bad_status: str,
                   docs_dir: str, hashes_dir: str | None = None,
                   judge: bool = True) -> list[ShardEntry]:
    """Validated stage for a batch of shards: a big shard is validated alone, VALIDATE_BATCH
    rows at a time, its uniqueness over the whole shard; small ones together, up to
    VALIDATE_BATCH rows per pass (a Great Expectations run costs ~0.15 s fixed). Each shard
    gets its own result; one that fails an `error` expectation keeps its results and gets
    bad_status. With hashes_dir, the rows' text hashes go there for the dataset-wide duplicate
    check. Batches stay Arrow tables: no pandas unless GX's engine runs something."""
    from laas.validators.gx_suite import validate_batches, validate_tables  # GX only here

    out: dict[int, ShardEntry] = {}
    pool: list[tuple[int, ShardEntry, pa.Table]] = []
    pooled_rows = 0
    sink = _HashSink(hashes_dir, [e.key for e in entries], spec.suite.text_hash_of)

    def flush() -> None:
        nonlocal pooled_rows
        keys, lengths = [e.key for _, e, _ in pool], [t.num_rows for _, _, t in pool]
        # One Arrow concat, one text-hash pass for the whole pool.
        pages: list[str] = []
        results, hashed = validate_tables(keys, lengths, pa.concat_tables(
            [t for _, _, t in pool]), spec.suite, docs=pages)
        sink.add(keys, lengths, hashed)
        docs_uri = _write_docs(docs_dir, keys, pages)
        for (n, e, _), result in zip(pool, results, strict=True):
            out[n] = _validated(e, result, docs_uri, bad_status, judge)
        pool.clear()
        pooled_rows = 0

    for n, e in enumerate(entries):
        if e.status != "ok":
            out[n] = e
            continue
        try:
            data = verified_bytes(e)
        except ShardReadError as problem:
            out[n] = e.model_copy(update={"status": bad_status, "reason": str(problem)})
            continue
        if (e.rows or 0) >= VALIDATE_BATCH:
            pages: list[str] = []
            batches = pq.ParquetFile(pa.BufferReader(data)).iter_batches(
                batch_size=VALIDATE_BATCH)
            result = validate_batches(
                e.key, batches, spec.suite, docs=pages,
                on_table=lambda t, key=e.key: sink.add([key], [t.num_rows], t))
            out[n] = _validated(e, result, _write_docs(docs_dir, [e.key], pages), bad_status,
                                judge)
        else:
            table = pq.read_table(pa.BufferReader(data))
            pool.append((n, e, table))
            pooled_rows += table.num_rows
            if pooled_rows >= VALIDATE_BATCH:
                flush()
    if pool:
        flush()
    sink.close()
    return [out[n].model_copy(update={"text_keys_hash": sink.digest(out[n].key)})
            if out[n].validation is not None and sink.digest(out[n].key) else out[n]
            for n in range(len(entries))]


def verified_bytes(entry: ShardEntry) -> pa.Buffer:
    """A normalized shard's Parquet bytes, read once and re-hashed: they are validated only if
    they are still the table the normalized stage hashed (a file swapped in the store between
    the stages would otherwise be validated in place of the committed one)."""
    name = redact(entry.uri)
    try:
        with open_uri(entry.uri) as f:
            data = pa.py_buffer(f.read())
        digest, size, rows = rehash_parquet(pa.BufferReader(data))
    except _READ_ERRORS as e:
        raise ShardReadError(f"shard {name}: normalized file unreadable ({_describe(e)})") \
            from None
    if (to_hex(digest), size, rows) != (entry.content_hash, entry.byte_size, entry.rows):
        raise ShardReadError(f"shard {name}: changed since the normalized stage hashed it "
                             f"({(entry.content_hash or '-')[:18]}…); rerun to normalize again")
    return data


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


def _validated(entry: ShardEntry, result: Any, docs_uri: str, bad_status: str,
               judge: bool = True) -> ShardEntry:
    """The shard with its results; judged (set aside if it failed) unless its rows are to be
    filtered first (drop_rows decides per row, later)."""
    update = {"validation": result.model_dump(mode="json"), "docs_uri": docs_uri}
    if judge and not result.success:
        update |= {"status": bad_status, "reason": f"failed expectations: {result.summary()}"}
    return entry.model_copy(update=update)
