"""Where a JSONL shard Arrow refused goes wrong, for the message: Arrow names a row within
its parse block ("in row 0"), not the line a person would open the file at. Read again line by
line, only after Arrow failed, to the first line that is not a JSON object whose fields fit
the schema."""

from __future__ import annotations

import json
import re
from typing import Any

import pyarrow as pa

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


def _no_constant(name: str) -> None:
    raise ValueError(constant_problem(name))


TWICE = "a field given twice"  # readers disagree on which value such an object holds


def constant_problem(name: str) -> str:
    return f"{name} is not JSON"  # NaN, Infinity: Python's json takes them, JSON has none


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    row = dict(pairs)
    if len(row) != len(pairs):
        raise ValueError(TWICE)
    return row


_DECODER = json.JSONDecoder(parse_constant=_no_constant, object_pairs_hook=_unique_keys)
_JSON_BLANKS = re.compile(r"[ \t\r\n]*")  # JSON's whitespace, which Arrow skips between values


def line_problem(line: bytes, schema: pa.Schema, kinds: dict[str, str]) -> str | None:
    """Why this line cannot be rows of `schema`, as Arrow's reader would refuse it (None:
    rows, or a blank line). Arrow reads the values of a line one after another, each a row
    (`{"a": 1} {"a": 2}` is two): so is the line judged, whole, else a line the first read
    handed on as rows would be a record the read again leaves out."""
    if not line.strip():
        return None
    try:
        text = line.decode()  # decoded: json guesses UTF-16
    except UnicodeDecodeError:
        return "not UTF-8"
    at = _JSON_BLANKS.match(text).end()
    while at < len(text):
        try:
            row, at = _DECODER.raw_decode(text, at)
        except json.JSONDecodeError as e:
            return f"not JSON ({e.msg.removesuffix(' at')} at column {e.colno})"
        except ValueError as e:  # a constant or a field given twice
            return f"not JSON ({e})"
        except RecursionError:
            return "not JSON (nested too deep)"
        if problem := row_problem(row, schema, kinds):
            return problem
        at = _JSON_BLANKS.match(text, at).end()
    return None


def row_problem(row: Any, schema: pa.Schema, kinds: dict[str, str]) -> str | None:
    """Why this parsed JSON value cannot be a row of `schema`, if it cannot."""
    if not isinstance(row, dict):
        return f"a JSON {json_kind(row)}, not an object"
    for name in schema.names:
        v, kind = row.get(name), kinds[name]
        if v is not None and (not isinstance(v, _FITS[kind])
                              or (kind != "bool" and isinstance(v, bool))
                              or (kind == "int64" and not _INT64[0] <= v <= _INT64[1])):
            article = "an" if kind[0] in "aeiou" else "a"
            return f"{name} is {json.dumps(v)[:40]}, not {article} {kind}"
        if isinstance(v, str) and _lone_surrogate(v):
            return f"{name} holds a lone UTF-16 surrogate escape"
    return None


_INT64 = (-(1 << 63), (1 << 63) - 1)


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



# `null` as the first value after a line break (Arrow's blocks end at "\n" or "\r"); two
# patterns, each led by its break: a pattern led by a set of bytes is searched 25x slower
_NULL_FIRST = tuple(re.compile(brk + rb"[ \t\r\n]*null") for brk in (rb"\n", rb"\r"))
# `null` after an object on its line, which Arrow reads as a second row, all null (or text
# inside a string: only a line-by-line read tells)
_NULL_AFTER = re.compile(rb"\}[ \t\r\n]*null")
_HEAD_NULL = re.compile(rb"[\n}][ \t\r\n]*null")  # the kept head joined to a read
_BLANKS = b" \t\r\n"
_LEAD = re.compile(rb"[ \t\r\n]*")  # (bytes.lstrip would copy a whole read)


class NullSuspect(Exception):
    """A line may hold `null` after an object: read the shard again line by line."""


def _null_first(data: bytes) -> bool:
    """Whether a line of `data` (after its first break) starts with `null`: ~1 ns a byte, a
    fifth of Arrow's parse (a substring search first is slower: ~2 ns a byte on text)."""
    return bool(_NULL_FIRST[0].search(data)
                or b"\r" in data and _NULL_FIRST[1].search(data))  # a lone CR breaks too


class NullLines:
    """src, refusing (ArrowInvalid, as Arrow refuses a line) a line whose first value is
    `null`: Arrow's JSON reader (pyarrow 26) crashes the process (a segmentation fault) on
    one that starts a block of its, and reads one elsewhere as a row of nulls; a row is an
    object. `null` after an object (`{..} null`, else a row of nulls too) raises NullSuspect,
    or ArrowInvalid with `refuse` (drop_rows: the filtered read judges the line). Searched as
    the bytes pass, in C; between reads only whether the stream is at a line's start or
    after a `}`, and the `n`, `nu` or `nul` it ends with, are kept."""

    def __init__(self, src: Any, refuse: bool = False):
        self.src, self.refuse = src, refuse
        self.head = b"\n"  # b"\n" or b"}" + the null's start so far; else b""

    def read(self, n: int = -1) -> bytes:
        data = self.src.read(n)
        joined = self.head + data[:_LEAD.match(data).end() + 4] if self.head else b""
        if joined[:1] == b"\n" and _HEAD_NULL.match(joined) or _null_first(data):
            raise pa.ArrowInvalid("JSON parse error: a line is null, not an object")
        if _HEAD_NULL.match(joined) or _NULL_AFTER.search(data):
            if self.refuse:
                raise pa.ArrowInvalid("JSON parse error: null after an object")
            raise NullSuspect
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

    def readable(self) -> bool:
        return True

    def close(self) -> None:  # the caller's `with` closes src
        pass

    @property
    def closed(self) -> bool:
        return False
