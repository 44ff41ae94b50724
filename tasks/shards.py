"""Per-shard work, as plain functions that Dask workers run: discover, hash raw bytes, read and
normalize to Parquet, validate. No Prefect here; a bad shard returns an entry with a reason
instead of raising, so one corrupt file never costs the other shards' work."""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import PurePosixPath

import fsspec
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from laas.anchors.canonical import to_hex
from laas.anchors.hashing import TableHasher, hash_stream
from laas.anchors.models import ShardEntry
from laas.errors import SchemaError, ShardReadError
from laas.validators.spec import DatasetSpec

ARROW_TYPES = {
    "string": pa.string(), "int64": pa.int64(), "float64": pa.float64(),
    "bool": pa.bool_(), "timestamp": pa.timestamp("us", tz="UTC"),
}


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
    source = spec.source_uri
    fs, pattern = fsspec.core.url_to_fs(source)
    base = _glob_base(pattern)
    paths = sorted(p for p in fs.glob(pattern) if fs.isfile(p))
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    prefix = "" if protocol in ("file", "local") else f"{protocol}://"
    return [(str(PurePosixPath(p).relative_to(base)) if base else p, prefix + p) for p in paths]


def _describe(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"{type(exc).__name__}: {msg}"[:300]


def hash_raw(key: str, uri: str, bad_status: str = "failed") -> ShardEntry:
    """Raw stage: the bytes as they landed."""
    try:
        with fsspec.open(uri, "rb") as f:
            digest, size = hash_stream(f)
    except (OSError, ValueError) as e:
        return ShardEntry(key=key, uri=uri, source_uri=uri, status=bad_status,
                          reason=f"unreadable: {_describe(e)}")
    return ShardEntry(key=key, uri=uri, source_uri=uri, byte_size=size, content_hash=to_hex(digest))


def read_table(uri: str, spec: DatasetSpec) -> pa.Table:
    """Read one source shard under the declared schema, or raise ShardReadError/SchemaError."""
    # Parse with every column nullable so an absent column can be named below, not by Arrow.
    schema = pa.schema([f.with_nullable(True) for f in arrow_schema(spec)])
    fmt = spec.format_of(uri)
    try:
        with fsspec.open(uri, "rb", compression="infer") as f:
            if fmt == "jsonl":
                table = pajson.read_json(f, parse_options=pajson.ParseOptions(
                    explicit_schema=schema, unexpected_field_behavior="ignore"))
            elif fmt == "csv":
                table = pacsv.read_csv(f, convert_options=pacsv.ConvertOptions(
                    column_types=schema, include_columns=schema.names))
            else:
                table = pq.read_table(f)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, EOFError, zlib.error,
            gzip.BadGzipFile, json.JSONDecodeError, UnicodeDecodeError) as e:
        text = _describe(e)
        if "include_columns" in text or "does not exist" in text:
            raise SchemaError(f"shard {uri}: missing column ({text})") from None
        raise ShardReadError(f"shard {uri}: {text}") from None
    missing = [n for n in schema.names if n not in table.column_names]
    if missing:
        raise SchemaError(f"shard {uri}: missing column(s) {', '.join(missing)}")
    table = table.select(schema.names)
    # A non-nullable column that is null in every row was absent from the file, not empty.
    if table.num_rows:
        absent = [c.name for c in spec.columns
                  if not c.nullable and table.column(c.name).null_count == table.num_rows]
        if absent:
            raise SchemaError(f"shard {uri}: missing column(s) {', '.join(absent)}")
    try:
        table = table.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise SchemaError(f"shard {uri}: does not match the declared schema ({_describe(e)})") \
            from None
    if table.num_rows == 0:
        raise ShardReadError(f"shard {uri}: empty (0 rows)")
    return table


def normalize(raw: ShardEntry, spec: DatasetSpec, out_dir: str, bad_status: str) -> ShardEntry:
    """Normalized stage: the shard's rows as Parquet under the declared schema, hashed in the
    canonical laas-table-v1 form (codec-independent)."""
    if raw.status != "ok":
        return raw.model_copy(update={"content_hash": None, "byte_size": 0})
    try:
        table = read_table(raw.uri, spec)
    except ShardReadError as e:
        return ShardEntry(key=raw.key, uri=raw.uri, source_uri=raw.source_uri,
                          status=bad_status, reason=str(e))
    hasher = TableHasher(table.schema)
    hasher.update(table)
    out = f"{out_dir}/{raw.key}.parquet"
    fs, path = fsspec.core.url_to_fs(out)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(path, "wb") as f:
        pq.write_table(table, f, compression="zstd")
    return ShardEntry(key=raw.key, uri=out, source_uri=raw.source_uri, byte_size=hasher.size,
                      rows=table.num_rows, content_hash=to_hex(hasher.digest()))


def validate(entry: ShardEntry, spec: DatasetSpec, bad_status: str) -> ShardEntry:
    """Validated stage: run the suite on the normalized shard; a shard that fails an `error`
    expectation keeps its results and gets bad_status."""
    if entry.status != "ok":
        return entry
    from laas.validators.gx_suite import validate_frame  # GX only on workers that validate

    with fsspec.open(entry.uri, "rb") as f:
        df = pq.read_table(f).to_pandas()
    result = validate_frame(entry.key, df, spec.suite)
    update = {"validation": result.model_dump(mode="json")}
    if not result.success:
        update |= {"status": bad_status, "reason": f"failed expectations: {result.summary()}"}
    return entry.model_copy(update=update)
