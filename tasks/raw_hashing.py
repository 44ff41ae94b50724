"""The raw stage's per-shard work, as plain functions Dask workers run: find the source shards
and hash each one's bytes as they landed. A shard that cannot be read gets an entry with a reason
instead of raising, so one corrupt file never costs the other shards' work."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import PurePosixPath
from sys import intern

import pyarrow as pa

from laas.anchors.adapters.files import (
    digest_into,
    glob_files,
    join,
    open_uri,
    redact,
    url_to_fs,
)
from laas.anchors.core.canonical import to_hex
from laas.anchors.core.hashing import bytes_hasher, hash_stream, rehash_parquet
from laas.anchors.core.models import ShardEntry
from laas.anchors.core.shard_columns import remade
from laas.tasks.compute import map_shards
from laas.tasks.dataset_spec import DatasetSpec
from laas.tasks.local_pool import local_only, map_here
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
    return [(_below(p, base) if base else p, join(fs, p)) for p in paths]


def _below(path: str, base: str) -> str:
    """path relative to base, as PurePosixPath's relative_to gives it, by slicing when the
    rest needs no normalizing (a glob's paths: 14 us a path through pathlib, 1.4 s at
    100,000 shards, every run)."""
    rest = path[len(base) + 1:]
    if path.startswith(base) and path[len(base):len(base) + 1] == "/" and rest not in ("", ".") \
            and not rest.startswith(("/", "./")) and not rest.endswith(("/", "/.")) \
            and "//" not in rest and "/./" not in rest:
        return rest
    return str(PurePosixPath(path).relative_to(base))


def hash_raw_batch(batch: list[tuple[str, str]], bad_status: str = "failed"
                   ) -> list[tuple[str, str, int, str] | ShardEntry]:
    """hash_raw of a batch of (key, uri), for map_shards(whole_batch=True, on_batch=
    raw_entries): (key, uri, size, hash) of a shard that was read (a tuple of four small
    values back per shard, not an entry pickled on a worker and unpickled in the flow), the
    entry with its reason of one that was not."""
    out: list[tuple[str, str, int, str] | ShardEntry] = []
    for key, uri in batch:
        try:
            h = bytes_hasher()
            size = digest_into(uri, h)
        except Exception:  # noqa: BLE001 - hash_raw says why, as it always did
            out.append(hash_raw(key, uri, bad_status))
            continue
        out.append((key, uri, size, to_hex(h.digest())))
    return out


def hash_sources(fn: Callable, items: list[tuple], extra: dict, *, address: str,
                 batch_size: int, bad_status: str) -> list[ShardEntry]:
    """The raw stage's entries: hashed on this machine (local_pool.map_here) when its
    shards are plain local files, else on the cluster (map_shards, with raw_work's `extra`)."""
    if fn is hash_raw_batch and local_only(uri for ((_, uri),) in items):
        return map_here(partial(hash_raw_batch, bad_status=bad_status), items,
                        batch_size=batch_size, on_batch=raw_entries)
    return map_shards(fn, items, address=address, label="raw", batch_size=batch_size,
                      bad_status=bad_status, **extra)


def raw_entries(results: list[tuple[str, str, int, str] | ShardEntry]) -> list[ShardEntry]:
    """A batch of hash_raw_batch's results as the entries hash_raw gives: made as ShardEntry
    would make them from values of the types it checks (this process's own worker's: a str
    key and URI, an int size, a hex digest), not validated again (~8 us a shard)."""
    return [r if isinstance(r, ShardEntry) else remade(ShardEntry, {
        **_BLANK, "key": intern(r[0]), "uri": (uri := intern(r[1])), "source_uri": uri,
        "byte_size": r[2], "content_hash": intern(r[3])}, _HASHED)
        for r in results]


_BLANK = ShardEntry(key="", uri="", source_uri="").__dict__  # the defaults, in field order
# the fields a hashed raw entry is given (Record shares one set per combination)
_HASHED = ShardEntry(key="", uri="", source_uri="", byte_size=0,
                     content_hash="").__pydantic_fields_set__


def hash_raw(key: str, uri: str, bad_status: str = "failed", *,
             expect_table: str | None = None) -> ShardEntry:
    """Raw stage: the bytes as they landed. With `expect_table` (a derived dataset's source:
    a parent's shard the gate proved) the same bytes must also hash, as a table, to what the
    gate proved, or the shard is set aside: a file swapped after the gate never enters."""
    try:
        if expect_table is None:
            h = bytes_hasher()
            size = digest_into(uri, h)
            digest = h.digest()
        else:
            with open_uri(uri) as f:
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
