"""A source shard's bytes as the normalized stage parses them: the very bytes whose BLAKE3 the
raw stage committed, checked as they are read, so no row comes from bytes it did not hash."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from laas.anchors.adapters.files import open_uri
from laas.anchors.adapters.sized import size_of
from laas.anchors.core.canonical import to_hex
from laas.anchors.core.hashing import HashingReader
from laas.errors import ShardReadError

SPOOL_BYTES = 256 << 20  # a Parquet source is held in memory up to this, spooled to disk above


@contextlib.contextmanager
def source_bytes(uri: str, fmt: str, expect: str | None, name: str) -> Iterator[Any]:
    """The shard's bytes to parse. With `expect` they are hashed as they are parsed (a stream),
    or, for Parquet (read at random), read whole while hashed and parsed from that copy:
    either way the rows come from the very bytes that were hashed. A Parquet shard up to
    SPOOL_BYTES is read in one call and parsed where it lies (Arrow reads it without a copy:
    through a spool file, each of its reads was one more copy, ~0.4 CPU-ms per MB); a
    bigger one goes through a spool on disk."""
    with open_uri(uri) as raw:
        if expect is None:
            yield raw
            return
        if fmt != "parquet":
            yield HashingReader(raw)
            return
        size = size_of(raw)  # a read of the size it has: one of SPOOL_BYTES cost 2 ms more
        reader = HashingReader(raw)
        head = reader.read(min(SPOOL_BYTES if size is None else size, SPOOL_BYTES) + 1)
        if len(head) <= SPOOL_BYTES:
            unchanged(name, expect, reader.finish()[0])
            if reader.size != len(head):  # it grew since its size was taken
                raise ShardReadError(f"shard {name}: changed while read; rerun to ingest it")
            yield pa.BufferReader(head)
            return
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            spool.write(head)
            del head
            shutil.copyfileobj(reader, spool, 1 << 20)
            unchanged(name, expect, reader.finish()[0])
            spool.seek(0)
            yield spool


def unchanged(name: str, expect: str, digest: bytes) -> None:
    if to_hex(digest) != expect:
        raise ShardReadError(f"shard {name}: changed since the raw stage hashed it "
                             f"({expect[:18]}…); rerun to ingest the new bytes")
