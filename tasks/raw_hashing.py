"""The raw stage's per-shard work, as plain functions Dask workers run: find the source shards
and hash each one's bytes as they landed. A shard that cannot be read gets an entry with a reason
instead of raising, so one corrupt file never costs the other shards' work."""

from __future__ import annotations

from pathlib import PurePosixPath

import pyarrow as pa

from laas.anchors.adapters.files import glob_files, join, open_uri, redact, url_to_fs
from laas.anchors.core.canonical import to_hex
from laas.anchors.core.hashing import hash_stream, rehash_parquet
from laas.anchors.core.models import ShardEntry
from laas.tasks.dataset_spec import DatasetSpec
from laas.tasks.read_errors import describe_error


def glob_base(pattern: str) -> str:
    parts = pattern.split("/")
    for i, p in enumerate(parts):
        if any(ch in p for ch in "*?["):
            return "/".join(parts[:i])
    return "/".join(parts[:-1])


def discover(spec: DatasetSpec) -> list[tuple[str, str]]:
    """(key, uri) of every source shard, sorted; the key is the path below the glob's base."""
    fs, pattern = url_to_fs(spec.source_uri)
    base = glob_base(pattern)
    paths = glob_files(fs, pattern)
    return [(str(PurePosixPath(p).relative_to(base)) if base else p, join(fs, p)) for p in paths]


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
                          reason=f"shard {redact(uri)} unreadable: {describe_error(e)}")
    return ShardEntry(key=key, uri=uri, source_uri=uri, byte_size=size, content_hash=to_hex(digest))


def hash_parent_shard(key: str, uri: str, expect_table: str,
                      bad_status: str = "failed") -> ShardEntry:
    """hash_raw of a derived dataset's source, which must still be what the gate proved."""
    return hash_raw(key, uri, bad_status, expect_table=expect_table)
