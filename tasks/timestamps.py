"""Timestamp columns of readers that cannot parse them as the JSONL reader does. Arrow's JSON
reader takes an ISO 8601 text with a zone offset as that instant and one without (a date,
`2003-09-19 10:00`) as UTC; Arrow's CSV reader and a cast to timestamp[us, UTC] refuse the
latter (`expected a zone offset`), yet dates without a zone are what most tables hold. So the
CSV and JSON-array readers read such columns as text and convert them here, the JSONL way."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from laas.tasks.csv_header import BadTable

AWARE = pa.timestamp("us", tz="UTC")
_NAIVE = pa.timestamp("us")
# A time followed by a zone offset: "T10:00Z", " 10:00:00+02:00", "T10+0200" (a date alone
# ends in "-01" too, so the offset must follow a time).
_ZONED = r"[T ]\d{2}(:?\d{2}(:?\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}(:?\d{2})?)$"
# Arrow's CSV reader's null markers, which a timestamp column read as text no longer applies.
CSV_NULLS = pa.array(["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
                      "1.#IND", "1.#QNAN", "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null"])


class NotTimestamp(BadTable):
    """A cell of a timestamp column that is no ISO 8601 timestamp; the message names it, and
    `short` (the reason a record left out under drop_rows is given) names the cell alone."""

    def __init__(self, message: str, short: str = ""):
        super().__init__(message)
        self.short = short or message


def as_text(schema: pa.Schema) -> pa.Schema:
    """The schema with its timestamp columns read as text (converted by `parsed`); the
    schema itself when it has none."""
    if not any(f.type == AWARE for f in schema):
        return schema
    return pa.schema([f.with_type(pa.string()) if f.type == AWARE else f for f in schema])


def parsed(batch: pa.RecordBatch, schema: pa.Schema, before: int = 0,
           nulls: pa.Array | None = None) -> pa.RecordBatch:
    """`batch` (read under as_text(schema)) with its timestamp columns converted; cells in
    `nulls` are null. `before`: the shard's rows before this batch, for the message."""
    columns = []
    for field, column in zip(schema, batch.columns, strict=True):
        if field.type == AWARE and column.type != AWARE:
            if nulls is not None:
                column = pc.if_else(pc.is_in(column, value_set=nulls), None, column)
            column = _timestamps(column, field.name, before)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=schema.remove_metadata())


def _timestamps(text: pa.Array, name: str, before: int) -> pa.Array:
    try:
        return text.cast(_NAIVE).cast(AWARE)  # all without a zone: the common case
    except pa.ArrowInvalid:
        pass
    try:
        return text.cast(AWARE)  # all with one
    except pa.ArrowInvalid:
        pass
    zoned = pc.fill_null(pc.match_substring_regex(text, _ZONED), False)
    try:  # some of each
        out = pc.replace_with_mask(pa.nulls(len(text), AWARE), zoned,
                                   text.filter(zoned).cast(AWARE))
        return pc.replace_with_mask(out, pc.invert(zoned),
                                    text.filter(pc.invert(zoned)).cast(_NAIVE).cast(AWARE))
    except pa.ArrowInvalid:
        raise _first_bad(text, name, before) from None


def _first_bad(text: pa.Array, name: str, before: int) -> NotTimestamp:
    for i, value in enumerate(text.to_pylist()):  # only once, when the shard is refused
        for kind in (_NAIVE, AWARE):
            try:
                pa.array([value], pa.string()).cast(kind)
                break
            except pa.ArrowInvalid:
                continue
        else:
            return NotTimestamp(
                f"column {name}, row {before + i + 1}: {value!r} is not an ISO 8601 timestamp "
                "(such as 2003-09-19, 2003-09-19 10:00:00 or 2003-09-19T10:00:00+02:00; "
                "without a zone it is read as UTC); declare the column as string to keep it "
                "as text", f"{value[:40]!r} in column {name} is not an ISO 8601 timestamp")
    return NotTimestamp(f"column {name}: not ISO 8601 timestamps")
