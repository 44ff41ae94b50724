"""The text hashes the validation computes, kept for the dataset-wide duplicate checks: written
per batch of shards to one Parquet file, and each shard's digest of its own hashes."""

from __future__ import annotations

import secrets
from typing import Any

import blake3
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from laas.anchors.adapters.files import url_to_fs
from laas.anchors.core.canonical import keccak256


class TextHashSink:
    """The text hashes of a batch's rows, by shard key, to one Parquet file for the
    dataset-wide duplicate checks (so it reads one file per batch and hashes nothing again).
    The file lies in the store, where anyone may rewrite it, so each shard's entry commits to
    the digest of its own hashes (`text_keys_hash`) and the flow checks the file against it."""

    def __init__(self, hashes_dir: str | None, keys: list[str], columns: tuple[str, ...]):
        self.columns = columns
        self.writer = self.file = None
        self.digests: dict[str, Any] = {}
        if hashes_dir and columns:
            self.fs, self.path = url_to_fs(f"{hashes_dir}/{batch_file(keys)}")
            self.tmp = f"{self.path}.{secrets.token_hex(6)}.tmp"  # renamed: never via a link
            self.file = self.fs.open(self.tmp, "wb")
            # read once, by the flow: neither compressed nor dictionary-coded but for the
            # shard keys: random hex gains little from either, and they cost the writer ~5x
            self.writer = pq.ParquetWriter(
                self.file, pa.schema([("key", pa.string()), ("h", pa.string())]),
                compression="none", use_dictionary=["key"], write_statistics=False)

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
            part = hashes.slice(start, n)
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


def batch_file(keys: list[str]) -> str:
    """The name of the file of a batch's keys: by its shards' keys, so the flow knows which
    file a batch that came back wrote (and a rerun writes the same one)."""
    digest = keccak256("\n".join(keys).encode()).hex()[:16]
    return f"batch-{digest}.parquet"


def text_keys_bytes(hashes: Any) -> bytes:
    """What a shard's text-key digest covers: its rows' keys, in row order, one per line (a
    null key an empty line); built in Arrow, no Python call per row."""
    if not isinstance(hashes, pa.Array | pa.ChunkedArray):  # a list, a numpy array
        hashes = pa.array(hashes, pa.large_string())
    text = pa.large_string()
    lines = pc.binary_join_element_wise(pc.fill_null(hashes.cast(text), ""),
                                        pa.scalar("", text), pa.scalar("\n", text))
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    if not len(lines):
        return b""
    offsets = np.frombuffer(lines.buffers()[1], np.int64)[lines.offset:][:len(lines) + 1]
    return memoryview(lines.buffers()[2])[offsets[0]:offsets[-1]].tobytes()
