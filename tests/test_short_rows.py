"""CSV rows with fewer fields than the header, as real tables have them (distro-info's CSVs on
Debian leave trailing end-of-life dates out): read with the missing fields empty instead of
setting the whole shard aside; `short_rows: error` refuses them in one line; a row with too
many fields is still an error."""

from __future__ import annotations

import glob
from pathlib import Path

import pytest

from laas.errors import ShardReadError
from laas.tasks import line_stream, readers
from tests.test_csv_dialects import NUMS, read, spec_of

# the shape of /usr/share/distro-info/ubuntu.csv: later columns only for some releases
DISTRO = (b"version,codename,series,created,release,eol,eol-server\n"
          b"4.10,Warty Warthog,warty,2004-03-05,2004-10-20,2006-04-30\n"
          b"6.06 LTS,Dapper Drake,dapper,2005-10-12,2006-06-01,2009-07-14,2011-06-01\n"
          b"\n"
          b"26.04 LTS,Resolute Raccoon,resolute,2025-10-09,2026-04-23\n")
DISTRO_COLUMNS = tuple((c, "string") for c in ("version", "codename", "series", "created",
                                               "release", "eol", "eol-server"))


def test_short_rows_read_with_their_missing_trailing_fields_empty(tmp_path) -> None:
    rows = read(tmp_path, DISTRO, spec_of(DISTRO_COLUMNS))
    assert [r["series"] for r in rows] == ["warty", "dapper", "resolute"]  # blank line: no row
    assert rows[0]["eol-server"] == "" and rows[1]["eol-server"] == "2011-06-01"
    assert rows[2]["eol"] == "" and rows[2]["release"] == "2026-04-23"
    nulls = read(tmp_path, DISTRO, spec_of(DISTRO_COLUMNS, null_values=[""]))
    assert nulls[0]["eol-server"] is None and nulls[2]["eol"] is None


def test_padding_respects_quotes_escapes_and_records_over_several_lines(tmp_path) -> None:
    data = (b'n,word,x\n1,"a, b"\n2,"two\nlines, here",0.5\n3,"say ""hi"", then",1\n'
            b"4\n")
    rows = read(tmp_path, data, spec_of())
    assert rows == [{"n": 1, "word": "a, b", "x": None},
                    {"n": 2, "word": "two\nlines, here", "x": 0.5},
                    {"n": 3, "word": 'say "hi", then', "x": 1.0},
                    {"n": 4, "word": "", "x": None}]
    escaped = read(tmp_path, b'n,word,x\n1,a\\,b\n2,c,3\n', spec_of(escape="\\"))
    assert escaped[0] == {"n": 1, "word": "a,b", "x": None}


def test_headerless_and_dialect_rewritten_files_are_padded_to_the_schema(tmp_path) -> None:
    rows = read(tmp_path, b"# made by hand\n1  a   0.5\n2 c\n", spec_of(
        header=False, delimiter="whitespace", comment="#"))
    assert rows == [{"n": 1, "word": "a", "x": 0.5}, {"n": 2, "word": "c", "x": None}]


def test_a_short_row_late_in_a_big_shard_keeps_every_row_once_in_order(tmp_path, monkeypatch
                                                                       ) -> None:
    """Batches before the short row were handed on already: the second, padded read goes on
    after them, so no row is lost or repeated."""
    monkeypatch.setattr(readers, "BLOCK_SIZE", 64)  # many batches before the short row
    monkeypatch.setattr(line_stream, "CHUNK", 7)  # and the padder's refills split lines
    body = b"".join(b"%d,w%d,%d.5\n" % (i, i, i) for i in range(200))
    rows = read(tmp_path, b"n,word,x\n" + body + b"200,late\n201,w,1\n", spec_of())
    assert [r["n"] for r in rows] == list(range(202))
    assert rows[200] == {"n": 200, "word": "late", "x": None} and rows[199]["x"] == 199.5


def test_short_rows_error_refuses_the_shard_naming_the_row_and_the_setting(tmp_path) -> None:
    with pytest.raises(ShardReadError) as e:
        read(tmp_path, DISTRO, spec_of(DISTRO_COLUMNS, short_rows="error"))
    msg = str(e.value)
    assert "t.csv" in msg and "6 field(s) where the header has 7" in msg
    assert "short_rows" in msg and "\n" not in msg


def test_a_row_with_too_many_fields_is_still_an_error(tmp_path) -> None:
    with pytest.raises(ShardReadError, match="Expected 3 columns, got 4"):
        read(tmp_path, b"n,word,x\n1,a\n2,b,1,extra\n", spec_of(NUMS))


def test_the_setting_is_committed_only_when_it_departs_from_the_default() -> None:
    assert spec_of().csv.committed is None
    assert spec_of(short_rows="error").csv.committed == {"short_rows": "error"}


DISTRO_INFO = sorted(glob.glob("/usr/share/distro-info/*.csv"))


