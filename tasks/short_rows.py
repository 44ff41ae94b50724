"""CSV rows with fewer fields than the header: real tables leave trailing optional fields out
(distro-info's CSVs do), and Arrow's reader refuses the whole file for one such row. Arrow
reads the shard as it is; only when it meets a short row is the shard read again through
RowPadder, which adds the missing trailing delimiters, so every other file pays nothing. A
padded field reads as an empty cell would (null in a number column, empty text unless
`null_values` lists ""). A row with more fields than the header is an error, or, under
`on_failure: drop_rows`, left out by the same second read (laas.tasks.bad_records)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO

from laas.tasks import line_stream
from laas.tasks.bad_records import TooManyDrops
from laas.tasks.line_stream import BigRecord, LineStream

if TYPE_CHECKING:
    from laas.tasks.bad_records import RecordDrops


COUNT_AFTER = 100  # records left out before a shard may be only counted (bad_records)


class ShortRows(Exception):
    """Arrow met a row with fewer fields than the header (`number`: its row, if known)."""

    def __init__(self, number: int | None, got: int, expected: int):
        super().__init__(number, got, expected)
        self.number, self.got, self.expected = number, got, expected

    def describe(self) -> str:
        where = f"row {self.number}" if self.number is not None else "a row"
        return f"{where} has {self.got} field(s) where the header has {self.expected}"


class ShortRowWatch:
    """Arrow's invalid_row_handler: remembers a short row (or that a row was long), then lets
    Arrow raise as it would."""

    def __init__(self) -> None:
        self.short: ShortRows | None = None
        self.long = False

    def __call__(self, row: Any) -> str:
        if self.short is None and row.actual_columns < row.expected_columns:
            self.short = ShortRows(row.number, row.actual_columns, row.expected_columns)
        self.long |= row.actual_columns > row.expected_columns
        return "error"

    def missed(self, error: str) -> None:
        """Note the row Arrow's `error` names if it never reached the watch: pyarrow decodes
        a row's text as UTF-8 first, so a row in another encoding (latin-1) did not."""
        if self.short is None and not self.long and (counts := field_counts(error)):
            expected, got = counts
            if got < expected:
                self.short = ShortRows(None, got, expected)
            self.long = got > expected


_COUNTS = re.compile(r"Expected (\d+) columns, got (\d+)")  # Arrow's words for a row


def field_counts(error: str) -> tuple[int, int] | None:
    """(fields expected, fields found) of the row Arrow's `error` names, if it names one."""
    m = _COUNTS.search(error)
    return (int(m[1]), int(m[2])) if m else None


