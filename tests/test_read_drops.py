"""drop_rows at reading, on a real anvil, Prefect and Dask: a JSONL line that is not a JSON
object of the schema's types, or a CSV row with more fields than the header, is left out of its
shard instead of setting the whole shard aside; the normalized manifest (laas-manifest-v7)
commits to the records left out (their numbers, why and bytes), kept in a file; the gate allows
the dataset."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from laas.anchors.adapters.artifacts import read_manifest
from laas.anchors.core.dropped_records import table_digest
from laas.anchors.core.models import rows_digest
from laas.datasets.make_sample import rows
from tests.conftest import Workspace


def _jsonl(rs: list[dict]) -> bytes:
    return ("\n".join(json.dumps(r) for r in rs) + "\n").encode()


@pytest.fixture(scope="module")
def ws(workspace: Workspace) -> Workspace:
    good = rows(900, 200, seed=900)
    lines = _jsonl(good).splitlines(keepends=True)
    lines[10] = b'{"prompt": "cut off mid-wri\n'  # a truncated write
    lines[50] = b'{"prompt": 5, "response": "x", "source": "s", "license": "mit", "lang": "en"}\n'
    lines[120] = b'\xff\xfe not utf-8 at all\n'
    half = _jsonl(rows(950, 20, seed=950)).splitlines(keepends=True)
    for i in range(0, 20, 2):  # half the lines unreadable: over max_dropped_rows
        half[i] = b"garbage\n"
    files = {"bad-lines.jsonl": b"".join(lines), "clean.jsonl": _jsonl(rows(990, 50, seed=990)),
             "half.jsonl": b"".join(half)}
    workspace.add_dataset("readdrop", files, on_failure="drop_rows", max_dropped_rows=0.1)
    r = workspace.laas("run", "readdrop", "--run", "r1", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    workspace.summary = json.loads(r.stdout)
    return workspace


def _stage(ws: Workspace, stage: str):
    cp = next(c for c in ws.summary["checkpoints"] if c["stage"] == stage)
    return read_manifest(cp["manifest_uri"])


def test_unreadable_lines_are_left_out_and_committed_to(ws) -> None:
    normalized = _stage(ws, "normalized")
    assert normalized.version == "laas-manifest-v7"
    shard = next(s for s in normalized.shards if s.key == "bad-lines.jsonl")
    assert shard.dropped_records_hash == table_digest(pq.read_table(shard.dropped_uri))
    assert shard.status == "ok" and shard.rows == 197 and shard.rows_in == 200
    assert shard.dropped == {"unreadable": 3}
    left = pq.read_table(shard.dropped_uri).to_pylist()
    assert [r["_laas_row"] for r in left] == [11, 51, 121]  # the lines, as an editor counts
    assert left[0]["_laas_record"] == b'{"prompt": "cut off mid-wri'
    assert "not JSON" in left[0]["_laas_failed"][0]
    assert "prompt is 5, not a string" in left[1]["_laas_failed"][0]
    assert left[2]["_laas_failed"] == ["not UTF-8"]
    assert shard.dropped_rows_hash == rows_digest([11, 51, 121])
    clean = next(s for s in normalized.shards if s.key == "clean.jsonl")
    assert not clean.derived  # a shard Arrow reads whole is as before


def test_verify_checks_the_file_of_records_left_out(ws, tmp_path) -> None:
    """`laas verify` of the validated file says what reading left out, once the file of them
    is the committed set; a file rewritten in the store is named."""
    shard = next(s for s in _stage(ws, "validated").accepted if s.key == "bad-lines.jsonl")
    r = ws.laas("verify", shard.uri)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "left out at reading: 3 unreadable record(s)" in r.stdout
    left = next(s for s in _stage(ws, "normalized").shards if s.key == "bad-lines.jsonl")
    kept = pq.read_table(left.dropped_uri)
    try:
        pq.write_table(kept.slice(0, 2), left.dropped_uri)  # one hidden from the reader
        r = ws.laas("verify", shard.uri)
        assert r.returncode == 1
        assert "records left out at reading is not the committed row set" in r.stdout
    finally:
        pq.write_table(kept, left.dropped_uri)


@pytest.mark.parametrize("column", ["_laas_record", "_laas_failed"])
def test_verify_refuses_records_left_out_rewritten_under_their_numbers(ws, column) -> None:
    """Whoever can write the store rewrites what a line held, or why it was left out, keeping
    the numbers (all laas-manifest-v6 committed to): the file then tells a lie about the
    source, and verify must say so (v7 commits to the file whole)."""
    import pyarrow as pa

    shard = next(s for s in _stage(ws, "validated").accepted if s.key == "bad-lines.jsonl")
    left = next(s for s in _stage(ws, "normalized").shards if s.key == "bad-lines.jsonl")
    kept = pq.read_table(left.dropped_uri)
    lie = (pa.array([b'{"prompt": "harmless"}'] * 3, pa.binary()) if column == "_laas_record"
           else pa.array([["blank line"]] * 3, pa.list_(pa.string())))
    i = kept.schema.get_field_index(column)
    try:
        pq.write_table(kept.set_column(i, column, lie), left.dropped_uri)
        r = ws.laas("verify", shard.uri)
        assert r.returncode == 1, r.stdout + r.stderr
        assert "bad-lines.jsonl: the file of records left out at reading does not hold the " \
               "committed records" in r.stdout + r.stderr
        assert len((r.stdout + r.stderr).strip().splitlines()) == 1
    finally:
        pq.write_table(kept, left.dropped_uri)
    assert ws.laas("verify", shard.uri).returncode == 0


def test_too_many_unreadable_lines_set_the_shard_aside(ws) -> None:
    aside = next(s for s in _stage(ws, "normalized").shards if s.key == "half.jsonl")
    assert aside.status != "ok"
    assert "10 of 20 records cannot be read (first: line 1: not JSON" in aside.reason
    assert "over max_dropped_rows 10%" in aside.reason


def test_the_validated_stage_keeps_the_readable_rows_and_the_gate_allows(ws) -> None:
    validated = _stage(ws, "validated")
    kept = {s.key: s for s in validated.accepted}
    assert sorted(kept) == ["bad-lines.jsonl", "clean.jsonl"]
    # validation starts from the 197 rows read: what reading left out is not its own drop
    assert (kept["bad-lines.jsonl"].rows_in or kept["bad-lines.jsonl"].rows) == 197
    assert ws.summary["rows_dropped"]["bad-lines.jsonl"].startswith("3 of 200 records cannot")
    check = next(c for c in ws.summary["dataset_checks"]
                 if c["type"] == "laas_dataset_dropped_rows_at_most")
    assert check["observed"]["rows"] >= 250 and check["unexpected_count"] >= 3
    r = ws.laas("gate", "readdrop", "--json")
    assert r.returncode == 0, r.stdout


def test_without_drop_rows_an_unreadable_line_still_sets_its_shard_aside(workspace,
                                                                          tmp_path) -> None:
    lines = _jsonl(rows(1000, 30, seed=1000)).splitlines(keepends=True)
    lines[3] = b"{not json\n"
    workspace.add_dataset("strict-read", {"a.jsonl": b"".join(lines),
                                          "b.jsonl": _jsonl(rows(1100, 30, seed=1100))},
                          on_failure="quarantine")
    r = workspace.laas("run", "strict-read", "--run", "s1", "--json")
    summary = json.loads(r.stdout)
    (aside,) = summary["set_aside"]
    assert aside["key"] == "a.jsonl" and "not valid jsonl at line 4" in aside["reason"]


def test_a_csv_row_with_too_many_fields_is_left_out(workspace) -> None:
    """A CSV row with more fields than the header (an unquoted comma in a value), or of bad
    UTF-8 (one row pasted from a latin-1 file), is left out, numbered as a data row, a quoted
    multi-line one whole; short rows are still padded."""
    head = b"prompt,response,source,license,lang\n"
    body = [b"p%d,r%d,web,mit,en\n" % (i, i) for i in range(40)]
    body[7] = b"hello, world,r7,web,mit,en\n"
    body[20] = b'"two\nlines",r20,web,mit,en,extra\n'
    body[12] = "p12,r\xe9sum\xe9 in latin-1,web,mit,en\n".encode("latin-1")  # bad UTF-8
    body[30] = b"p30,r30,web,mit\n"  # short: lang read as empty
    workspace.add_dataset("csvdrop", {"t.csv": head + b"".join(body)}, format="csv",
                          on_failure="drop_rows", max_dropped_rows=0.1,
                          suite={"name": "csv-basic", "expectations": [
                              {"type": "expect_column_values_to_not_be_null",
                               "kwargs": {"column": "prompt"}}]})
    r = workspace.laas("run", "csvdrop", "--run", "c1", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    summary = json.loads(r.stdout)
    cp = next(c for c in summary["checkpoints"] if c["stage"] == "normalized")
    (shard,) = read_manifest(cp["manifest_uri"]).shards
    assert (shard.status, shard.rows, shard.rows_in) == ("ok", 37, 40)
    left = pq.read_table(shard.dropped_uri).to_pylist()
    assert [r["_laas_row"] for r in left] == [8, 13, 21]
    assert left[1]["_laas_failed"] == ["not UTF-8"]
    assert left[2]["_laas_record"] == b'"two\nlines",r20,web,mit,en,extra'
    assert left[0]["_laas_failed"] == ["6 fields where the header has 5"]


def test_a_normalized_shard_that_leaves_records_out_needs_manifest_v6() -> None:
    """An older laas's readers never checked a normalized shard's drops: v1-v5 refuse one, and
    a stage that drops nothing at reading is written as before."""
    from laas.anchors.core.models import ShardEntry, StageManifest, new_manifest

    h = "0x" + "11" * 32
    kept = ShardEntry(key="a.jsonl", uri="/n/a.jsonl.parquet", source_uri="/r/a.jsonl",
                      byte_size=10, rows=9, content_hash=h, parent_hash="0x" + "22" * 32,
                      rows_in=10, dropped={"unreadable": 1}, dropped_rows_hash=rows_digest([3]),
                      dropped_uri="/n-dropped/a.jsonl.parquet")
    m = new_manifest("d", "r", "normalized", "laas-table-v1", [kept], passed=True)
    assert m.version == "laas-manifest-v6"
    assert StageManifest.model_validate_json(m.to_bytes()) == m
    with pytest.raises(ValueError, match="needs a laas-manifest-v6 manifest"):
        new_manifest("d", "r", "normalized", "laas-table-v1", [kept], passed=True,
                      version="laas-manifest-v5")
    sealed = kept.model_copy(update={"dropped_records_hash": "0x" + "33" * 32})
    m7 = new_manifest("d", "r", "normalized", "laas-table-v1", [sealed], passed=True)
    assert m7.version == "laas-manifest-v7"  # a v6 manifest (the file unsealed) still reads
    assert StageManifest.model_validate_json(m7.to_bytes()) == m7
    with pytest.raises(ValueError, match="needs a laas-manifest-v7 manifest"):
        new_manifest("d", "r", "normalized", "laas-table-v1", [sealed], passed=True,
                      version="laas-manifest-v6")
    assert sealed.as_parent().dropped_records_hash is None
    plain = kept.as_parent()
    assert not plain.derived and plain.reason is None and plain.rows == 9
    assert new_manifest("d", "r", "normalized", "laas-table-v1", [plain],
                        passed=True).version == "laas-manifest-v2"


def test_a_jsonl_shard_swapped_between_the_two_reads_is_refused(tmp_path, monkeypatch) -> None:
    """The rows Arrow handed on before a bad line stopped it are checked against the second
    read's first rows: whoever swaps the file between the reads gets no row in."""
    from laas.errors import ShardReadError
    from laas.tasks import readers
    from laas.tasks.bad_records import RecordDrops
    from laas.tasks.dataset_spec import DatasetSpec
    from laas.tasks.raw_hashing import hash_raw

    monkeypatch.setattr(readers, "BLOCK_SIZE", 256)
    lines = [json.dumps({"text": f"row {i}"}).encode() + b"\n" for i in range(60)]
    good = b"".join(lines[:50]) + b"{cut off\n" + b"".join(lines[50:])
    path = tmp_path / "t.jsonl"
    path.write_bytes(good)
    expect = hash_raw("t.jsonl", str(path)).content_hash
    path.write_bytes(good.replace(b"row 0", b"POISON"))  # what the first read finds
    real = readers._checked_batches

    def swap_back(*args, **kw):
        if not args[-1].droppable:  # the second read finds the committed bytes again
            path.write_bytes(good)
        return real(*args, **kw)

    monkeypatch.setattr(readers, "_checked_batches", swap_back)
    spec = DatasetSpec.model_validate({
        "name": "t", "source": str(tmp_path), "on_failure": "drop_rows",
        "schema": [{"name": "text", "type": "string"}],
        "suite": {"builtin": "text_corpus", "params": {"name": "t"}}})
    with pytest.raises(ShardReadError, match="t.jsonl: changed while read"):
        list(readers.iter_batches(str(path), spec, expect=expect, drops=RecordDrops()))
    drops = RecordDrops()
    rows = [r for b in readers.iter_batches(str(path), spec, expect=expect, drops=drops)
            for r in b.to_pylist()]
    assert len(rows) == 60 and drops.numbers == [51]


