"""Timestamp columns read the same from every format: a date or time without a zone (what
most tables hold: Debian's /usr/share/distro-info/*.csv, matplotlib's sample stock tables)
is UTC, as the JSONL reader has always read it, not a shard set aside for `expected a zone
offset`; a cell that is no timestamp sets its shard aside naming the column, row and value."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from laas.errors import SchemaError
from laas.tasks.dataset_spec import DatasetSpec
from laas.tasks.readers import iter_batches, read_table

SUITE = {"name": "any", "expectations": [{"type": "expect_table_row_count_to_be_between",
                                           "kwargs": {"min_value": 1}}]}
CELLS = ["1993-08-16", "1996-06-17 10:30:00", "1996-06-17T10:30", "2004-03-05T10:00:00Z",
         "2004-03-05T12:00:00+02:00", "2004-03-05T10:00:00.25-0100", ""]
WHEN = [datetime(1993, 8, 16, tzinfo=UTC), datetime(1996, 6, 17, 10, 30, tzinfo=UTC),
        datetime(1996, 6, 17, 10, 30, tzinfo=UTC), datetime(2004, 3, 5, 10, tzinfo=UTC),
        datetime(2004, 3, 5, 10, tzinfo=UTC), datetime(2004, 3, 5, 11, 0, 0, 250000, tzinfo=UTC),
        None]


def spec_of(fmt: str, **csv: object) -> DatasetSpec:
    return DatasetSpec.model_validate({
        "name": "t", "source": "unused", "format": fmt, "suite": SUITE,
        **({"csv": csv} if csv else {}),
        "schema": [{"name": "codename", "type": "string"}, {"name": "created",
                                                           "type": "timestamp"}]})


def written(tmp_path: Path, fmt: str, cells: list[str]) -> str:
    rows = [{"codename": f"c{i}", "created": c or None} for i, c in enumerate(cells)]
    path = tmp_path / f"t.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif fmt == "json":
        path.write_text(json.dumps(rows))
    else:
        sep = "\t" if fmt == "tsv" else ","
        path.write_text(f"codename{sep}created\n" + "".join(
            f"{r['codename']}{sep}{r['created'] or ''}\n" for r in rows))
    return str(path)


@pytest.mark.parametrize("fmt", ["csv", "tsv", "json", "jsonl"])
def test_timestamps_with_and_without_a_zone_read_alike_in_every_format(tmp_path, fmt) -> None:
    table = read_table(written(tmp_path, fmt, CELLS), spec_of(fmt))
    assert table.column("created").to_pylist() == WHEN
    assert str(table.schema.field("created").type) == "timestamp[us, tz=UTC]"


def test_a_table_of_dates_with_short_rows_reads_as_debians_release_table_does(tmp_path) -> None:
    """The shape of /usr/share/distro-info/debian.csv: dates without a zone, and the newest
    releases leaving their trailing eol fields out (padded: null, as an empty cell)."""
    path = tmp_path / "debian.csv"
    path.write_text("version,codename,series,created,release,eol\n"
                    "1.1,Buzz,buzz,1993-08-16,1996-06-17,1997-06-05\n"
                    ",Sid,sid,1993-08-16\n")
    spec = DatasetSpec.model_validate({
        "name": "t", "source": "unused", "format": "csv", "suite": SUITE,
        "schema": [{"name": n, "type": t} for n, t in (("codename", "string"),
                                                       ("created", "timestamp"),
                                                       ("eol", "timestamp"))]})
    assert read_table(str(path), spec).to_pylist() == [
        {"codename": "Buzz", "created": datetime(1993, 8, 16, tzinfo=UTC),
         "eol": datetime(1997, 6, 5, tzinfo=UTC)},
        {"codename": "Sid", "created": datetime(1993, 8, 16, tzinfo=UTC), "eol": None}]


def test_a_null_marker_of_the_dialect_is_null_in_a_timestamp_column(tmp_path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("codename,created\na,NA\nb,1993-08-16\n")
    table = read_table(str(path), spec_of("csv", null_values=["NA"]))
    assert table.column("created").to_pylist() == [None, datetime(1993, 8, 16, tzinfo=UTC)]


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_a_cell_that_is_no_timestamp_is_named_with_its_column_row_and_value(tmp_path,
                                                                            fmt) -> None:
    """msft.csv's dates (`19-Sep-03`) are no ISO 8601: the one line says what to declare."""
    path = written(tmp_path, fmt, ["2003-09-19", "2003-09-19T10:00:00Z", "19-Sep-03"])
    with pytest.raises(SchemaError) as err:
        read_table(path, spec_of(fmt))
    msg = str(err.value)
    assert msg.startswith(f"shard {path}: column created, row 3: '19-Sep-03' is not an ISO "
                          "8601 timestamp")
    assert "declare the column as string" in msg and "\n" not in msg



def test_under_drop_rows_a_cell_that_is_no_timestamp_leaves_out_its_row(tmp_path) -> None:
    """As a cell Arrow cannot convert does (tasks.bad_values): the row is left out, named,
    and every other date reads as before."""
    from laas.tasks.bad_records import RecordDrops

    path = written(tmp_path, "csv", ["2003-09-19", "19-Sep-03", "2003-09-18T10:00:00Z", ""])
    spec = spec_of("csv").model_copy(update={"on_failure": "drop_rows"})
    drops = RecordDrops()
    got = [r for b in iter_batches(path, spec, drops=drops) for r in b.to_pylist()]
    assert drops.numbers == [2]
    assert drops.reasons == ["'19-Sep-03' in column created is not an ISO 8601 timestamp"]
    assert [r["created"] for r in got] == [datetime(2003, 9, 19, tzinfo=UTC),
                                           datetime(2003, 9, 18, 10, tzinfo=UTC), None]