class RowPadder(LineStream):
    """src with each record that has fewer fields than `fields` (None: the first record's
    count, i.e. the header's) given the missing trailing delimiters (if `pad`), and each that
    has more left out and noted in `drops` (if given). Quotes (a record may span lines inside
    them) and escapes are respected; blank lines are left for Arrow to skip."""

    def __init__(self, src: BinaryIO, delimiter: bytes, quote: bytes | None,
                 escape: bytes | None, fields: int | None, pad: bool = True,
                 drops: RecordDrops | None = None, utf8: bool = False,
                 check: Callable[[bytes, list[bytes]], dict[int, str]] | None = None,
                 comment: bytes | None = None):
        super().__init__(src)
        self.comment = comment  # skips whole lines only: named where a row is long for it
        # with drops, the records of each block Arrow would refuse a cell of (bad_values)
        self.check, self.head, self.pending = check, b"", []
        self.counting = False  # too many records left out: the rest are only counted
        self.utf8 = utf8  # drops take out records of bad UTF-8 too (Arrow refuses the shard)
        self.delimiter, self.fields, self.pad, self.drops = delimiter, fields, pad, drops
        if drops is not None:
            drops.unit = "row"
        self.specials = [c for c in (quote, escape) if c]
        alts = [re.escape(escape) + rb"." if escape else None, re.escape(quote) if quote else None,
                re.escape(delimiter)]
        self.tokens = re.compile(b"|".join(a for a in alts if a), re.DOTALL)
        self.quote = quote
        self.in_quote = False
        self.count = 0  # delimiters so far in the record being read
        self.held: list[bytes] = []  # the lines of a record that goes on past them
        self.held_size = 0
        self.row = 0  # data rows so far, a left-out one included (the header is none)

    def _lines(self, block: bytes) -> bytes:
        out = b"".join(self._pad(line) for line in block.splitlines(keepends=True))
        if self.pending and self.counting:
            self.pending = []  # only counted: no record goes to Arrow any more
        elif self.pending:
            out += self._checked()
        if self.counting and self.eof:
            raise TooManyDrops(self.row)
        if self.eof and self.held:  # a quote never closed: Arrow refuses it as it would
            out, self.held = out + b"".join(self.held), []  # (held back, the rest was lost)
        return out

    def _checked(self) -> bytes:
        # Past what the shard may leave out, checking more cells only spends time (a bad
        # one costs Arrow reads, 0.3-1 ms): over that share of all its records (counted by
        # an earlier read) it is set aside; over that share of the records so far, the rest
        # are only counted, and the shard is then set aside or read again knowing its count.
        # A shard whose every cell is bad costs ~2 reads, not hours.
        rows, records = zip(*self.pending, strict=True)
        self.pending = []
        known, drops = self.drops.total is not None, self.drops
        of = drops.total if known else self.row
        bad = self.check(self.head, list(records),
                         drops.limit * of - len(drops) if known else
                         max(drops.limit * of, COUNT_AFTER) - len(drops))
        for i, why in bad.items():
            drops.add(rows[i], why, records[i].rstrip(b"\r\n"))
        if drops.over(of) and (known or len(drops) > COUNT_AFTER):
            if known:
                raise TooManyDrops(of)
            self.counting = True
            return b""
        return b"".join(r for i, r in enumerate(records) if i not in bad)

    def _pad(self, line: bytes) -> bytes:
        body = line.rstrip(b"\r\n")
        if not body and not self.in_quote and not self.count:
            return line  # a blank line: no record
        if self.in_quote or any(c in body for c in self.specials):
            self._scan(body)
        else:
            self.count += body.count(self.delimiter)
        if self.in_quote:
            if self.drops is None:
                return line  # the record goes on past this line
            self.held.append(line)  # known to be too long only at its end
            self.held_size += len(line)
            if self.held_size > line_stream.MAX_LINE:
                raise BigRecord
            return b""
        record, self.held, self.held_size = b"".join(self.held) + line, [], 0
        n, self.count = self.count + 1, 0
        if self.fields is None:
            self.fields, self.head = n, record
            return record
        self.row += 1
        if self.drops is not None and (why := self._unreadable(record, n)):
            self.drops.add(self.row, why, record.rstrip(b"\r\n"))
            return b""
        if n < self.fields and self.pad:
            cut = len(record) - (len(line) - len(body))  # the newline stays after the padding
            record = record[:cut] + self.delimiter * (self.fields - n) + record[cut:]
        if self.check is not None:
            self.pending.append((self.row, record))
            return b""
        return record

    def _unreadable(self, record: bytes, n: int) -> str | None:
        if n > self.fields:
            hint = "; a comment after the data? set csv.inline_comments: true" if (
                self.comment and self.comment in record) else ""
            return f"{n} fields where the header has {self.fields}{hint}"
        if self.utf8 and not record.isascii():
            try:
                record.decode()
            except UnicodeDecodeError:
                return "not UTF-8"
        return None

    def _scan(self, body: bytes) -> None:
        # As Arrow reads quotes: one opens a field only at its start (`12" pizza` is text),
        # and inside quotes a doubled one is a quote, another ends them.
        q, start, pos = self.quote, -1 if self.in_quote else 0, 0
        while m := self.tokens.search(body, pos):
            tok, pos = m.group(), m.end()
            if tok == q and self.in_quote:
                if body.startswith(q, pos):
                    pos += len(q)
                else:
                    self.in_quote = False
            elif tok == q:
                self.in_quote = m.start() == start
            elif tok == self.delimiter and not self.in_quote:
                self.count += 1
                start = pos