def test_a_jsonl_line_of_two_objects_is_their_rows_in_either_read(tmp_path, monkeypatch) -> None:
    """Arrow reads `{..} {..}` on one line as two rows. The filtered read (drop_rows, after
    another line was refused) judged the line as one JSON value and left it out: the same
    line was two rows or none by what else the shard held, and once Arrow had handed its
    rows on before the bad line's block, the unchanged shard was set aside as "changed while
    read; rerun", which no rerun mends."""
    from laas.tasks import readers
    from laas.tasks.bad_records import RecordDrops
    from laas.tasks.dataset_spec import DatasetSpec
    from laas.tasks.raw_hashing import hash_raw

    monkeypatch.setattr(readers, "BLOCK_SIZE", 256)
    lines = [json.dumps({"text": f"row {i}"}) + "\n" for i in range(60)]
    lines[3] = '{"text": "a"} {"text": "b"}\n'
    path = tmp_path / "t.jsonl"
    spec = DatasetSpec.model_validate({
        "name": "t", "source": str(tmp_path), "on_failure": "drop_rows",
        "schema": [{"name": "text", "type": "string"}],
        "suite": {"builtin": "text_corpus", "params": {"name": "t"}}})

    def read() -> tuple[list[str], list[int]]:
        drops = RecordDrops()
        expect = hash_raw("t.jsonl", str(path)).content_hash
        got = [r["text"] for b in readers.iter_batches(str(path), spec, expect=expect,
                                                         drops=drops) for r in b.to_pylist()]
        return got, drops.numbers

    path.write_text("".join(lines))
    clean, none = read()
    assert clean[3:5] == ["a", "b"] and len(clean) == 61 and none == []
    lines[50] = "{cut off\n"
    path.write_text("".join(lines))
    got, left = read()
    assert got == clean[:51] + clean[52:] and left == [51]
    lines[7] = '{"text": "c"} 5\n'  # a line Arrow refuses whole is left out whole
    path.write_text("".join(lines))
    assert read()[1] == [8, 51]


