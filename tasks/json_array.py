"""A `format: json` shard: one array of objects, read whole (JSONL streams; use it for large
shards). An object Arrow cannot take is named by its place in the array, or left out under
drop_rows, as a JSONL line is."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, BinaryIO

import pyarrow as pa

from laas.tasks.bad_records import RecordDrops, RowsToDrop
from laas.tasks.csv_header import BadTable
from laas.tasks.jsonl_lines import row_problem
from laas.tasks.text_reader import MAX_DOCUMENT
from laas.tasks.timestamps import as_text, parsed

MAX_ARRAY = MAX_DOCUMENT  # bytes of a JSON array shard, as of a text document


def json_batches(f: BinaryIO, schema: pa.Schema, kinds: dict[str, str],
                 drops: RecordDrops | None, droppable: bool) -> Iterator[pa.RecordBatch]:
    data = f.read(MAX_ARRAY + 1)  # read whole, so bounded: objects take ~10x the text
    if len(data) > MAX_ARRAY:
        raise BadTable(f"a JSON array of more than {MAX_ARRAY >> 20} MB (read whole, it takes "
                       "~10 times that in memory): split it, or one object per line: format "
                       "jsonl")
    rows = json.loads(data)
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise BadTable("not valid json: not an array of objects; one per line: format jsonl")
    table = _table(rows, schema, kinds, drops, droppable)
    yield from (parsed(b, schema) for b in table.to_batches())


def _table(rows: list[Any], schema: pa.Schema, kinds: dict[str, str],
           drops: RecordDrops | None, droppable: bool) -> pa.Table:
    def table() -> pa.Table:  # timestamps read as text, then as JSONL reads them
        return pa.Table.from_pylist([{k: r.get(k) for k in schema.names} for r in rows],
                                    schema=as_text(schema))

    try:
        return table()
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        bad = {n: why for n, r in enumerate(rows, 1) if (why := row_problem(r, schema, kinds))}
        if not bad:
            raise
    if droppable:
        raise RowsToDrop
    if drops is None:
        n, why = next(iter(bad.items()))
        raise BadTable(f"not valid json: object {n} of the array: {why}")
    drops.unit = "object"
    for n, why in bad.items():
        drops.add(n, why, json.dumps(rows[n - 1]).encode())
    rows = [r for n, r in enumerate(rows, 1) if n not in bad]
    return table()
