"""laas-dropped-v1: the commitment to what a normalized shard left out at reading, its
numbers, why, and the bytes kept of each (laas-manifest-v7's `dropped_records_hash`).

The numbers alone (`dropped_rows_hash`) let whoever can write the store put other bytes and
other reasons beside them: the file then says a line held what it never held. This digest
covers all three columns of the file as laas writes it, so `laas verify` refuses any change.
Pure: the caller reads the file."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

from laas.anchors.core.canonical import keccak256, to_hex

DROPPED_RECORDS_FORMAT = "laas-dropped-v1"
KEEP_BYTES = 1 << 20  # of one record left out, kept for people to look at (the rest is cut)


def file_limit(records: int) -> int:
    """The most bytes a file of `records` records left out can take as laas writes it (each
    record cut at KEEP_BYTES, its reasons a line each, and Parquet's metadata): a file
    swapped in the store for GBs is refused unread."""
    return records * (KEEP_BYTES + (64 << 10)) + (16 << 20)


def records_digest(numbers: Sequence[int], reasons: Sequence[Iterable[str]],
                   records: Sequence[bytes]) -> str:
    """keccak256 over the format's name and, per record in the order given (the file's:
    ascending numbers), its number (8 bytes big-endian), its count of reasons (4 bytes) and
    each reason and then the record, each as its length (8 bytes) and its UTF-8 bytes. Every
    part is length-prefixed, so no two different files give the same bytes."""
    if not len(numbers) == len(reasons) == len(records):
        raise ValueError("the columns of a dropped-records file differ in length")
    parts = [DROPPED_RECORDS_FORMAT.encode()]
    for number, why, record in zip(numbers, reasons, records, strict=True):
        why = [w.encode() for w in why]
        parts.append(struct.pack(">QI", number, len(why)))
        for w in why:
            parts += (struct.pack(">Q", len(w)), w)
        parts += (struct.pack(">Q", len(record)), bytes(record))
    return to_hex(keccak256(b"".join(parts)))


COLUMNS = ("_laas_row", "_laas_failed", "_laas_record")  # the file's, in this order


def table_digest(table: object) -> str:
    """records_digest of a dropped-records file read as an Arrow table (its three columns;
    a null anywhere, or a column missing, is no such file: ValueError)."""
    numbers, reasons, records = (table.column(c).to_pylist() for c in COLUMNS)  # type: ignore[attr-defined]
    if any(v is None for col in (numbers, reasons, records) for v in col) \
            or any(r is None for why in reasons for r in why):
        raise ValueError("a dropped-records file holds a null")
    return records_digest(numbers, reasons, records)
