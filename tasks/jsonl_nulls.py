"""`null` in a JSONL shard where Arrow would take it for a row (or crash on it), found as
the bytes pass Arrow's reader, in C."""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa

from laas.tasks.line_stream import ReadThrough

# `null` as the first value after a line break (Arrow's blocks end at "\n" or "\r"); two
# patterns, each led by its break: a pattern led by a set of bytes is searched 25x slower
_NULL_FIRST = tuple(re.compile(brk + rb"[ \t\r\n]*null") for brk in (rb"\n", rb"\r"))
# `null` after an object on its line, which Arrow reads as a second row, all null (or text
# inside a string: only a line-by-line read tells)
_NULL_AFTER = re.compile(rb"\}[ \t\r\n]*null")
_HEAD_NULL = re.compile(rb"[\n}][ \t\r\n]*null")  # the kept head joined to a read
_BLANKS = b" \t\r\n"
_LEAD = re.compile(rb"[ \t\r\n]*")  # (bytes.lstrip would copy a whole read)


class LinesToJudge(Exception):
    """Arrow may have taken a line laas does not (`null` after an object, NaN in a column
    the schema takes): read the shard again line by line."""


def _null_first(data: bytes) -> bool:
    """Whether a line of `data` (after its first break) starts with `null`: ~1 ns a byte, a
    fifth of Arrow's parse (a substring search first is slower: ~2 ns a byte on text)."""
    return bool(_NULL_FIRST[0].search(data)
                or b"\r" in data and _NULL_FIRST[1].search(data))  # a lone CR breaks too


class NullLines(ReadThrough):
    """src, refusing (ArrowInvalid, as Arrow refuses a line) a line whose first value is
    `null`: Arrow's JSON reader (pyarrow 26) crashes the process (a segmentation fault) on
    one that starts a block of its, and reads one elsewhere as a row of nulls; a row is an
    object. `null` after an object (`{..} null`, else a row of nulls too) raises LinesToJudge,
    or ArrowInvalid with `refuse` (drop_rows: the filtered read judges the line). Searched as
    the bytes pass, in C; between reads only whether the stream is at a line's start or
    after a `}`, and the `n`, `nu` or `nul` it ends with, are kept."""

    def __init__(self, src: Any, refuse: bool = False):
        super().__init__(src)
        self.refuse = refuse
        self.head = b"\n"  # b"\n" or b"}" + the null's start so far; else b""

    def read(self, n: int = -1) -> bytes:
        data = self.src.read(n)
        joined = self.head + data[:_LEAD.match(data).end() + 4] if self.head else b""
        if joined[:1] == b"\n" and _HEAD_NULL.match(joined) or _null_first(data):
            raise pa.ArrowInvalid("JSON parse error: a line is null, not an object")
        if _HEAD_NULL.match(joined) or _NULL_AFTER.search(data):
            if self.refuse:
                raise pa.ArrowInvalid("JSON parse error: null after an object")
            raise LinesToJudge
        if data:  # a short read may go on what the head holds
            self.head = self._after(self.head + data if len(data) < 8 else data)
        return data

    def _after(self, data: bytes) -> bytes:
        part = next(p for p in (b"nul", b"nu", b"n", b"") if data.endswith(p))
        end, k = len(data) - len(part), 64
        while True:  # the blanks before `part`, from the end (a slice of the read is copied)
            tail = data[max(0, end - k):end]
            if (kept := tail.rstrip(_BLANKS)) or k >= end:
                break
            k *= 8
        blanks = tail[len(kept):]
        at_start = b"\n" in blanks or b"\r" in blanks or (
            not kept and self.head == b"\n")  # blanks only, at a line start
        after = kept.endswith(b"}") or not kept and self.head[:1] == b"}"
        return b"\n" + part if at_start else b"}" + part if after else b""
