"""A stage's file of what it left out of a shard (validated/dropped/, normalized-dropped/),
read back from the store only as what its manifest commits to: the set of numbers
(`dropped_rows_hash`) and, where the manifest has it (laas-manifest-v7), the file whole
(`dropped_records_hash`). `laas verify` proves a shard with it, and an incremental run
checks it before it reuses the entry that names it."""

from __future__ import annotations

from typing import Any, NamedTuple

from laas.anchors.adapters.files import open_uri
from laas.anchors.adapters.sized import read_at_most
from laas.anchors.core.dropped_records import COLUMNS, file_limit, table_digest
from laas.anchors.core.entries import ShardEntry, rows_digest


class DropsChanged(Exception):
    """The file is not what the manifest commits to; the message names it and says how."""


class DropsFile(NamedTuple):
    """What a check of the file needs (small strings: it is shipped to Dask workers)."""

    uri: str
    count: int  # records (or rows) the entry says were left out
    rows_hash: str
    records_hash: str | None  # None: a v6 (or validated) entry, its numbers only
    what: str  # the file, for messages

    @classmethod
    def of(cls, entry: ShardEntry, what: str) -> DropsFile | None:
        """The file an entry that left rows or records out names; None if it left none."""
        if not entry.derived or entry.dropped_uri is None:
            return None
        return cls(entry.dropped_uri, entry.left_out, entry.dropped_rows_hash or "",
                   entry.dropped_records_hash, what)


READ_DROPS = "the file of records left out at reading"  # a normalized stage's
ROW_DROPS = "the dropped-rows file"  # a validated stage's


def committed_numbers(f: DropsFile) -> Any:
    """The numbers in the file (a numpy array), once it is checked to hold what its entry
    commits to; DropsChanged if it does not."""
    try:
        return _numbers(f)
    except DropsChanged as e:
        raise DropsChanged(f"{f.what} {e}") from None


def _numbers(f: DropsFile) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if f.records_hash is None:
            with open_uri(f.uri) as src:
                rows = pq.read_table(src, columns=[COLUMNS[0]]).column(0).to_numpy()
        else:
            if (data := read_at_most(f.uri, file_limit(f.count))) is None:
                raise DropsChanged("is larger than it can be")
            table = pq.read_table(pa.BufferReader(pa.py_buffer(data)), columns=list(COLUMNS))
            rows = table.column(0).to_numpy()
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as e:
        raise DropsChanged(f"cannot be read ({e})") from None
    if rows_digest(rows) != f.rows_hash or len(rows) != f.count:
        raise DropsChanged("is not the committed row set")
    if f.records_hash is not None:
        try:
            digest = table_digest(table)
        except ValueError as e:
            raise DropsChanged(f"cannot be read ({e})") from None
        if digest != f.records_hash:
            raise DropsChanged("does not hold the committed records (their bytes or reasons "
                               "were changed)")
    return rows
