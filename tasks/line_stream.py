"""A byte stream rewritten a whole line at a time, for Arrow's CSV reader to read through."""

from __future__ import annotations

import io
from typing import BinaryIO

CHUNK = 1 << 20  # bytes pulled from the source per refill


class FillStream(io.RawIOBase):
    """A read-only byte stream whose `_refill` appends to `out` (and sets `eof` at the end of
    its source); every read is filled whole."""

    def __init__(self, src: BinaryIO):
        self.src = src
        self.out = bytearray()
        self.eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        # Fill the whole request: a short read could be taken for the end of the stream.
        while len(self.out) < len(buf) and not self.eof:
            self._refill()
        n = min(len(buf), len(self.out))
        buf[:n] = self.out[:n]
        del self.out[:n]
        return n

    def _refill(self) -> None:
        raise NotImplementedError


class LineStream(FillStream):
    """src rewritten whole lines at a time (`_lines`), block by block; a line's tail waits
    for the next refill, so memory stays bounded by the block."""

    def __init__(self, src: BinaryIO):
        super().__init__(src)
        self.tail = b""  # an incomplete last line

    def _refill(self) -> None:
        data = self.src.read(CHUNK)
        if not data:
            self.eof = True
            block, self.tail = self.tail, b""
        else:
            data = self.tail + data
            cut = data.rfind(b"\n") + 1
            block, self.tail = data[:cut], data[cut:]
        if block:
            self.out += self._lines(block)

    def _lines(self, block: bytes) -> bytes:
        raise NotImplementedError
