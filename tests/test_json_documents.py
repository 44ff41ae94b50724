"""`format: json`: a file holding one object is a row (a folder of one document per file, as
API dumps and crawls hold them), an array's objects are rows, and a document is read as
strictly as a JSONL line: a field given twice or NaN is no record, left out under drop_rows or
named."""

from __future__ import annotations

import json

import pytest

from laas.errors import SchemaError
from laas.tasks import json_array
from laas.tasks.bad_records import RecordDrops
from laas.tasks.dataset_spec import DatasetSpec
from laas.tasks.readers import iter_batches


def _spec(folder, on_failure: str) -> DatasetSpec:
    return DatasetSpec.model_validate({
        "name": "t", "source": str(folder), "format": "json", "on_failure": on_failure,
        "schema": [{"name": "text", "type": "string"}, {"name": "score", "type": "float64"}],
        "suite": {"builtin": "text_corpus", "params": {"name": "t"}}})


def _rows(path, spec, drops=None) -> list[dict]:
    return [r for b in iter_batches(str(path), spec, drops=drops) for r in b.to_pylist()]


def test_a_file_holding_one_pretty_printed_object_is_one_row(tmp_path) -> None:
    path = tmp_path / "doc.json"
    path.write_text(json.dumps({"text": "a schema", "score": 0.5, "nested": {"x": [1, 2]}},
                               indent=2))
    assert _rows(path, _spec(tmp_path, "quarantine")) == [{"text": "a schema", "score": 0.5}]


ARRAY = ('[{"text": "a", "score": 1},\n 7,\n {"text": "b", "text": "poison", "score": 2},\n'
         ' {"text": "c", "score": NaN},\n {"text": "d", "meta": {"k": 1, "k": 2}},\n'
         ' {"text": "e", "score": 5}]')


def test_records_jsonl_would_refuse_are_left_out_under_drop_rows(tmp_path) -> None:
    """Python's json keeps the last of two values, other readers the first: the object is no
    record, as its JSONL line would not be (before, "poison" was kept silently)."""
    path = tmp_path / "a.json"
    path.write_text(ARRAY)
    drops = RecordDrops()
    got = _rows(path, _spec(tmp_path, "drop_rows"), drops)
    assert got == [{"text": "a", "score": 1.0}, {"text": "e", "score": 5.0}]
    assert drops.numbers == [2, 3, 4, 5]
    assert drops.reasons == ["a JSON number, not an object", "not JSON (a field given twice)",
                             "not JSON (NaN is not JSON)", "not JSON (a field given twice)"]


def test_without_drop_rows_the_first_such_record_is_named(tmp_path) -> None:
    path = tmp_path / "a.json"
    path.write_text(ARRAY)
    with pytest.raises(SchemaError, match="a.json: not valid json: object 2 of the array: a "
                                          "JSON number, not an object"):
        _rows(path, _spec(tmp_path, "quarantine"))


def test_the_same_record_reads_alike_as_json_and_as_jsonl(tmp_path) -> None:
    from laas.tasks.jsonl_lines import line_problem
    from laas.tasks.readers import arrow_schema

    spec = _spec(tmp_path, "drop_rows")
    for record in ('{"text": "b", "text": "poison"}', '{"text": "c", "score": NaN}'):
        (tmp_path / "one.json").write_text(record)
        drops = RecordDrops()
        assert _rows(tmp_path / "one.json", spec, drops) == []
        assert drops.reasons == [line_problem(record.encode(), arrow_schema(spec), spec.kinds)]


@pytest.mark.parametrize("doc, words", [
    ("[" * 100_000 + "]" * 100_000, "nested too deep"),
    ("12", "a JSON number, not an object or an array of objects"),
])
def test_a_document_that_holds_no_records_is_named(tmp_path, doc, words) -> None:
    (tmp_path / "d.json").write_text(doc)
    with pytest.raises(SchemaError, match=f"d.json: .*{words}"):
        _rows(tmp_path / "d.json", _spec(tmp_path, "drop_rows"), RecordDrops())


def test_a_document_too_big_to_read_whole_says_to_use_jsonl(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(json_array, "MAX_DOCUMENT", 1000)
    (tmp_path / "big.json").write_text(json.dumps([{"text": "x" * 100}] * 20))
    with pytest.raises(SchemaError, match="big.json: a JSON document over 256 MB .*format: jsonl"):
        _rows(tmp_path / "big.json", _spec(tmp_path, "quarantine"))


def test_deeply_nested_records_are_set_aside_not_a_crashed_worker(workspace) -> None:
    """100,000 nested brackets, as a JSON document and as one JSONL line, in a real run on
    Dask workers: the document is set aside as nested too deep (it said "unreadable
    (RecursionError ...)", as if the storage had failed), the line is left out, the other
    shards pass. (A process that has imported eth_account died on such input:
    tests/test_rpc_bounds.py.)"""
    from laas.datasets.make_sample import rows

    good = rows(2000, 20, seed=2000)
    deep = "[" * 100_000 + "]" * 100_000
    lines = [json.dumps(r) for r in rows(2100, 20, seed=2100)]
    lines[4] = '{"prompt": ' + deep + "}"
    workspace.add_dataset("deep", {
        "good.json": json.dumps(good).encode(), "deep.json": deep.encode(),
        "deep.jsonl": ("\n".join(lines) + "\n").encode()}, format=None, on_failure="drop_rows")
    r = workspace.laas("run", "deep", "--run", "d1", "--json")
    summary = json.loads(r.stdout)
    aside = {a["key"]: a["reason"] for a in summary["set_aside"]}
    assert "nested too deep" in aside.pop("deep.json")
    assert aside == {}
    assert summary["rows_dropped"]["deep.jsonl"].startswith("1 of 20 records cannot be read")


def test_a_compressed_document_is_read_to_its_end(tmp_path) -> None:
    """Read in parts to its end (a stream may hand over less than asked before its end)."""
    import zstandard

    rows = [{"text": f"row {i} " + "x" * 200, "score": float(i)} for i in range(20_000)]
    (tmp_path / "big.json.zst").write_bytes(zstandard.compress(json.dumps(rows).encode()))
    assert len(_rows(tmp_path / "big.json.zst", _spec(tmp_path, "quarantine"))) == 20_000