def test_verify_starts_from_a_run_that_accepted_the_file(workspace) -> None:
    """The same normalized bytes set aside whole at validation by an older run (its entry
    keeps their hash) and filtered by a newer one: verify says what the newer run did."""
    rs = rows(1200, 40, seed=1200)
    rs[3]["prompt"] = "mail me at jane.doe@example.com"
    workspace.add_dataset("again", {"a.jsonl": _jsonl(rs)}, on_failure="quarantine")
    assert workspace.laas("run", "again", "--run", "q1").returncode != 0  # set aside whole
    workspace.add_dataset("again", {"a.jsonl": _jsonl(rs)}, on_failure="drop_rows")
    r = workspace.laas("run", "again", "--run", "q2", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    cp = next(c for c in json.loads(r.stdout)["checkpoints"] if c["stage"] == "normalized")
    (shard,) = read_manifest(cp["manifest_uri"]).shards
    out = workspace.laas("verify", shard.uri)
    assert "still holds the rows validation dropped" in out.stdout + out.stderr, out.stdout


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_record_longer_than_a_block_is_read_whole(tmp_path, monkeypatch, fmt) -> None:
    """Real corpora hold rows of tens of MB (a whole book, a minified file): Arrow refuses a
    record longer than its block; the shard is read again with bigger blocks, the rows before
    it handed on once, and one longer than those is a clear error."""
    from laas.errors import ShardReadError
    from laas.tasks import readers
    from laas.tasks.dataset_spec import DatasetSpec

    monkeypatch.setattr(readers, "BLOCK_SIZE", 1 << 10)
    monkeypatch.setattr(readers, "HUGE_BLOCK", 1 << 16)
    texts = [f"row {i}" for i in range(300)]
    texts[200] = "y" * 20_000  # longer than a block, not than a big one
    line = (lambda t: json.dumps({"text": t})) if fmt == "jsonl" else (lambda t: t)
    head = "" if fmt == "jsonl" else "text\n"
    path = tmp_path / f"t.{fmt}"
    path.write_text(head + "".join(line(t) + "\n" for t in texts))
    spec = DatasetSpec.model_validate({
        "name": "t", "source": str(tmp_path), "schema": [{"name": "text", "type": "string"}],
        "suite": {"builtin": "text_corpus", "params": {"name": "t"}}})
    got = [r["text"] for b in readers.iter_batches(str(path), spec) for r in b.to_pylist()]
    assert got == texts
    texts[250] = "z" * 300_000  # longer than two of the biggest blocks
    path.write_text(head + "".join(line(t) + "\n" for t in texts))
    with pytest.raises(ShardReadError, match=r"t\.\w+: a record longer than 0.0625 MB; split it"):
        list(readers.iter_batches(str(path), spec))


def test_a_csv_cell_arrow_cannot_convert_is_left_out_with_its_row(tmp_path) -> None:
    """'?' or '-' in a number column (UCI tables mark missing values so): under drop_rows the
    row is left out, found by Arrow's own conversion, and every other row reads as Arrow reads
    it; otherwise the shard is set aside saying which value, where, and what to set."""
    from laas.errors import SchemaError
    from laas.tasks.bad_records import RecordDrops
    from laas.tasks.dataset_spec import DatasetSpec
    from laas.tasks.readers import iter_batches

    rows_ = [b"p%d,%d,%d.5\n" % (i, i, i) for i in range(3000)]
    rows_[4], rows_[5], rows_[2900] = b"bob,?,2.5\n", b"cy,40,-\n", b"zed,1e3,1\n"
    rows_[6] = b"dee,NA,3\n"  # a null marker Arrow knows: a null, not a bad value
    path = tmp_path / "t.csv"
    path.write_bytes(b"name,age,score\n" + b"".join(rows_))
    schema = [{"name": "name", "type": "string"}, {"name": "age", "type": "int64"},
              {"name": "score", "type": "float64"}]

    def spec(on_failure: str) -> DatasetSpec:
        return DatasetSpec.model_validate({
            "name": "t", "source": str(tmp_path), "schema": schema, "on_failure": on_failure,
            "suite": {"builtin": "tabular_features",
                      "params": {"columns": [c["name"] for c in schema]}}})

    drops = RecordDrops()
    got = [r for b in iter_batches(str(path), spec("drop_rows"), drops=drops)
           for r in b.to_pylist()]
    assert drops.numbers == [5, 6, 2901]
    assert drops.reasons == ["'?' in column 2 is not int64", "'-' in column 3 is not float64",
                             "'1e3' in column 2 is not int64"]
    assert len(got) == 2997 and got[4] == {"name": "dee", "age": None, "score": 3.0}
    assert got[-1] == {"name": "p2999", "age": 2999, "score": 2999.5}
    with pytest.raises(SchemaError, match=r"t.csv: '\?' in column 2 is not int64; if it marks "
                                          r"a missing value, list it in csv.null_values"):
        list(iter_batches(str(path), spec("quarantine")))


@pytest.mark.parametrize(("unit", "kept", "left"), [
    ("paragraph", ["intro\nstill intro", "third", "last"], [2]),
    ("line", ["intro", "still intro", "third", "last"], [4])])
def test_a_text_paragraph_or_line_not_in_the_encoding_is_left_out(tmp_path, unit, kept,
                                                                   left) -> None:
    """A Debian changelog in UTF-8 with one old entry in latin-1: under drop_rows that
    paragraph (or line) is left out, numbered, not the file; a document is still refused whole,
    saying to set text.encoding."""
    from laas.errors import ShardReadError
    from laas.tasks.bad_records import RecordDrops
    from laas.tasks.dataset_spec import DatasetSpec
    from laas.tasks.readers import iter_batches

    data = "\ufeffintro\nstill intro\n\nby Jos\u00e9\n\nthird\n\n\nlast\n".encode()
    (tmp_path / "a.txt").write_bytes(data.replace("Jos\u00e9".encode(), b"Jos\xe9"))

    def spec(unit: str) -> DatasetSpec:
        return DatasetSpec.model_validate({
            "name": "t", "source": str(tmp_path), "format": "text", "text": {"unit": unit},
            "on_failure": "drop_rows", "schema": [{"name": "text", "type": "string"}],
            "suite": {"builtin": "text_corpus", "params": {"name": "t"}}})

    drops = RecordDrops()
    got = [r["text"] for b in iter_batches(str(tmp_path / "a.txt"), spec(unit), drops=drops)
           for r in b.to_pylist()]
    assert (got, drops.numbers, drops.reasons) == (kept, left, ["not utf-8"])
    assert drops.records == [b"by Jos\xe9"]
    with pytest.raises(ShardReadError, match="set text.encoding"):
        list(iter_batches(str(tmp_path / "a.txt"), spec("document"), drops=RecordDrops()))


def test_a_json_array_names_or_leaves_out_the_object_arrow_cannot_take(tmp_path) -> None:
    """A JSON array holding an object of other types than the schema's: named by its place
    (Arrow said only "Expected bytes, got a 'dict' object"), or left out under drop_rows."""
    from laas.errors import SchemaError
    from laas.tasks.bad_records import RecordDrops
    from laas.tasks.dataset_spec import DatasetSpec
    from laas.tasks.readers import iter_batches

    (tmp_path / "a.json").write_text(json.dumps(
        [{"text": "a", "n": 1}, {"text": {"x": 1}, "n": 2}, {"text": "c", "n": "3"},
         {"text": "d", "n": 4}]))

    def spec(on_failure: str) -> DatasetSpec:
        return DatasetSpec.model_validate({
            "name": "t", "source": str(tmp_path), "on_failure": on_failure,
            "schema": [{"name": "text", "type": "string"}, {"name": "n", "type": "int64"}],
            "suite": {"builtin": "text_corpus", "params": {"name": "t"}}})

    drops = RecordDrops()
    got = [r for b in iter_batches(str(tmp_path / "a.json"), spec("drop_rows"), drops=drops)
           for r in b.to_pylist()]
    assert got == [{"text": "a", "n": 1}, {"text": "d", "n": 4}]
    assert drops.first() == 'object 2: text is {"x": 1}, not a string'
    assert drops.numbers == [2, 3]
    with pytest.raises(SchemaError, match=r'a.json: not valid json: object 2 of the array: '
                                          r'text is \{"x": 1\}, not a string'):
        list(iter_batches(str(tmp_path / "a.json"), spec("quarantine")))


def test_a_paragraph_left_out_is_kept_as_the_source_holds_it(tmp_path) -> None:
    """A CRLF file: the paragraph left out is recorded with its own line breaks, and the rows
    kept are those of the same file without it."""
    from laas.tasks.bad_records import RecordDrops
    from laas.tasks.dataset_spec import DatasetSpec
    from laas.tasks.readers import iter_batches

    data = b"intro\r\nstill intro\r\n\r\nby Jos\xe9\r\nmore\r\n\r\n \r\nthird\r\n\r\n\r\nlast\r\n"
    (tmp_path / "a.txt").write_bytes(data)
    spec = DatasetSpec.model_validate({
        "name": "t", "source": str(tmp_path), "format": "text", "text": {"unit": "paragraph"},
        "on_failure": "drop_rows", "schema": [{"name": "text", "type": "string"}],
        "suite": {"builtin": "text_corpus", "params": {"name": "t"}}})
    drops = RecordDrops()
    got = [r["text"] for b in iter_batches(str(tmp_path / "a.txt"), spec, drops=drops)
           for r in b.to_pylist()]
    assert got == ["intro\nstill intro", "third", "last"]
    assert (drops.numbers, drops.records) == ([2], [b"by Jos\xe9\r\nmore"])
