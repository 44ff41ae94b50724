"""A csv/tsv shard whose header lacks a schema column is set aside naming what its header does
hold, so a name that differs only by blanks (numpy's random test tables: `seed, 0xdeadbeaf`),
a misspelling or a wrong delimiter shows in the one line, instead of Arrow's `Column 'x' in
include_columns does not exist in CSV file`; one whose header names a schema column twice is
set aside saying so, where Arrow silently read the first of them."""

from __future__ import annotations

import gzip

import pytest

from laas.errors import SchemaError
from tests.test_csv_dialects import read, spec_of


def refused(tmp_path, data: bytes, spec=None, name: str = "t.csv",
            why: str = "missing column(s) ") -> str:
    with pytest.raises(SchemaError) as err:
        read(tmp_path, data, spec or spec_of(), name=name)
    msg = str(err.value)
    assert msg.startswith(f"shard {tmp_path / name}: {why}") and "\n" not in msg
    assert "include_columns" not in msg
    return msg


def test_a_header_name_with_blanks_around_it_is_shown_quoted_with_what_to_do(tmp_path) -> None:
    spec = spec_of((("seed", "int64"), ("0xdeadbeaf", "string")))
    msg = refused(tmp_path, b"seed, 0xdeadbeaf\n0, 0xa475f55fbb6bc638\n", spec)
    assert "0xdeadbeaf: the header names seed, ' 0xdeadbeaf'; ' 0xdeadbeaf' has blanks " \
           "around it: name the column so in the schema, quoted" in msg
    quoted = spec_of((("seed", "int64"), (" 0xdeadbeaf", "string")))
    assert read(tmp_path, b"seed, 0xdeadbeaf\n0, 0xa4\n", quoted) == [
        {"seed": 0, " 0xdeadbeaf": " 0xa4"}]


def test_a_misspelled_column_lists_the_header_of_a_compressed_shard(tmp_path) -> None:
    header = "Date,Open,High,Low,Close,Volume,Adj. Close*," + ",".join(
        f"c{i}" for i in range(10))
    data = gzip.compress(f"{header}\n19-Sep-03,29.76,29.97,29.52,29.96,92433800,29.79,"
                         f"{',' * 9}\n".encode())
    spec = spec_of((("Date", "string"), ("Vol", "int64")))
    msg = refused(tmp_path, data, spec, name="msft.csv.gz")
    assert "missing column(s) Vol: the header names Date, Open, High, Low, Close, Volume, " \
           "Adj. Close*, c0, c1, c2, c3, c4 and 5 more; check the spec's csv.delimiter and " \
           "csv.header, and the schema's names" in msg


def test_a_header_read_under_another_delimiter_says_which_it_looks_like(tmp_path) -> None:
    msg = refused(tmp_path, b"n;word;x\n1;a;0.5\n")
    assert "the header names n;word;x; it looks delimited by ';'" in msg


def test_a_column_the_header_names_twice_is_refused_not_read_from_the_first(tmp_path) -> None:
    data = b"Date,Open,Notes,Open\n2003-09-17,1,,2\n"
    spec = spec_of((("Date", "string"), ("Open", "float64")))
    msg = refused(tmp_path, data, spec, why="the header names column 'Open' more than once "
                                            "(fields 2, 4): which one is meant cannot be told")
    assert "csv: {header: false, skip_rows: 1}" in msg
    # a column named twice that the schema does not take is no matter
    assert read(tmp_path, b"Date,Notes,Notes\n2003-09-17,a,b\n",
                spec_of((("Date", "string"),))) == [{"Date": "2003-09-17"}]
    every = spec_of((("Date", "string"), ("Open", "float64"), ("Notes", "string"),
                     ("Open2", "float64")), header=False, skip_rows=1)
    assert read(tmp_path, data, every) == [{"Date": "2003-09-17", "Open": 1.0, "Notes": "",
                                            "Open2": 2.0}]


@pytest.mark.parametrize("sep", [";", ","])
def test_a_spreadsheets_delimiter_note_says_to_skip_it(tmp_path, sep: str) -> None:
    """Excel may write `sep=;` above the header; the rows read once it is skipped."""
    data = f"sep={sep}\nn{sep}word{sep}x\n1{sep}a b{sep}0.5\n".encode()
    msg = refused(tmp_path, data)
    assert msg.endswith(f"its first line is a spreadsheet's delimiter note: set `csv: "
                        f"{{skip_rows: 1, delimiter: '{sep}'}}`")
    assert read(tmp_path, data, spec_of(skip_rows=1, delimiter=sep)) == [
        {"n": 1, "word": "a b", "x": 0.5}]
