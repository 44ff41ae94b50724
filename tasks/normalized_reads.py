"""A normalized shard read back, its rows handed on only as they hash to what the normalized
stage committed (a file swapped in the store between the stages is refused)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from laas.anchors.adapters.files import redact
from laas.anchors.adapters.sized import parquet_limit, read_at_most
from laas.anchors.core.canonical import to_hex
from laas.anchors.core.hashing import TableHasher
from laas.anchors.core.models import ShardEntry
from laas.errors import ShardReadError
from laas.tasks.read_errors import READ_ERRORS, describe_error
from laas.tasks.readers import PARQUET_BATCH


def verified_batches(entry: ShardEntry, batch_size: int = PARQUET_BATCH
                     ) -> Iterator[pa.RecordBatch]:
    """A normalized shard's rows, read once, only from the bytes the normalized stage wrote
    (else ShardReadError: a file swapped in the store between the stages would otherwise be
    validated in place of the committed one). Those bytes are known by the SHA-256 its entry
    took of them as they were written, checked before they are parsed: ~7x cheaper than
    hashing the decoded table again (the file is a fifth of the table, SHA-256 runs at
    1.4 GB/s; the table hash took ~0.9 CPU-ms per MB of rows). An entry without it (a
    manifest from before it was kept) has each batch table-hashed as it is decoded and, after
    the last, the table must be the one the normalized stage hashed (the caller discards
    what it made of the batches)."""
    name = redact(entry.uri)
    changed = ShardReadError(f"shard {name}: changed since the normalized stage hashed it "
                             f"({(entry.content_hash or '-')[:18]}…); rerun to normalize again")
    try:
        # held whole (read once), so no bigger than the committed shard can be as Parquet
        if (data := read_at_most(entry.uri, parquet_limit(entry.byte_size))) is None:
            raise changed
        if entry.sha256 and hashlib.sha256(data).hexdigest() != entry.sha256:
            raise changed
        pf = pq.ParquetFile(pa.BufferReader(pa.py_buffer(data)))
        hasher = None if entry.sha256 else TableHasher(pf.schema_arrow)
        rows = 0
        for batch in pf.iter_batches(batch_size=batch_size):
            if hasher is not None:
                hasher.update(batch)
            rows += batch.num_rows
            yield batch
    except READ_ERRORS as e:
        raise ShardReadError(f"shard {name}: normalized file unreadable ({describe_error(e)})") \
            from None
    found = (to_hex(hasher.digest()), hasher.size) if hasher is not None else None
    if rows != entry.rows or found not in (None, (entry.content_hash, entry.byte_size)):
        raise changed


def verified_table(entry: ShardEntry) -> pa.Table:
    """verified_batches, whole: the table is returned only once its hash is checked."""
    batches = list(verified_batches(entry))
    if not batches:  # the normalized stage never keeps an empty shard
        raise ShardReadError(f"shard {redact(entry.uri)}: normalized file has no rows")
    return pa.Table.from_batches(batches)
