"""Text shards in an encoding that is not ASCII-compatible (UTF-16 with its byte order mark,
as spreadsheets export "Unicode text"; UTF-32), transcoded to UTF-8 on their way to the
readers, block by block: the readers find delimiters, quotes and line breaks in the bytes,
and Arrow reads UTF-8 natively. A file given as UTF-8 (the default) that starts with a UTF-16
or UTF-32 byte order mark is read as what the mark says. The raw stage hashes the bytes as
they landed, before any of this."""

from __future__ import annotations

import codecs
from typing import Any, BinaryIO

from laas.tasks.csv_dialect import ascii_compatible
from laas.tasks.line_stream import CHUNK, FillStream

_MARKS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
          (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def as_utf8(f: BinaryIO, encoding: str) -> tuple[Any, str]:
    """(a stream of f's text, its encoding): f itself when its encoding is ASCII-compatible,
    else f transcoded to UTF-8."""
    if encoding == "utf-8":
        head = f.read(4)
        f = Prefixed(head, f)
        encoding = next((enc for mark, enc in _MARKS if head.startswith(mark)), encoding)
        if encoding == "utf-8" and (wide := _unmarked(head)):
            raise Unmarked("utf-8", head, 0, len(head), wide)
    return (f, encoding) if ascii_compatible(encoding) else (Utf8Stream(f, encoding), "utf-8")


class Unmarked(UnicodeDecodeError):
    """A UTF-16/32 file without its byte order mark (`reason`: the encoding it is in), given
    as UTF-8: read so, every other byte of its text would be NUL."""


def _unmarked(head: bytes) -> str | None:
    """The UTF-16/32 encoding a file's first four bytes are ASCII text in (every other byte,
    or three of four, NUL: no UTF-8 text starts so), if any."""
    if len(head) < 4 or b"\0" not in head:
        return None
    nul = tuple(b == 0 for b in head)
    return {(False, True, False, True): "utf-16-le", (True, False, True, False): "utf-16-be",
            (False, True, True, True): "utf-32-le", (True, True, True, False): "utf-32-be"
            }.get(nul)


class Prefixed:
    """`head` (bytes already read from src) and then the rest of src, read straight through:
    every UTF-8 csv/text shard passes here, so no byte after the first four is copied again.
    A stream the readers and Arrow read as they read HashingReader."""

    def __init__(self, head: bytes, src: BinaryIO):
        self.head, self.src = head, src
        self.closed = False

    def read(self, n: int = -1) -> bytes:
        if not self.head:
            return self.src.read(n)
        take = len(self.head) if n < 0 else min(n, len(self.head))
        head, self.head = self.head[:take], self.head[take:]
        return head + (self.src.read(n if n < 0 else n - take) if n < 0 or n > take else b"")

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:  # the caller's `with` closes src
        self.closed = True


class Utf8Stream(FillStream):
    """src decoded from `encoding` (its byte order mark consumed) and encoded as UTF-8."""

    def __init__(self, src: BinaryIO, encoding: str):
        super().__init__(src)
        self.decoder = codecs.getincrementaldecoder(encoding)()

    def _refill(self) -> None:
        data = self.src.read(CHUNK)
        self.eof = not data
        self.out += self.decoder.decode(data, final=self.eof).encode("utf-8")
