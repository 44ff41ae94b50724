"""A stage file read only as far as the shard it must be can go: a file swapped in the store
for GBs is refused unread, not read (or held) before its hash tells."""

from __future__ import annotations

from typing import IO

from laas.anchors.adapters.files import open_uri


def parquet_limit(byte_size: int) -> int:
    """The most bytes a Parquet file of a table of `byte_size` canonical bytes (its leaf's
    size) takes as laas writes it: zstd keeps it well under, but for metadata (many columns,
    few rows)."""
    return 4 * byte_size + (16 << 20)


def size_of(f: IO) -> int | None:
    """The size of an open file (fsspec's, or a local one), None if it does not say."""
    import os

    size = getattr(f, "size", None)
    if isinstance(size, int):
        return size
    try:
        return os.fstat(f.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        return None


def read_at_most(uri: str, limit: int | None) -> bytes | None:
    """The file's bytes, or None if it holds more than `limit` (not read past it): a file
    swapped in the store for GBs must not fill memory before its hash is checked."""
    with open_uri(uri) as f:
        if limit is None:
            return f.read()
        size = size_of(f)
        size = limit if size is None else size  # unknown: at most the limit (and a byte)
        if size > limit:
            return None
        # sized by the file, not the limit (a read allocates what it is asked); one that
        # grew meanwhile is cut here, and then hashes to something else
        data = f.read(size + 1)
        return None if len(data) > limit else data