@pytest.mark.skipif(not DISTRO_INFO, reason="distro-info-data is not installed")
def test_the_machines_distro_info_tables_read_every_release(tmp_path) -> None:
    for path in DISTRO_INFO:
        data = Path(path).read_bytes()
        rows = read(tmp_path, data, spec_of(DISTRO_COLUMNS[:6]), name=Path(path).name)
        assert len(rows) == sum(1 for line in data.splitlines()[1:] if line.strip())
        assert all(r["series"] for r in rows)


def _swapped_for_first_read(monkeypatch, path, good: bytes, swapped: bytes) -> str:
    """`good` hashed by the raw stage (its hash returned), `swapped` found by the first read,
    `good` again by the second (padding) read."""
    from laas.tasks.raw_hashing import hash_raw

    monkeypatch.setattr(readers, "BLOCK_SIZE", 64)
    path.write_bytes(good)
    expect = hash_raw(path.name, str(path)).content_hash
    path.write_bytes(swapped)
    real = readers._checked_batches

    def swap_back(*args, **kw):
        if args[-1].pad:  # how the shard is read: the second read pads
            path.write_bytes(good)
        return real(*args, **kw)

    monkeypatch.setattr(readers, "_checked_batches", swap_back)
    return expect


def test_a_shard_swapped_between_the_two_reads_is_refused(tmp_path, monkeypatch) -> None:
    """The first read's rows are handed on before its bytes' hash is checked (at its end,
    which a short row never reaches); whoever swaps the file for the second read must not
    get the first read's rows in beside the committed bytes' rest."""
    good = b"n,word,x\n" + b"".join(b"%d,w,%d\n" % (i, i) for i in range(100)) + b"100,late\n"
    path = tmp_path / "t.csv"
    expect = _swapped_for_first_read(monkeypatch, path, good,
                                     good.replace(b"0,w,0\n", b"0,POISON,0\n"))
    with pytest.raises(ShardReadError, match="t.csv: changed while read"):
        list(readers.iter_batches(str(path), spec_of(), expect=expect))
    assert len(list(readers.iter_batches(str(path), spec_of(), expect=expect))) > 1  # intact


def test_a_longer_shard_swapped_in_for_the_first_read_only_is_refused(tmp_path, monkeypatch
                                                                       ) -> None:
    """The first read meets more rows before its short row than the committed shard holds in
    all: the second read (the committed bytes, whose hash holds) ends before it has passed
    the first read's rows, so they were never compared; none may be handed on as the
    committed shard's."""
    good = b"n,word,x\n" + b"".join(b"%d,w,%d\n" % (i, i) for i in range(5))
    poison = b"n,word,x\n" + b"".join(b"%d,POISON,%d\n" % (i, i) for i in range(100))
    path = tmp_path / "t.csv"
    expect = _swapped_for_first_read(monkeypatch, path, good, poison + b"100,late\n")
    with pytest.raises(ShardReadError, match="t.csv: changed while read"):
        list(readers.iter_batches(str(path), spec_of(), expect=expect))


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_short_row_not_in_utf8_is_read_as_any_short_row(tmp_path) -> None:
    """pyarrow decodes a row's text as UTF-8 before it hands the row to the watch: a short
    latin-1 row (`Warty Wärthog`) never reached it, and the shard was set aside as "Expected
    7 columns, got 6", naming neither the encoding nor the setting; under drop_rows the whole
    shard went, not the one row. Such a row is a short row: padded, then judged as bad
    UTF-8 like any other (left out under drop_rows, else named with csv.encoding)."""
    from laas.tasks.bad_records import RecordDrops

    latin = DISTRO.replace(b"Warty Warthog", b"Warty W\xe4rthog")
    (tmp_path / "t.csv").write_bytes(latin)
    with pytest.raises(ShardReadError, match=r"t.csv: not well-formed UTF-8 .*csv.encoding"):
        read(tmp_path, latin, spec_of(DISTRO_COLUMNS))
    rows = read(tmp_path, latin, spec_of(DISTRO_COLUMNS, encoding="latin-1"))
    assert rows[0]["codename"] == "Warty Wärthog" and len(rows) == 3
    drops = RecordDrops()
    spec = spec_of(DISTRO_COLUMNS).model_copy(update={"on_failure": "drop_rows"})
    kept = [r["series"] for b in readers.iter_batches(str(tmp_path / "t.csv"), spec,
                                                        drops=drops) for r in b.to_pylist()]
    assert kept == ["dapper", "resolute"] and drops.numbers == [1]


def test_a_row_with_too_many_fields_says_what_to_set(tmp_path) -> None:
    with pytest.raises(ShardReadError, match=r"t.csv: .*Expected 3 columns, got 4.*csv.delimiter"
                                             r".*on_failure: drop_rows"):
        read(tmp_path, b"n,word,x\n1,a\n2,b,1,extra\n", spec_of(NUMS))
