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

from laas.tasks.bad_records import RecordDrops
from laas.tasks.text_layout import TextLayout

MAX_DOCUMENT = 256 << 20  # bytes of one document (a row per file), read whole
_PARAGRAPH_BREAK = re.compile(r"\n(?:[ \t\r\f\v]*\n)+")  # blank lines, whole
_BREAK = re.compile(_PARAGRAPH_BREAK.pattern.encode())
_LEADING_BLANKS = re.compile(r"^(?:[ \t\r\f\v]*\n)+")  # a block may start in a break


def text_batches(f: BinaryIO, column: str, layout: TextLayout, block_size: int,
                 drops: RecordDrops | None = None) -> Iterator[pa.RecordBatch]:
    """With `drops` (drop_rows), a line or paragraph not in the layout's encoding is left out
    and noted (numbered as an editor counts lines, or paragraphs from 1) instead of the
    whole shard refused."""
    schema = pa.schema([pa.field(column, pa.string())])
    first = True
    seen = 0  # lines or paragraphs before this block
    for block in _blocks(f, layout, block_size):
        if first:
            block, first = _without_bom(block, layout.encoding), False
        if drops is None or layout.unit == "document":
            rows = _rows(block.decode(layout.encoding), layout.unit)
        else:
            rows, seen = _readable_rows(block, layout, drops, seen)
        if rows:
            yield pa.record_batch([pa.array(rows, pa.string())], schema=schema)


def _without_bom(block: bytes, encoding: str) -> bytes:
    try:
        bom = "\ufeff".encode(encoding)
    except UnicodeEncodeError:  # an encoding without one (latin-1): its bytes are text
        return block
    return block[len(bom):] if block.startswith(bom) else block


def _readable_rows(block: bytes, layout: TextLayout, drops: RecordDrops,
                   seen: int) -> tuple[list[str], int]:
    """The rows of a block, its units that do not decode left out (and `seen` moved on)."""
    drops.unit = layout.unit
    # split as the bytes are, so a unit left out is kept as the source holds it (_rows
    # takes care of "\r\n" for the units kept)
    units = block.split(b"\n") if layout.unit == "line" else \
        [u for u in _BREAK.split(block) if u.strip()]
    if layout.unit == "line" and units and not units[-1]:
        units.pop()  # after the block's last newline
    rows = []
    for n, unit in enumerate(units, seen + 1):
        try:
            rows += _rows(unit.decode(layout.encoding), layout.unit)
        except UnicodeDecodeError:
            drops.add(n, f"not {layout.encoding}", unit.rstrip(b"\r\n"))
    return rows, seen + len(units)


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
