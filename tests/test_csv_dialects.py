"""CSV dialects from the spec's `csv:` section: delimiters (one character, or runs of blanks),
headerless files, metadata lines, quoting, escapes, null markers, comments, encodings, and
.tsv/.tab by extension; on small fixtures, on tables shipped on this machine that nobody on the
project wrote, and once through `laas run`."""

from __future__ import annotations

import glob
import gzip
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from laas.anchors.adapters.artifacts import read_manifest
from laas.datasets.make_sample import rows
from laas.errors import ConfigError, ShardReadError
from laas.tasks import line_stream
from laas.tasks.csv_dialect import CsvDialect
from laas.tasks.dataset_spec import DatasetSpec, load_spec
from laas.tasks.manifests import build_manifest
from laas.tasks.normalizer import normalize
from laas.tasks.raw_hashing import hash_raw
from laas.tasks.readers import iter_batches, read_table
from laas.validators.report import ValidationReport

SUITE = {"name": "any", "expectations": [{"type": "expect_table_row_count_to_be_between",
                                           "kwargs": {"min_value": 1}}]}
NUMS = (("n", "int64"), ("word", "string"), ("x", "float64"))
EXPECTED = [{"n": 1, "word": "a b", "x": 0.5}, {"n": 2, "word": "c", "x": -1.0}]


def spec_of(columns=NUMS, fmt: str | None = "csv", **csv: object) -> DatasetSpec:
    return DatasetSpec.model_validate({
        "name": "t", "source": "unused", "format": fmt, "csv": csv, "suite": SUITE,
        "schema": [{"name": n, "type": t} for n, t in columns]})


def read(tmp_path: Path, data: bytes, spec: DatasetSpec, name: str = "t.csv") -> list[dict]:
    path = tmp_path / name
    path.write_bytes(data)
    return read_table(str(path), spec).to_pylist()


@pytest.mark.parametrize("sep", [",", "\t", ";", "|", "~"])
def test_any_single_character_delimits(tmp_path, sep: str) -> None:
    data = f"n{sep}word{sep}x\n1{sep}a b{sep}0.5\n2{sep}c{sep}-1\n".encode()
    assert read(tmp_path, data, spec_of(delimiter=sep)) == EXPECTED


def test_whitespace_is_runs_of_blanks_outside_quotes(tmp_path) -> None:
    data = b'  n   word\tx  \r\n1 \t "a b"   0.5\r\n\n   2 c\t\t-1   \r\n'
    assert read(tmp_path, data, spec_of(delimiter="whitespace")) == EXPECTED


def test_whitespace_and_comments_stream_across_refills(tmp_path, monkeypatch) -> None:
    """Refills of a few bytes split lines, blank runs and quoted multi-line values: the rows
    are the same as when the file comes in one piece."""
    data = (b"# made by hand\nn word x\n" + b"".join(
        b'%d   "line\n#not a comment  \t kept"  \t%d.5\n# c\n' % (i, i) for i in range(40)))
    spec = spec_of(delimiter="whitespace", comment="#")
    whole = read(tmp_path, data, spec)
    monkeypatch.setattr(line_stream, "CHUNK", 5)
    assert read(tmp_path, data, spec) == whole
    assert len(whole) == 40
    assert whole[3] == {"n": 3, "word": "line\n#not a comment  \t kept", "x": 3.5}


def test_headerless_rows_take_the_schema_names_in_order(tmp_path) -> None:
    assert read(tmp_path, b"1,a b,0.5\n2,c,-1\n", spec_of(header=False)) == EXPECTED


def test_metadata_lines_before_the_header_are_skipped(tmp_path) -> None:
    data = b"2 rows\nexported 2024-01-01, by hand\nn,word,x\n1,a b,0.5\n2,c,-1\n"
    assert read(tmp_path, data, spec_of(skip_rows=2)) == EXPECTED
    headerless = b"2\n1,a b,0.5\n2,c,-1\n"
    assert read(tmp_path, headerless, spec_of(skip_rows=1, header=False)) == EXPECTED


def test_quote_escape_and_no_quoting(tmp_path) -> None:
    single = b"n,word,x\n1,'a, b',0.5\n"
    assert read(tmp_path, single, spec_of(quote="'"))[0]["word"] == "a, b"
    escaped = b'n,word,x\n1,"say \\"hi\\"",0.5\n2,a\\,b,1\n'
    assert [r["word"] for r in read(tmp_path, escaped, spec_of(escape="\\"))] == \
        ['say "hi"', "a,b"]
    bare = b'n,word,x\n1,5" pipe,0.5\n2,"x,1\n'
    assert [r["word"] for r in read(tmp_path, bare, spec_of(quote=None))] == ['5" pipe', '"x']


