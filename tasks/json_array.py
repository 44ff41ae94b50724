"""A `format: json` shard: one JSON document, read whole (JSONL streams; use it for large
shards): an array of objects, a row each, or one object, a row (a folder of one document per
file, as API dumps and crawls hold them). It is read as strictly as a JSONL line: a field given
twice or NaN/Infinity is no record, since readers disagree on what it holds. A record that
cannot be a row is named by its place in the array, or left out under drop_rows, as a JSONL
line is."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, BinaryIO

import pyarrow as pa

from laas.tasks.bad_records import RecordDrops, RowsToDrop
from laas.tasks.csv_header import BadTable
from laas.tasks.jsonl_lines import TWICE, constant_problem, json_kind, row_problem
from laas.tasks.timestamps import as_text, parsed

MAX_DOCUMENT = 256 << 20  # read whole: a bigger document belongs in JSONL, which streams


class _Twice(dict):
    """An object that gave a field twice (the last value kept, as json keeps it)."""


class _Constant:
    """NaN, Infinity or -Infinity where JSON has no such value."""

    def __init__(self, name: str):
        self.name = name


def json_batches(f: BinaryIO, schema: pa.Schema, kinds: dict[str, str],
                 drops: RecordDrops | None, droppable: bool) -> Iterator[pa.RecordBatch]:
    data = _read_whole(f, MAX_DOCUMENT)
    if len(data) > MAX_DOCUMENT:
        raise BadTable("a JSON document over 256 MB is read whole; write it as JSONL, one "
                       "object per line (format: jsonl), which streams")
    flawed = False  # an object gave a field twice, or a number is none JSON has

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal flawed
        row = dict(items)
        if len(row) == len(items):
            return row
        flawed = True
        return _Twice(row)

    def constant(name: str) -> _Constant:
        nonlocal flawed
        flawed = True
        return _Constant(name)

    try:
        doc = json.loads(data, object_pairs_hook=pairs, parse_constant=constant)
    except RecursionError:
        raise BadTable("not valid json: nested too deep") from None
    if isinstance(doc, dict):
        doc = [doc]
    elif not isinstance(doc, list):
        raise BadTable(f"not valid json: a JSON {json_kind(doc)}, not an object or an "
                       "array of objects")
    table = _table(doc, schema, kinds, drops, droppable, flawed)
    yield from (parsed(b, schema) for b in table.to_batches())


def _read_whole(f: BinaryIO, limit: int) -> bytes:
    """f's bytes to its end, or limit + 1 of them: in reads of 1 MB, as a decompressor may
    return fewer bytes than asked before its end, and one read of limit + 1 allocates that."""
    parts, size = [], 0
    while size <= limit and (part := f.read(min(1 << 20, limit + 1 - size))):
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def _table(rows: list[Any], schema: pa.Schema, kinds: dict[str, str],
           drops: RecordDrops | None, droppable: bool, flawed: bool) -> pa.Table:
    def table() -> pa.Table:  # timestamps read as text, then as JSONL reads them
        return pa.Table.from_pylist([{k: r.get(k) for k in schema.names} for r in rows],
                                    schema=as_text(schema))

    if not flawed and all(isinstance(r, dict) for r in rows):
        try:
            return table()
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass
    bad = {n: why for n, r in enumerate(rows, 1)
           if (why := flawed and _flaw(r) or row_problem(r, schema, kinds))}
    if not bad:
        return table()  # Arrow's own error, as it was
    if droppable:
        raise RowsToDrop
    if drops is None:
        n, why = next(iter(bad.items()))
        raise BadTable(f"not valid json: object {n} of the array: {why}")
    drops.unit = "object"
    for n, why in bad.items():
        drops.add(n, why, json.dumps(rows[n - 1], default=_plain).encode())
    rows = [r for n, r in enumerate(rows, 1) if n not in bad]
    return table()


def _flaw(value: Any) -> str | None:
    """The first field given twice or non-JSON number anywhere in value (walked with a list,
    not recursion: the document may nest as deep as the parser allowed)."""
    todo = [value]
    while todo:
        v = todo.pop()
        if isinstance(v, _Twice):
            return f"not JSON ({TWICE})"
        if isinstance(v, _Constant):
            return f"not JSON ({constant_problem(v.name)})"
        todo.extend(v.values() if isinstance(v, dict) else v if isinstance(v, list) else ())
    return None


def _plain(value: Any) -> Any:
    """A left-out record as it read: the constant by its name."""
    return value.name if isinstance(value, _Constant) else str(value)
