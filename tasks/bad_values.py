"""CSV cells Arrow cannot convert to their column's declared type ('?' in an int64 column),
found record by record under `drop_rows`: Arrow itself converts a chunk of records, and a chunk
it refuses is halved until the records it refuses are found. What is left out is exactly what
Arrow would not read; the rest reads as Arrow reads it."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import pyarrow as pa
import pyarrow.csv as pacsv

_BAD_VALUE = re.compile(
    r"CSV column #(\d+): (?:Row #\d+: )?CSV conversion error to (.+?): invalid value '(.*)'",
    re.DOTALL)


_SPEC_TYPES = {"double": "float64", "timestamp[us, tz=UTC]": "timestamp"}  # Arrow's names


def bad_value(message: str) -> tuple[int, str, str] | None:
    """(column index in the file, the spec's type, the value) of Arrow's conversion error, if
    it is one."""
    m = _BAD_VALUE.search(message)
    return (int(m[1]), _SPEC_TYPES.get(m[2], m[2]), m[3]) if m else None


class ValueCheck:
    """Which records of a chunk Arrow refuses, read with the stream's own options."""

    def __init__(self, read: pacsv.ReadOptions, parse: pacsv.ParseOptions,
                 convert: pacsv.ConvertOptions, then: Callable | None = None):
        # then: what each batch still goes through after Arrow (timestamps read as text are
        # converted by tasks.timestamps); a ValueError it raises refuses the chunk too
        self.read, self.parse, self.convert, self.then = read, parse, convert, then

    def __call__(self, head: bytes, records: list[bytes], enough: float = float("inf")
                 ) -> dict[int, str]:
        """{index in `records`: why} for the records Arrow cannot read (`head`: the header
        line, or b"" when the names are given); found in order, and no more once over
        `enough` (each costs Arrow reads: past what the shard may leave out, time spent)."""
        bad: dict[int, str] = {}
        todo = [(0, len(records))]
        while todo and len(bad) <= enough:  # halves of a refused span, each read once:
            # O(k log n) reads for k bad
            a, b = todo.pop()
            why = self._problem(head + b"".join(records[a:b]))
            if why is None:
                continue
            if b - a == 1:
                bad[a] = why
            else:
                mid = (a + b) // 2
                todo += [(mid, b), (a, mid)]
        return bad

    def _problem(self, data: bytes) -> str | None:
        try:
            table = pacsv.read_csv(io.BytesIO(data), read_options=self.read,
                                   parse_options=self.parse, convert_options=self.convert)
            for batch in table.to_batches() if self.then else ():
                self.then(batch)
        except pa.ArrowInvalid as e:
            found = bad_value(str(e))
            return f"{found[2][:40]!r} in column {found[0] + 1} is not {found[1]}" if found \
                else str(e).splitlines()[0][:200]
        except ValueError as e:  # tasks.timestamps' word for a cell that is no timestamp
            return getattr(e, "short", str(e))[:200]
        return None