def test_null_markers_apply_to_text_columns_too(tmp_path) -> None:
    data = b"n,word,x\nNA,NA,\\N\n,,1\n3,c,NA\n"
    got = read(tmp_path, data, spec_of(null_values=["", "NA", "\\N"]))
    assert got == [{"n": None, "word": None, "x": None}, {"n": None, "word": None, "x": 1.0},
                   {"n": 3, "word": "c", "x": None}]
    # without the option "NA" is text, as it always was
    assert read(tmp_path, b"word\nNA\n", spec_of((("word", "string"),))) == [{"word": "NA"}]


def test_comment_lines_are_skipped_but_not_mid_line_or_in_quotes(tmp_path) -> None:
    data = b'# header follows\nn,word,x\n#1,skipped,0\n1,"a b",0.5\n2,c#d,-1\n'
    got = read(tmp_path, data, spec_of(comment="#"))
    assert [r["word"] for r in got] == ["a b", "c#d"]
    with pytest.raises(ShardReadError):  # the same file without the option is not a table
        read(tmp_path, data, spec_of())


INLINE = (b"# table\nn word x  # the names\n   # a note on its own line\n"
          b'1 "a b" 0.5\t# first\r\n2 c -1#second\n"3" "d # not one" 2 # third\n')


@pytest.mark.parametrize("chunk", [None, 5])
def test_inline_comments_end_a_lines_data_outside_quotes(tmp_path, monkeypatch, chunk) -> None:
    """As pandas and DuckDB read a comment character: timezone tables and /etc files put one
    after the data on a line. Quoted, it is data; read in refills of a few bytes, the same."""
    if chunk:
        monkeypatch.setattr(line_stream, "CHUNK", chunk)
    spec = spec_of(delimiter="whitespace", comment="#", inline_comments=True)
    assert read(tmp_path, INLINE, spec) == [*EXPECTED, {"n": 3, "word": "d # not one", "x": 2.0}]
    comma = INLINE.replace(b" ", b",").replace(b",,,", b"").replace(b"\t", b"")
    got = read(tmp_path, comma, spec_of(comment="#", inline_comments=True))
    assert [r["n"] for r in got] == [1, 2, 3]


def test_a_comment_after_the_data_says_to_set_inline_comments(tmp_path) -> None:
    with pytest.raises(ShardReadError, match="set csv.inline_comments: true"):
        read(tmp_path, INLINE, spec_of(delimiter="whitespace", comment="#"))


def test_postgres_timezone_abbreviations_ingest_as_they_are(tmp_path) -> None:
    """pgserver's copy of PostgreSQL's timezonesets (installed with the test dependencies):
    `CAT 7200 # Central Africa Time`, indented comment lines, a third field on some rows."""
    import pgserver

    found = sorted(Path(pgserver.__file__).parent.glob("pginstall/share/postgresql/"
                                                       "timezonesets/Africa.txt"))
    if not found:
        pytest.skip("pgserver ships no timezonesets here")
    spec = spec_of((("abbrev", "string"), ("offset", "int64"), ("dst", "string")),
                   delimiter="whitespace", comment="#", inline_comments=True, header=False)
    got = read(tmp_path, found[0].read_bytes(), spec)
    assert {"abbrev": "CAT", "offset": 7200, "dst": ""} in got  # padded: empty text
    assert len(got) == 12 and all(r["abbrev"].isupper() for r in got)


def test_latin1_is_decoded(tmp_path) -> None:
    data = "n;word;x\n1;Côte d'Ivoire;0.5\n".encode("latin-1")
    got = read(tmp_path, data, spec_of(delimiter=";", encoding="latin-1"))
    assert got[0]["word"] == "Côte d'Ivoire"
    with pytest.raises(ShardReadError, match="UTF-8"):
        read(tmp_path, data, spec_of(delimiter=";"))


@pytest.mark.parametrize("name", ["t.tsv", "t.tab", "t.tsv.gz", "T.TSV"])
def test_tsv_and_tab_files_are_tab_delimited_without_configuration(tmp_path, name) -> None:
    data = b"n\tword\tx\n1\ta b\t0.5\n2\tc\t-1\n"
    spec = spec_of(fmt=None)
    assert spec.format_of(name) == "tsv"
    assert read(tmp_path, gzip.compress(data) if name.endswith(".gz") else data, spec,
                name) == EXPECTED


def test_the_raw_hash_is_of_the_bytes_as_they_landed(tmp_path) -> None:
    """The rewriting sits above the decompressor and the raw-hashing reader."""
    path = tmp_path / "t.txt.gz"
    path.write_bytes(gzip.compress(b"meta\n# c\n1  \t 0.5\n"))
    spec = spec_of(NUMS[:1] + NUMS[2:], delimiter="whitespace", skip_rows=1, comment="#",
                   header=False, quote=None)
    raw = hash_raw("t.txt.gz", str(path))
    batches = list(iter_batches(str(path), spec, expect=raw.content_hash))
    assert sum(b.num_rows for b in batches) == 1
    with pytest.raises(ShardReadError, match="changed since"):
        list(iter_batches(str(path), spec, expect="0x" + "00" * 32))


