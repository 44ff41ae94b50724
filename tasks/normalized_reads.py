"""A normalized shard read back, its rows handed on only as they hash to what the normalized
stage committed (a file swapped in the store between the stages is refused)."""

from __future__ import annotations

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
    """A normalized shard's rows, read once: each batch is hashed as it is decoded and, after
    the last, the table must still be the one the normalized stage hashed, or ShardReadError
    (a file swapped in the store between the stages would otherwise be validated in place of
    the committed one; the caller discards what it made of the batches). One decode serves
    both the hash and the validation."""
    name = redact(entry.uri)
    changed = ShardReadError(f"shard {name}: changed since the normalized stage hashed it "
                             f"({(entry.content_hash or '-')[:18]}…); rerun to normalize again")
    try:
        # held whole (read once), so no bigger than the committed shard can be as Parquet
        if (data := read_at_most(entry.uri, parquet_limit(entry.byte_size))) is None:
            raise changed
        pf = pq.ParquetFile(pa.BufferReader(pa.py_buffer(data)))
        hasher = TableHasher(pf.schema_arrow)
        for batch in pf.iter_batches(batch_size=batch_size):
            hasher.update(batch)
            yield batch
    except READ_ERRORS as e:
        raise ShardReadError(f"shard {name}: normalized file unreadable ({describe_error(e)})") \
            from None
    found = (to_hex(hasher.digest()), hasher.size, hasher.rows)
    if found != (entry.content_hash, entry.byte_size, entry.rows):
        raise changed


def verified_table(entry: ShardEntry) -> pa.Table:
    """verified_batches, whole: the table is returned only once its hash is checked."""
    batches = list(verified_batches(entry))
    if not batches:  # the normalized stage never keeps an empty shard
        raise ShardReadError(f"shard {redact(entry.uri)}: normalized file has no rows")
    return pa.Table.from_batches(batches)
