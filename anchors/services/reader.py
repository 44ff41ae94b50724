"""The verified reader: a training job's only way in to a gated dataset. Each shard is read
into memory once, re-hashed (laas-table-v1) and compared with the hash the gate proved
against the chain; only then are its rows handed out, from the same bytes that were hashed,
so a shard changed on disk after the gate, or between hashing and reading, never reaches
training. Memory per open shard is its Parquet size. Imports neither Prefect, Dask nor GX.

    from laas.api import verified_reader
    reader = verified_reader("instruct-sample")          # gates first (GateDenied if not)
    for row in reader: ...                               # dicts
    for batch in reader.batches(columns=["prompt"]): ... # pyarrow RecordBatches

PyTorch, one line (torch is not a dependency of laas):

    class Corpus(torch.utils.data.IterableDataset): __iter__ = lambda self: iter(reader)

With DataLoader(num_workers=N) each worker reads its own shards, split by
torch.utils.data.get_worker_info() (see `VerifiedReader.__iter__`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from laas.anchors.adapters.files import redact
from laas.anchors.adapters.sized import parquet_limit, read_at_most
from laas.anchors.core.canonical import to_hex
from laas.anchors.core.hashing import rehash_parquet
from laas.errors import HashMismatch


class VerifiedReader:
    def __init__(self, shards: Sequence[str], hashes: Sequence[str],
                 sizes: Sequence[int] | None = None):
        """`sizes`: the shards' proven canonical sizes; a file much larger than its shard can
        be as Parquet is refused unread (else a file swapped for GBs is read whole first)."""
        if len(shards) != len(hashes) or sizes is not None and len(sizes) != len(shards):
            raise ValueError("one expected hash (and size) per shard")
        self.shards = tuple(shards)
        self.hashes = tuple(hashes)
        self.sizes = tuple(sizes) if sizes is not None else None

    @classmethod
    def from_verdict(cls, verdict: Any) -> VerifiedReader:
        """From an allowed GateVerdict (raises GateDenied otherwise)."""
        verdict.require()
        return cls(verdict.shards, verdict.hashes, verdict.sizes or None)

    def table(self, i: int, columns: list[str] | None = None) -> pa.Table:
        """Shard i, whole, after its hash matched; raises HashMismatch naming it if not."""
        uri = self.shards[i]
        limit = parquet_limit(self.sizes[i]) if self.sizes is not None else None
        if (data := read_at_most(uri, limit)) is None:
            raise HashMismatch(f"shard {redact(uri)} is larger than the shard the gate verified "
                               "can be: it changed after the gate; do not train on it")
        data = pa.py_buffer(data)  # hash and rows come from these same bytes
        try:
            digest = to_hex(rehash_parquet(pa.BufferReader(data))[0])
        except (OSError, ValueError) as e:
            raise HashMismatch(f"shard {redact(uri)} cannot be read as Parquet ({e}): it is "
                               "not the shard the gate verified; do not train on it") from None
        if digest != self.hashes[i]:
            raise HashMismatch(f"shard {redact(uri)} hashes to {digest[:18]}…, the gate "
                               f"verified {self.hashes[i][:18]}…: it changed after the gate; "
                               "do not train on it")
        return pq.read_table(pa.BufferReader(data), columns=columns)

    def batches(self, columns: list[str] | None = None, *, part: tuple[int, int] = (0, 1),
                batch_size: int = 65_536) -> Iterator[pa.RecordBatch]:
        """Record batches of every shard in order; part=(k, n) reads shards k, k+n, ..."""
        k, n = part
        for i in range(k, len(self.shards), n):
            yield from self.table(i, columns).to_batches(max_chunksize=batch_size)

    def rows(self, columns: list[str] | None = None, *,
             part: tuple[int, int] = (0, 1)) -> Iterator[dict]:
        for batch in self.batches(columns, part=part):
            yield from batch.to_pylist()

    def __iter__(self) -> Iterator[dict]:
        return self.rows(part=_torch_worker_part())

    def __len__(self) -> int:
        return len(self.shards)


def _torch_worker_part() -> tuple[int, int]:
    """Inside a torch DataLoader worker: (worker id, workers), so each reads its own shards."""
    import sys

    torch_data = sys.modules.get("torch.utils.data")  # only if the caller already uses torch
    info = torch_data.get_worker_info() if torch_data is not None else None
    return (info.id, info.num_workers) if info is not None else (0, 1)
