"""Where a JSONL shard Arrow refused goes wrong, for the message: Arrow names a row within
its parse block ("in row 0"), not the line a person would open the file at. Read again line by
line, only after Arrow failed, to the first line that is not a JSON object whose fields fit
the schema."""

from __future__ import annotations

import io
import json
import math
import re
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from laas.anchors.adapters.files import open_uri

_FITS = {"string": (str,), "int64": (int,), "float64": (int, float), "bool": (bool,),
         "timestamp": (str, int)}


def first_bad_line(uri: str, schema: pa.Schema, kinds: dict[str, str],
                   limit_bytes: int = 1 << 30) -> str | None:
    """"line N: why" for the first line that cannot be a row of `schema` (`kinds`: column ->
    the spec's type name), or None if none is found in the first `limit_bytes`."""
    seen = 0
    with open_uri(uri, compression="infer") as f:
        for n, line in enumerate(f, 1):
            seen += len(line)
            if seen > limit_bytes:
                return None
            if problem := line_problem(line, schema, kinds):
                return f"line {n}: {problem}"
    return None


TWICE = "a field given twice"  # readers disagree on which value such an object holds
BIG = "a number too big for a double"  # Arrow refuses it wherever it is; Python reads inf


def constant_problem(name: str) -> str:
    return f"{name} is not JSON"  # NaN, Infinity: Python's json takes them, JSON has none


class _Constant(float):
    """NaN or Infinity, as it was written: no JSON, refused in a column the schema takes
    (Arrow reads it elsewhere, and so must a line read again)."""

    def __new__(cls, name: str) -> _Constant:
        c = super().__new__(cls, name)
        c.name = name
        return c


class _Twice(dict):
    """An object giving the fields `names` twice: Arrow refuses it for a schema column."""

    names: frozenset[str] = frozenset()


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    row = dict(pairs)
    if len(row) != len(pairs):
        row = _Twice(row)
        row.names = frozenset(k for i, (k, _) in enumerate(pairs) if k in dict(pairs[:i]))
    return row


def _finite(text: str) -> float:
    if math.isinf(v := float(text)):
        raise ValueError(BIG)
    return v


_DECODER = json.JSONDecoder(parse_constant=_Constant, parse_float=_finite,
                            object_pairs_hook=_object)
_JSON_BLANKS = re.compile(r"[ \t\r\n]*")  # JSON's whitespace, which Arrow skips between values
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def line_problem(line: bytes, schema: pa.Schema, kinds: dict[str, str]) -> str | None:
    """Why this line cannot be rows of `schema`, as Arrow's reader would refuse it (None:
    rows, or a blank line). Arrow reads the values of a line one after another, each a row
    (`{"a": 1} {"a": 2}` is two): so is the line judged, whole, else a line the first read
    handed on as rows would be a record the read again leaves out. Fields the schema does
    not take are judged as Arrow judges them (it skips a field given twice, bytes not UTF-8
    and any depth there), so a line reads alike whatever else its shard holds."""
    if not line.strip():
        return None
    try:
        text, bad = line.decode(), False  # decoded: json guesses UTF-16
    except UnicodeDecodeError:
        text, bad = line.decode(errors="surrogateescape"), True
    at = _JSON_BLANKS.match(text).end()
    while at < len(text):
        try:
            row, at = _DECODER.raw_decode(text, at)
        except json.JSONDecodeError as e:
            return "not UTF-8" if bad else \
                f"not JSON ({e.msg.removesuffix(' at')} at column {e.colno})"
        except ValueError as e:  # a number too big
            return f"not JSON ({e})"
        except RecursionError:  # deeper than Python parses: Arrow reads deeper, and judges
            return None if _arrow_takes(line, schema) else "not JSON (nested too deep)"
        if problem := row_problem(row, schema, kinds, bad):
            return problem
        if _SURROGATE_ESCAPE.search(text) and _lone_anywhere(row, bad):
            return "a lone UTF-16 surrogate escape"  # Arrow refuses one in any field
        at = _JSON_BLANKS.match(text, at).end()
    return None


def row_problem(row: Any, schema: pa.Schema, kinds: dict[str, str],
                bad_utf8: bool = False) -> str | None:
    """Why this parsed JSON value cannot be a row of `schema`, if it cannot."""
    if not isinstance(row, dict):
        return f"a JSON {json_kind(row)}, not an object"
    if isinstance(row, _Twice) and row.names & set(schema.names):
        return f"not JSON ({TWICE})"
    for name in schema.names:
        v, kind = row.get(name), kinds[name]
        if isinstance(v, _Constant):
            return f"not JSON ({constant_problem(v.name)})"
        if v is not None and (not isinstance(v, _FITS[kind])
                              or (kind != "bool" and isinstance(v, bool))
                              or (kind == "int64" and not _INT64[0] <= v <= _INT64[1])):
            article = "an" if kind[0] in "aeiou" else "a"
            return f"{name} is {json.dumps(v)[:40]}, not {article} {kind}"
        if isinstance(v, str) and _lone_surrogate(v):
            return "not UTF-8" if bad_utf8 else f"{name} holds a lone UTF-16 surrogate escape"
    return None


_INT64 = (-(1 << 63), (1 << 63) - 1)


def _lone_anywhere(value: Any, bad_utf8: bool) -> bool:
    """Whether a key or string anywhere in value holds a lone surrogate that an escape wrote
    (with `bad_utf8`, U+DC80-DCFF stand for bytes not UTF-8, which Arrow skips); walked with
    a list, not recursion."""
    todo = [value]
    while todo:
        v = todo.pop()
        if isinstance(v, dict):
            todo.extend(v.keys())
            todo.extend(v.values())
        elif isinstance(v, list):
            todo.extend(v)
        elif isinstance(v, str) and _lone_surrogate(v) and not (
                bad_utf8 and all("\udc80" <= c <= "\udcff" for c in v
                                 if "\ud800" <= c <= "\udfff")):
            return True
    return False


def _arrow_takes(line: bytes, schema: pa.Schema) -> bool:
    try:
        pajson.read_json(io.BytesIO(line), read_options=pajson.ReadOptions(
            block_size=len(line) + 1), parse_options=pajson.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="ignore"))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return False
    return True


def non_finite(batch: pa.RecordBatch) -> bool:
    """Whether a float column of `batch` holds NaN or an infinity: Arrow reads a line's
    `NaN` or `Infinity` (no JSON) as one."""
    return any(pc.any(pc.invert(pc.is_finite(c))).as_py() for c, f in
               zip(batch.columns, batch.schema, strict=True) if pa.types.is_floating(f.type))


def json_kind(value: Any) -> str:
    """JSON's own name for what a parsed value was."""
    return "null" if value is None else "boolean" if isinstance(value, bool) else \
        "number" if isinstance(value, int | float) else "string" if isinstance(value, str) \
        else "array" if isinstance(value, list) else "object"


def _lone_surrogate(v: str) -> bool:
    try:
        v.encode()
    except UnicodeEncodeError:
        return True
    return False
