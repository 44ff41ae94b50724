"""Source records no reader can make a row of (a JSONL line that is not a JSON object of the
schema's types, a CSV row with more fields than the header), dropped one by one under
`on_failure: drop_rows` instead of setting the whole shard aside. Arrow reads the shard as it
is; only when it refuses a record is the shard read again through a filter that takes such
records out and remembers each (its number in the source, why, its bytes), so the normalized
stage can commit to exactly what it left out and keep it for anyone to look at."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import pyarrow as pa

from laas.anchors.core.dropped_records import KEEP_BYTES
from laas.anchors.core.hashing import TableHasher
from laas.errors import ShardReadError
from laas.tasks.jsonl_lines import line_problem
from laas.tasks.line_stream import LineStream


class RowsToDrop(Exception):
    """Arrow refused a record of the shard: read it again through a filter (drop_rows)."""


class TooManyDrops(Exception):
    """More records cannot be read than the shard may leave out (max_dropped_rows) of the
    `records` a read counted, or than those read so far (then it is read again, knowing)."""

    def __init__(self, records: int):
        super().__init__(records)
        self.records = records


class RecordDrops:
    """The records a filtered read left out, in source order: `numbers` (JSONL: the line,
    from 1; CSV: the data row, from 1, after the header and skipped lines), why, and their
    bytes (the first KEEP_BYTES of each)."""

    def __init__(self, unit: str = "record") -> None:
        self.unit = unit  # what a number counts, for messages: "line", "row"
        # Finding a bad CSV cell costs Arrow reads (~0.3-1 ms a row): past the share of
        # records a shard may leave out (`limit`, max_dropped_rows) of all its records
        # (`total`, once a read counted them), it is set aside whatever the rest holds.
        self.limit = 1.0
        self.total: int | None = None
        self.numbers: list[int] = []
        self.reasons: list[str] = []
        self.records: list[bytes] = []

    def add(self, number: int, reason: str, record: bytes) -> None:
        self.numbers.append(number)
        self.reasons.append(reason)
        self.records.append(record[:KEEP_BYTES])

    def __len__(self) -> int:
        return len(self.numbers)

    def over(self, records: int) -> bool:
        """Whether more were left out than `records` records allow."""
        return len(self.numbers) > self.limit * records

    def recount(self, records: int, name: str) -> None:
        """A read stopped at too many (TooManyDrops): ShardReadError if they are too many of
        all `records`; else their count is noted, for a read again that checks them all."""
        if self.total is not None or self.over(records):
            raise ShardReadError(f"shard {name}: at least {len(self)} of {records} records "
                                 f"cannot be read (first: {self.first()}): over "
                                 f"max_dropped_rows {self.limit:.0%}") from None
        self.total = records

    def clear(self) -> None:
        """A read starts over (the filtered one after Arrow's): nothing it saw is counted."""
        self.numbers.clear()
        self.reasons.clear()
        self.records.clear()

    def first(self) -> str:
        if not self.numbers:
            return "-"
        i = self.numbers.index(min(self.numbers))  # noted in order but for a block's cells
        return f"{self.unit} {self.numbers[i]}: {self.reasons[i]}"

    def table(self, row_column: str, failed_column: str) -> pa.Table:
        """What was left out, as the dropped-rows file holds it."""
        order = sorted(range(len(self.numbers)), key=self.numbers.__getitem__)
        return pa.table({row_column: pa.array([self.numbers[i] for i in order], pa.int64()),
                         failed_column: pa.array([[self.reasons[i]] for i in order],
                                                 pa.list_(pa.string())),
                         "_laas_record": pa.array([self.records[i] for i in order],
                                                  pa.binary())})


class JsonlLineFilter(LineStream):
    """src without the lines that cannot be a row of `schema` (noted in `drops` with their
    line numbers; without `drops` the first such line raises ArrowInvalid, as Arrow would
    refuse it); blank lines are kept, Arrow skips them."""

    def __init__(self, src: BinaryIO, schema: pa.Schema, kinds: dict[str, str],
                 drops: RecordDrops | None):
        super().__init__(src)
        self.schema, self.kinds, self.drops = schema, kinds, drops
        if drops is not None:
            drops.unit = "line"
        self.line = 0

    def _lines(self, block: bytes) -> bytes:
        # split at "\n" only, as Arrow and a line count do (a stray "\r" is JSON whitespace);
        # a block ends at a newline but at the end of the source
        *lines, last = block.split(b"\n")
        out = [self._line(line + b"\n") for line in lines]
        if last:
            out.append(self._line(last))
        return b"".join(out)

    def _line(self, line: bytes) -> bytes:
        self.line += 1
        if problem := line_problem(line, self.schema, self.kinds):
            if self.drops is None:
                raise pa.ArrowInvalid(f"JSON parse error: {problem}")
            self.drops.add(self.line, problem, line.rstrip(b"\r\n"))
            return b"\n"  # the line's place kept: Arrow skips a blank line
        return line


def rows_after(batches: Iterator[pa.RecordBatch], skip: int, digest: bytes, schema: pa.Schema,
           name: str, hasher: TableHasher | None) -> Iterator[pa.RecordBatch]:
    """The rows of `batches` after the first `skip`, which must hash to `digest`."""
    again = TableHasher(schema)
    for batch in batches:
        head = min(skip - again.rows, batch.num_rows)
        if head:
            again.update(batch.slice(0, head))
            if again.rows == skip and again.digest() != digest:
                raise ShardReadError(f"shard {name}: changed while read; rerun to ingest it")
        if head < batch.num_rows:
            rest = batch.slice(head) if head else batch
            if hasher is not None:
                hasher.update(rest)
            yield rest
    if again.rows < skip:
        raise ShardReadError(f"shard {name}: changed while read; rerun to ingest it")
