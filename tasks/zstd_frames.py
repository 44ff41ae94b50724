"""A zstd shard read to the end of its last frame, or refused as cut off: python-zstandard's
reader ends quietly where the compressed bytes end, so a file whose upload stopped read as
fewer rows (under drop_rows its cut last line left out, the rest committed) or as a parse
error that named neither the cut nor what to do. gzip, bz2 and xz say so themselves."""

from __future__ import annotations

from typing import Any

from fsspec.compression import compr

from laas.tasks.line_stream import ReadThrough

_MAGIC = 0xFD2FB528
_SKIPPABLE = range(0x184D2A50, 0x184D2A60)
_DICT_ID = (0, 1, 2, 4)
_CUT = "Compressed file ended before the end of a zstd frame"


def decompressed(src: Any, codec: str) -> Any:
    """src decompressed by `codec` (fsspec's name), a zstd stream checked to end whole."""
    return compr[codec](ZstdFrames(src) if codec == "zstd" else src, mode="rb")


class ZstdFrames(ReadThrough):
    """src passed on as it is read, its zstd frames walked by their headers alone (a block
    header every 128 KB at most, so the walk costs nothing to speak of): at the end of src
    the last frame must be whole, else EOFError, as gzip raises for a cut stream."""

    def __init__(self, src: Any):
        super().__init__(src)
        self.head = b""  # the header being collected
        self.want = 4  # its length (a frame's magic number first)
        self.skip = 0  # bytes to pass before the next header
        self.step = self._magic
        self.checksum = False  # the frame ends in a 4-byte checksum

    def read(self, n: int = -1) -> bytes:
        data = self.src.read(n)
        if not data and (self.skip or self.head or self.step != self._magic):
            raise EOFError(_CUT)
        at = 0
        while at < len(data) and self.step is not None:
            if self.skip:
                passed = min(self.skip, len(data) - at)
                self.skip -= passed
                at += passed
                continue
            take = data[at:at + self.want - len(self.head)]
            self.head += take
            at += len(take)
            if len(self.head) == self.want:
                head, self.head = self.head, b""
                self.step(int.from_bytes(head, "little"))
        return data

    def _magic(self, magic: int) -> None:
        if magic == _MAGIC:
            self.step, self.want = self._descriptor, 1
        elif magic in _SKIPPABLE:
            self.step, self.want = self._skippable, 4
        else:
            self.step = None  # not zstd: the decompressor says so
            self.skip = 0

    def _skippable(self, size: int) -> None:
        self.skip, self.step, self.want = size, self._magic, 4

    def _descriptor(self, d: int) -> None:
        single, size_flag = d >> 5 & 1, d >> 6
        self.checksum = bool(d >> 2 & 1)
        self.skip = (0 if single else 1) + _DICT_ID[d & 3] + (single, 2, 4, 8)[size_flag]
        self.step, self.want = self._block, 3

    def _block(self, header: int) -> None:
        last, kind, size = header & 1, header >> 1 & 3, header >> 3
        self.skip = 1 if kind == 1 else size  # an RLE block holds its one byte
        if last:
            self.skip += 4 if self.checksum else 0
            self.step, self.want = self._magic, 4
