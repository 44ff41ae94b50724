"""CSV dialects Arrow's reader does not have: lines skipped at the top, comment lines, and
"whitespace" (runs of spaces and tabs) as the delimiter. DialectReader rewrites the byte stream
on its way to Arrow, block by block, so memory stays bounded by the block size. It sits between
the decompressor (over the raw-hashing reader) and the parser: the raw hash is still of the
bytes as they landed."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv

from laas.tasks.bad_records import RecordDrops, RowsToDrop
from laas.tasks.bad_values import ValueCheck, bad_value
from laas.tasks.csv_dialect import WHITESPACE, CsvDialect
from laas.tasks.csv_header import HeadRecorder, check_header, header_names
from laas.tasks.line_stream import LineStream
from laas.tasks.short_rows import RowPadder, ShortRowWatch
from laas.tasks.timestamps import CSV_NULLS, NotTimestamp, as_text, parsed

_BLANKS = re.compile(rb"[ \t]+")
_EDGE_BLANKS = re.compile(rb"(?m)^[ \t]+|[ \t]+(?=\r?$)")  # leading/trailing per line


def needs_rewrite(d: CsvDialect) -> bool:
    return bool(d.skip_rows or d.comment or d.delimiter == WHITESPACE)


def csv_batches(f: BinaryIO, fmt: str, schema: pa.Schema, d: CsvDialect, block_size: int,
                pad: bool = False, drops: RecordDrops | None = None, droppable: bool = False
                ) -> Iterator[pa.RecordBatch]:
    """The rows of a csv/tsv shard, in dialect d; raises ShortRows at a row with fewer fields
    than the header unless `pad` (then such rows get empty trailing fields), and RowsToDrop at
    one with more if `droppable` (read again with `drops`: such rows are left out, noted).
    Timestamp columns are read as text and converted (tasks.timestamps: a date without a zone
    is UTC), as the JSONL reader reads them; a cell that is none is a bad value too."""
    watch = ShortRowWatch()
    text = as_text(schema)
    nulls = CSV_NULLS if d.null_values is None else None  # else Arrow nulls them as asked

    def timestamps(batch: pa.RecordBatch, before: int = 0) -> pa.RecordBatch:
        return batch if text is schema else parsed(batch, schema, before, nulls)

    try:
        before = 0
        for batch in open_batches(f, fmt, text, d, block_size, pad, watch, drops, timestamps):
            yield timestamps(batch, before)
            before += batch.num_rows
    except NotTimestamp:
        if droppable:
            raise RowsToDrop from None
        raise
    except pa.ArrowInvalid as e:
        watch.missed(str(e))
        if watch.short is not None and not pad:
            raise watch.short from None
        if droppable and (watch.long or bad_value(str(e)) or (
                d.encoding == "utf-8" and "invalid UTF8" in str(e))):
            raise RowsToDrop from None
        raise


def open_batches(f: BinaryIO, fmt: str, schema: pa.Schema, d: CsvDialect, block_size: int,
                 pad: bool = False, watch: ShortRowWatch | None = None,
                 drops: RecordDrops | None = None, then: Callable | None = None
                 ) -> pacsv.CSVStreamingReader:
    """Arrow's streaming CSV reader over f, in dialect d; `then`: what the rows' batches
    still go through (a cell it refuses is a bad value, as one Arrow refuses)."""
    src = DialectReader(f, d) if needs_rewrite(d) else f
    delimiter = " " if d.delimiter == WHITESPACE else d.delimiter_for(fmt)
    # Utf-8 is Arrow's own (it validates it); naming it would add a needless transcoding pass.
    encoding = "utf8" if d.encoding == "utf-8" else d.encoding
    read = pacsv.ReadOptions(block_size=block_size, encoding=encoding,
                             column_names=None if d.header else schema.names)
    syntax = dict(  # a rewritten "whitespace" stream has one space between fields
        delimiter=delimiter, quote_char=d.quote or False, escape_char=d.escape or False,
        newlines_in_values=d.quote is not None)  # a quoted value may span lines
    convert = pacsv.ConvertOptions(column_types=schema, include_columns=schema.names)
    if d.null_values is not None:
        convert.null_values = list(d.null_values)
        convert.strings_can_be_null = True  # "NA" in a text column is a null, as asked
    if pad or drops is not None:
        check = ValueCheck(pacsv.ReadOptions(encoding=encoding, use_threads=False,
                                             column_names=read.column_names),
                           pacsv.ParseOptions(**syntax), convert, then
                           ) if drops is not None else None
        src = RowPadder(src, *(c.encode(d.encoding) if c else None
                               for c in (delimiter, d.quote, d.escape)),
                        fields=None if d.header else len(schema.names), pad=pad, drops=drops,
                        utf8=d.encoding == "utf-8", check=check,
                        comment=None if d.inline_comments or not d.comment
                        else d.comment.encode(d.encoding))
    parse = pacsv.ParseOptions(**syntax, invalid_row_handler=watch)
    if not d.header:
        return pacsv.open_csv(src, read_options=read, parse_options=parse,
                              convert_options=convert)
    kept = HeadRecorder(src)  # the header line, to name what it holds or holds twice
    try:
        reader = pacsv.open_csv(kept, read_options=read, parse_options=parse,
                                convert_options=convert)
    except KeyError:  # a schema column the header lacks
        check_header(schema.names, header_names(kept.first, read, parse))
        raise
    check_header(schema.names, header_names(kept.first, read, parse))
    return reader


class DialectReader(LineStream):
    """src with the first skip_rows lines dropped, comment lines dropped and, for
    "whitespace", blanks outside quotes collapsed into one space (and trimmed at the ends of
    lines)."""

    def __init__(self, src: BinaryIO, d: CsvDialect):
        super().__init__(src)
        self.d = d
        self.to_skip = d.skip_rows
        self.in_quote = False  # the previous line ended inside a quoted value
        self.comment = d.comment.encode(d.encoding) if d.comment else None
        # inline: a line of blanks and a comment goes whole too, and a comment after data
        # with the blanks before it (a field's trailing blanks are no data a reader expects)
        lead = rb"[ \t]*" if d.inline_comments else b""
        self.comment_lines = re.compile(rb"(?m)^" + lead + re.escape(self.comment)
                                        + rb"[^\n]*(?:\n|\Z)") if self.comment else None
        self.inline = re.compile(lead + re.escape(self.comment) + rb"[^\r\n]*"
                                 ) if d.inline_comments else None
        self.specials = [c.encode(d.encoding) for c in (d.quote, d.escape) if c]
        self.tokens = _token_patterns(d)

    def _lines(self, block: bytes) -> bytes:
        return self._rewrite(self._skip(block))

    def _skip(self, block: bytes) -> bytes:
        while self.to_skip and block:
            cut = block.find(b"\n")
            block = block[cut + 1:] if cut >= 0 else b""
            self.to_skip -= 1
        return block

    def _rewrite(self, block: bytes) -> bytes:
        if not self.in_quote and not any(c in block for c in self.specials):
            return self._rewrite_plain(block)  # no quoting to respect: whole-block regexes
        return b"".join(self._rewrite_line(line) for line in block.splitlines(keepends=True))

    def _rewrite_plain(self, block: bytes) -> bytes:
        if self.d.delimiter == WHITESPACE:
            block = _BLANKS.sub(b" ", _EDGE_BLANKS.sub(b"", block))
        if self.comment_lines:
            block = self.comment_lines.sub(b"", block)
        if self.inline:
            block = self.inline.sub(b"", block)
        return block

    def _rewrite_line(self, line: bytes) -> bytes:
        """One physical line, tracking whether it starts/ends inside a quoted value."""
        starts_record = not self.in_quote
        out = bytearray()
        pos = 0
        while pos < len(line):
            m = self.tokens[self.in_quote].match(line, pos)
            kind, text, pos = m.lastgroup, m.group(), m.end()
            if kind == "quote":
                self.in_quote = not self.in_quote
            elif kind == "comment":  # inline, outside quotes: the rest of the line goes
                out, text = bytearray(out.rstrip(b" \t")), b""
                if starts_record and not out:
                    return b""  # blanks and a comment: no record
            elif kind == "blanks":  # outside quotes, whitespace dialect only
                at_edge = (starts_record and not out) or not line[pos:].strip(b"\r\n")
                text = b"" if at_edge else b" "
            out += text
        if starts_record and self.comment and out.startswith(self.comment):
            self.in_quote = False  # a quote in a comment opens nothing
            return b""
        return bytes(out)


def _token_patterns(d: CsvDialect) -> tuple[re.Pattern[bytes], re.Pattern[bytes]]:
    """(outside quotes, inside quotes) tokenizers of one line. A doubled quote inside quotes
    and an escaped character anywhere are literal; blanks are a token of their own only where
    they delimit."""
    enc = d.encoding
    q = re.escape(d.quote.encode(enc)) if d.quote else None
    e = re.escape(d.escape.encode(enc)) if d.escape else None
    blanks = d.delimiter == WHITESPACE
    c = re.escape(d.comment.encode(enc)) if d.comment and d.inline_comments else None
    specials = b"".join(x for x in (q, e) if x)

    def pattern(inside: bool) -> re.Pattern[bytes]:
        alts = []
        if e:
            alts.append(rb"(?P<escaped>" + e + rb".)")
        if q and inside:
            alts.append(rb"(?P<doubled>" + q + q + rb")")
        if q:
            alts.append(rb"(?P<quote>" + q + rb")")
        if blanks and not inside:
            alts.append(rb"(?P<blanks>[ \t]+)")
        if c and not inside:
            alts.append(rb"(?P<comment>" + c + rb"[^\r\n]*)")
        stop = specials + (rb" \t" if blanks and not inside else b"") + (
            c if c and not inside else b"")
        alts.append(rb"(?P<text>[^" + stop + rb"]+)" if stop else rb"(?P<text>.+)")
        alts.append(rb"(?P<last>.)")  # an escape character ending the stream
        return re.compile(b"|".join(alts), re.DOTALL)

    return pattern(False), pattern(True)
