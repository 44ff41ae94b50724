"""Text shards (`format: text`) as record batches of one string column: a row per file, per
paragraph or per line (tasks.text_layout). Lines and paragraphs are streamed block by block,
cut at newline bytes (never inside a character of an ASCII-compatible encoding), so memory is
bounded by the block size; a document is read whole. Blank lines and paragraphs are no rows; a
byte order mark is not text."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

import pyarrow as pa

from laas.tasks.text_layout import TextLayout

MAX_DOCUMENT = 256 << 20  # bytes of one document (a row per file), read whole
_PARAGRAPH_BREAK = re.compile(r"\n(?:[ \t\r\f\v]*\n)+")  # blank lines, whole
_BREAK = re.compile(_PARAGRAPH_BREAK.pattern.encode())
_LEADING_BLANKS = re.compile(r"^(?:[ \t\r\f\v]*\n)+")  # a block may start in a break


def text_batches(f: BinaryIO, column: str, layout: TextLayout, block_size: int
                 ) -> Iterator[pa.RecordBatch]:
    schema = pa.schema([pa.field(column, pa.string())])
    first = True
    for block in _blocks(f, layout, block_size):
        text = block.decode(layout.encoding)
        if first:
            text, first = text.removeprefix("\ufeff"), False
        rows = _rows(text, layout.unit)
        if rows:
            yield pa.record_batch([pa.array(rows, pa.string())], schema=schema)


def _blocks(f: BinaryIO, layout: TextLayout, block_size: int) -> Iterator[bytes]:
    """The bytes in pieces that end where a row ends (the whole file for a document)."""
    if layout.unit == "document":
        data = f.read(MAX_DOCUMENT + 1)  # bounded: one huge file must not take a worker down
        if len(data) > MAX_DOCUMENT:
            raise pa.ArrowInvalid(f"a document of more than {MAX_DOCUMENT >> 20} MB; read it "
                                  "with text.unit paragraph or line")
        yield data
        return
    tail = b""
    while chunk := f.read(block_size):
        data = tail + chunk
        cut = _cut(data, layout.unit)
        yield data[:cut]
        tail = data[cut:]
        if len(tail) > MAX_DOCUMENT:  # one row held whole, as bounded as a document
            hint = "; read it with text.unit line" if layout.unit == "paragraph" else ""
            raise pa.ArrowInvalid(f"a {layout.unit} of more than {MAX_DOCUMENT >> 20} MB{hint}")
    if tail:
        yield tail


def _cut(data: bytes, unit: str) -> int:
    if unit == "line":
        return data.rfind(b"\n") + 1
    window = 1 << 16  # the last break is near the end: look there first, then further back
    while True:
        start = max(0, len(data) - window)
        end = 0
        for m in _BREAK.finditer(data, start):
            end = m.end()
        if end or not start:
            return end  # 0: a paragraph longer than the block waits for more
        window *= 8


def _rows(text: str, unit: str) -> list[str]:
    if unit == "document":
        return [text] if text.strip() else []
    if unit == "line":
        return [line.removesuffix("\r") for line in text.split("\n") if line.strip()]
    return [_LEADING_BLANKS.sub("", p).rstrip()
            for p in _PARAGRAPH_BREAK.split(text.replace("\r\n", "\n")) if p.strip()]
