"""What a csv/tsv shard's header line names, checked against the schema. Arrow picks a column
by name and says only "Column 'x' in include_columns does not exist in CSV file" when it is
not there, which does not show a header written `seed, 0xdeadbeaf` (numpy's random test
tables: the second name starts with a blank); and of two columns of one name it silently
takes the first. So the first bytes Arrow reads are kept, and the header parsed from them
names what is there."""

from __future__ import annotations

import io
from typing import BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv

from laas.tasks.transcode import Prefixed

HEAD = 1 << 16  # bytes kept: a header line longer than this goes unchecked
_SHOWN = 12  # header names listed in a message


class BadTable(ValueError):
    """A shard's table cannot be read as the spec says; the one-line message (without the
    shard, which the reader adds) says why and what to change."""


class HeadRecorder(Prefixed):
    """src read straight through, its first HEAD bytes kept in `first` (a slice of the first
    read)."""

    def __init__(self, src: BinaryIO):
        super().__init__(b"", src)
        self.first = b""

    def read(self, n: int = -1) -> bytes:
        data = super().read(n)
        if len(self.first) < HEAD:
            self.first += data[:HEAD - len(self.first)]
        return data


def header_names(head: bytes, read: pacsv.ReadOptions, parse: pacsv.ParseOptions
                 ) -> list[str] | None:
    """The names of the header line at the start of `head` (as Arrow read it: after any
    skipped and comment lines), or None if it cannot be told from `head`."""
    end = head.find(b"\n")
    if end < 0:
        return None
    options = pacsv.ReadOptions(encoding=read.encoding, block_size=HEAD)
    try:
        return pacsv.read_csv(io.BytesIO(head[:end + 1]), read_options=options,
                              parse_options=parse).column_names
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None  # a quoted header name spanning lines, say: Arrow's own words stand


def check_header(wanted: list[str], header: list[str] | None) -> None:
    """BadTable if a schema column is missing from the header, or named twice in it."""
    if header is None:
        return
    if twice := [n for n in wanted if header.count(n) > 1]:
        at = ", ".join(str(i + 1) for i, h in enumerate(header) if h == twice[0])
        raise BadTable(f"the header names column {twice[0]!r} more than once (fields {at}): "
                       "which one is meant cannot be told; rename all but one in the file, or "
                       "read it with `csv: {header: false, skip_rows: 1}` and a schema naming "
                       "every field in order")
    if missing := [n for n in wanted if n not in header]:
        raise BadTable(f"missing column(s) {', '.join(missing)}: {_what_is_there(missing, header)}")


def _what_is_there(missing: list[str], header: list[str]) -> str:
    shown = ", ".join(n if n and n == n.strip() else repr(n) for n in header[:_SHOWN])
    more = f" and {len(header) - _SHOWN} more" if len(header) > _SHOWN else ""
    text = f"the header names {shown}{more}"
    if header and header[0].startswith("sep="):  # Excel's first line naming its delimiter
        sep = header[0][4:5] or ","
        return f"{text}; its first line is a spreadsheet's delimiter note: set `csv: " \
               f"{{skip_rows: 1, delimiter: {sep!r}}}`"
    if blanked := [h for n in missing for h in header if h != n and h.strip() == n.strip()]:
        return f"{text}; {blanked[0]!r} has blanks around it: name the column so in the " \
               "schema, quoted"
    if other := [c for c in ";\t|," if len(header) == 1 and c in header[0]]:
        return f"{text}; it looks delimited by {other[0]!r}: check the spec's csv.delimiter"
    return f"{text}; check the spec's csv.delimiter and csv.header, and the schema's names"
