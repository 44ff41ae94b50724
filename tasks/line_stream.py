"""A byte stream rewritten a whole line at a time, for Arrow's CSV reader to read through."""

from __future__ import annotations

import io
from typing import Any, BinaryIO

CHUNK = 1 << 20  # bytes pulled from the source per refill
MAX_LINE = 256 << 20  # bytes of one line (or CSV record) held whole: as Arrow's biggest block


class BigRecord(Exception):
    """A record longer than the block it must fit in: read the shard again with bigger
    blocks (Arrow's), or refuse it (a line rewriter's: past MAX_LINE)."""


class ReadThrough:
    """A read-only stream over src that Arrow or a decompressor reads through (`read` is the
    subclass's); the caller's `with` closes src."""

    def __init__(self, src: Any):
        self.src = src

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        pass

    @property
    def closed(self) -> bool:
        return False


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
        # an incomplete last line, in the pieces it came in: joined to each new piece, a
        # line of some GB without a newline took time quadratic in its length
        self.tail: list[bytes] = []
        self.tail_size = 0  # bytes in tail

    def _refill(self) -> None:
        data = self.src.read(CHUNK)
        if not data:
            self.eof = True
            block, self.tail = b"".join(self.tail), []
        elif (cut := data.rfind(b"\n") + 1) == 0:
            self.tail.append(data)
            self.tail_size += len(data)
            if self.tail_size > MAX_LINE:  # bounded as Arrow bounds a record: by its biggest block
                raise BigRecord
            return
        else:
            block = b"".join((*self.tail, data[:cut]))
            self.tail, self.tail_size = [data[cut:]], len(data) - cut
        if block or self.eof:  # at the end, _lines hands on what it held back
            self.out += self._lines(block)

    def _lines(self, block: bytes) -> bytes:
        raise NotImplementedError
