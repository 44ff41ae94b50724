"""What went wrong reading a shard, as the one line a person reads: the shard named, the
cause, and the setting to change where there is one."""

from __future__ import annotations

import contextlib
import json
import zlib

import pyarrow as pa

from laas.anchors.adapters.files import redact
from laas.errors import SchemaError, ShardReadError
from laas.tasks.bad_values import bad_value
from laas.tasks.dataset_spec import TABLE_FORMATS, DatasetSpec
from laas.tasks.jsonl_lines import first_bad_line
from laas.tasks.short_rows import field_counts
from laas.tasks.transcode import Unmarked

READ_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OSError,
               EOFError, zlib.error, json.JSONDecodeError, UnicodeDecodeError)


def describe_error(exc: BaseException) -> str:
    text = str(exc).strip()
    msg = text.splitlines()[0] if text else type(exc).__name__
    if isinstance(exc, PermissionError):
        msg = f"access denied ({msg}); check the storage credentials"
    return redact(f"{type(exc).__name__}: {msg}")[:300]


def columns_hint(fmt: str) -> str:
    return "; check the spec's csv.delimiter and csv.header" if fmt in TABLE_FORMATS else ""


def encoding_hint(fmt: str) -> str:
    """What to set when a shard of `fmt` is not in the encoding it was read in ("" for the
    formats that are UTF-8 by definition)."""
    if fmt not in (*TABLE_FORMATS, "text"):
        return ""
    return f"; if it is in another encoding, set {'text' if fmt == 'text' else 'csv'}" \
        ".encoding in the spec (latin-1, cp1252…)"


def read_problem(e: BaseException, fmt: str, name: str, uri: str, spec: DatasetSpec,
                 schema: pa.Schema) -> ShardReadError:
    """The error to raise for `e`, met reading shard `uri` (shown as `name`) of format `fmt`."""
    text = describe_error(e)
    if isinstance(e, EOFError):  # gzip, bz2, xz and (tasks.zstd_frames) zstd say so
        return ShardReadError(f"shard {name}: cut off: its compressed stream ends early "
                              f"({text}); copy or upload it again whole")
    if "Empty JSON stream" in text or "Empty CSV file" in text:  # Arrow's words for no bytes
        return ShardReadError(f"shard {name}: empty (0 rows)")
    if "include_columns" in text or "does not exist" in text:
        return SchemaError(f"shard {name}: missing column ({text}){columns_hint(fmt)}")
    if isinstance(e, Unmarked):
        return ShardReadError(f"shard {name}: {e.reason.upper()} without its byte order mark "
                              f"(read as UTF-8, every other byte would be NUL); set "
                              f"{'text' if fmt == 'text' else 'csv'}.encoding: {e.reason}")
    if "invalid UTF8" in text or isinstance(e, UnicodeDecodeError):
        return ShardReadError(f"shard {name}: not well-formed UTF-8 ({text}){encoding_hint(fmt)}")
    if found := bad_value(text):  # a cell of a typed column: say which, and what to do
        col, kind, value = found
        named = "" if spec.csv.header else f" ({schema.names[col]})" \
            if col < len(schema.names) else ""
        return SchemaError(
            f"shard {name}: {value[:40]!r} in column {col + 1}{named} is not {kind}; if it "
            "marks a missing value, list it in csv.null_values, else declare the column string "
            f"(or set on_failure: drop_rows to leave such rows out){_comment_hint(value, spec)}")
    where = ""
    if fmt == "jsonl":  # Arrow names a row of its block: find the line a person would open
        with contextlib.suppress(*READ_ERRORS):
            where = f" at {line}" if (line := first_bad_line(uri, schema, spec.kinds)) else ""
    long = (_comment_hint(text, spec) or _long_hint(text)) if "columns, got" in text else ""
    return ShardReadError(f"shard {name}: not valid {fmt}{where} ({text}){long}")


def _long_hint(text: str) -> str:
    """What to set for a row with more fields than the header (Arrow's own words)."""
    if not (counts := field_counts(text)) or counts[1] <= counts[0]:
        return ""
    return ("; a row has more fields than the header: check csv.delimiter and csv.quote, or "
            "set on_failure: drop_rows to leave such rows out")


def _comment_hint(text: str, spec: DatasetSpec) -> str:
    """A row too long, or a cell not of its type, as a comment follows the data (timezone
    tables, /etc files): csv.comment alone skips whole lines only."""
    d = spec.csv
    if d.comment and not d.inline_comments and d.comment in text:
        return (f"; if {d.comment!r} starts a comment after the data on a line, set "
                "csv.inline_comments: true")
    return ""