@pytest.mark.parametrize("csv, words", [
    ({"delimiter": ";;"}, "csv.delimiter"), ({"quote": "ab"}, "csv.quote"),
    ({"skip_rows": -1}, "csv.skip_rows"), ({"encoding": "base64"}, "not a text encoding"),
    ({"delimiter": ",", "comment": ","}, "delimiter and comment are both"),
    ({"delimiter": "whitespace", "quote": " "}, "delimiter and quote are both"),
    ({"separator": ","}, "csv.separator"),
    ({"inline_comments": True}, "inline_comments needs csv.comment"),
])
def test_bad_dialects_are_refused_in_one_line(tmp_path, csv, words) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps({"name": "bad", "source": "x.csv", "schema": [
        {"name": "a", "type": "string"}], "suite": SUITE, "csv": csv}))
    with pytest.raises(ConfigError, match=words) as e:
        load_spec(str(path))
    assert "\n" not in str(e.value)


def test_a_dialect_is_refused_for_formats_it_does_not_apply_to() -> None:
    with pytest.raises(ValueError, match="csv and tsv shards only"):
        spec_of(fmt="jsonl", header=False)


def test_the_dialect_is_hashed_into_the_validated_report_only_when_given() -> None:
    plain = build_manifest(spec_of(), "r", "validated", [])
    from laas.tasks.reuse_work import pipeline_hash

    assert "csv_dialect" not in plain.validation  # reports of existing specs hash as before
    assert plain.result_hash == ValidationReport(
        suite="any", suite_hash=spec_of().suite.suite_hash, shards=(),
        pipeline_hash=pipeline_hash(spec_of()),  # (and the pipeline's, since 16)
        format="laas-report-v2").result_hash  # (written as laas-manifest-v5's, since 14)
    tab = build_manifest(spec_of(delimiter="\t", header=False), "r", "validated", [])
    assert tab.validation["csv_dialect"] == {"delimiter": "\t", "header": False}
    assert tab.result_hash != plain.result_hash
    assert CsvDialect().committed is None


# Tables shipped on this machine, written by others: the tz database's country list (tab
# separated, headerless, '#' comments, UTF-8) and NIST's Norris regression data (a page of
# prose, then two columns aligned with runs of spaces).
ISO3166 = Path("/usr/share/zoneinfo/iso3166.tab")
NORRIS = next(iter(sorted(glob.glob(
    "/root/.pyenv/versions/*/lib/python3*/site-packages/scipy/stats/tests/data/"
    "nist_linregress/Norris.dat") + glob.glob(
    str(Path(__file__).resolve().parent.parent / ".venv/lib/python3*/site-packages/scipy/"
        "stats/tests/data/nist_linregress/Norris.dat")))), None)


def normalized_rows(tmp_path: Path, path: Path, spec: DatasetSpec) -> list[dict]:
    entry = normalize(hash_raw(path.name, str(path)), spec, str(tmp_path / "out"), "failed")
    assert entry.status == "ok", entry.reason
    rows_ = pq.read_table(entry.uri).to_pylist()
    assert entry.rows == len(rows_)
    return rows_


@pytest.mark.skipif(not ISO3166.is_file(), reason="no tz database at /usr/share/zoneinfo")
def test_the_tz_country_table_ingests_as_it_is(tmp_path) -> None:
    spec = spec_of((("code", "string"), ("name", "string")), fmt=None, header=False,
                   comment="#")
    got = normalized_rows(tmp_path, ISO3166, spec)
    expect = sum(1 for line in ISO3166.read_text().splitlines()
                 if line and not line.startswith("#"))
    assert len(got) == expect > 200
    names = {r["code"]: r["name"] for r in got}
    assert names["DE"] == "Germany" and names["CI"] == "Côte d'Ivoire"


@pytest.mark.skipif(NORRIS is None, reason="scipy's NIST test data (Norris.dat) is not installed")
def test_nist_whitespace_table_after_a_page_of_prose(tmp_path) -> None:
    spec = spec_of((("y", "float64"), ("x", "float64")), delimiter="whitespace",
                   skip_rows=60, header=False)
    got = normalized_rows(tmp_path, Path(NORRIS), spec)
    assert len(got) == 36  # "36 Observations", says the file
    assert got[0] == {"y": 0.1, "x": 0.2} and got[-1] == {"y": 0.2, "x": 0.5}


def test_a_headerless_commented_tsv_through_laas_run(workspace) -> None:
    cols = ("prompt", "response", "source", "license", "lang")
    body = "".join("\t".join(r[c] for c in cols) + "\n" for r in rows(40, 25))
    workspace.add_dataset("tsv-plain", {"part-0.tsv": ("# exported\n" + body).encode()},
                          format=None, csv={"header": False, "comment": "#"})
    r = workspace.laas("run", "tsv-plain", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    summary = json.loads(r.stdout)
    validated = read_manifest(summary["checkpoints"][-1]["manifest_uri"])
    assert [s.rows for s in validated.accepted] == [25]
    assert validated.validation["csv_dialect"] == {"header": False, "comment": "#"}
