"""Source shards crafted against the readers by whoever controls the bucket: records the
filtered second read (drop_rows) could lose without a word, lines without end that would hold
a worker's memory and time. Each is refused with one line naming the shard, or read with what
it left out counted."""

from __future__ import annotations

import json

import pytest

from laas.errors import SchemaError, ShardReadError
from laas.tasks import line_stream, readers
from laas.tasks.bad_records import RecordDrops
from laas.tasks.dataset_spec import DatasetSpec


def _spec(tmp_path, on_failure: str = "drop_rows", **extra) -> DatasetSpec:
    schema = extra.pop("schema", [{"name": "name", "type": "string"},
                                  {"name": "age", "type": "int64"}])
    return DatasetSpec.model_validate({
        "name": "t", "source": str(tmp_path), "on_failure": on_failure, "schema": schema,
        "suite": {"builtin": "tabular_features",
                  "params": {"columns": [c["name"] for c in schema]}}, **extra})


def _read(path, spec: DatasetSpec) -> tuple[int, RecordDrops]:
    drops = RecordDrops()
    rows = sum(b.num_rows for b in readers.iter_batches(str(path), spec, drops=drops))
    return rows, drops


def test_a_quote_never_closed_does_not_hide_the_rows_after_it(tmp_path) -> None:
    """A row with too many fields sends the shard to the filtered read; a quote opened later
    and never closed made that read keep every line after it back, unread and uncounted: 990
    of 1,000 rows gone, the manifest saying 1 of 10 records was left out. Arrow refuses the
    quote as it does without drop_rows."""
    rows = [b"p%d,%d\n" % (i, i) for i in range(1000)]
    rows[3] = b"a,1,2\n"
    rows[10] = b'"never closed,5\n'
    path = tmp_path / "t.csv"
    path.write_bytes(b"name,age\n" + b"".join(rows))
    with pytest.raises(ShardReadError, match=r"t\.csv: not valid csv"):
        _read(path, _spec(tmp_path))


@pytest.mark.parametrize("case", ["comment", "quote", "jsonl"])
def test_a_line_without_end_is_refused_within_bounds(tmp_path, monkeypatch, case) -> None:
    """A line longer than the biggest block is refused, not held whole in memory: before,
    the line rewriters (a comment dialect's, the filtered read's) joined it to each new MB it
    read, so a 64 MB line took 15 s and one of a few GB filled the worker's memory."""
    monkeypatch.setattr(readers, "HUGE_BLOCK", 1 << 20)
    monkeypatch.setattr(line_stream, "MAX_LINE", 1 << 20)
    extra: dict = {"csv": {"comment": "#"}} if case == "comment" else {}
    if case == "jsonl":
        path = tmp_path / "t.jsonl"
        path.write_bytes(b'{"name": 1}\n{"name": "' + b"y" * (5 << 20) + b'"}\n')
        extra["schema"] = [{"name": "name", "type": "string"}]
    else:
        path = tmp_path / "t.csv"
        quote = b'"' if case == "quote" else b""
        path.write_bytes(b"name,age\nx,1,2\n" + quote + b"y" * (5 << 20) + b",1\nz,2\n")
    with pytest.raises(ShardReadError, match=r"t\.\w+: a record longer than 1 MB; split it"):
        _read(path, _spec(tmp_path, **extra))


def _counted_checks(monkeypatch) -> list[int]:
    from laas.tasks.bad_values import ValueCheck

    calls = [0]
    problem = ValueCheck._problem

    def counted(self, data: bytes) -> str | None:
        calls[0] += 1
        return problem(self, data)

    monkeypatch.setattr(ValueCheck, "_problem", counted)
    return calls


def test_a_column_of_bad_cells_stops_once_over_max_dropped_rows(tmp_path, monkeypatch) -> None:
    """Every cell of a number column unreadable: each bad cell is found by Arrow reads (~0.3-1
    ms each), so 20,000 rows took 40,000 reads (15 s; a 1 GB table, hours) to set the shard
    aside for what its first 2,001 already proved. It stops there."""
    calls = _counted_checks(monkeypatch)
    path = tmp_path / "t.csv"
    path.write_bytes(b"name,age\n" + b"".join(b"p%d,x%d\n" % (i, i) for i in range(20_000)))
    with pytest.raises(ShardReadError, match=r"t\.csv: at least 2001 of 20000 records cannot "
                                             r"be read \(first: row 1: 'x0' in column 2 is not "
                                             r"int64\): over max_dropped_rows 10%"):
        _read(path, _spec(tmp_path))
    assert calls[0] < 9_000


def test_bad_cells_crowded_at_the_start_are_all_left_out_when_under_the_bound(tmp_path,
                                                                              monkeypatch) -> None:
    """1,500 bad cells in the first 5,000 rows (over 20 % of those) of 20,000 (7.5 %): the
    rest is counted, then the shard read again knowing its count, and exactly those rows are
    left out."""
    calls = _counted_checks(monkeypatch)
    pad = b"z" * 180
    rows = [b"%s%d,%s\n" % (pad, i, b"x" if i < 1500 else b"%d" % i) for i in range(20_000)]
    path = tmp_path / "t.csv"
    path.write_bytes(b"name,age\n" + b"".join(rows))
    kept, drops = _read(path, _spec(tmp_path, max_dropped_rows=0.2))
    assert kept == 18_500 and drops.numbers == list(range(1, 1501))
    assert calls[0] > 0


def test_a_normalized_shard_swapped_for_a_huge_file_is_refused_before_it_is_held(
        tmp_path) -> None:
    """The validate stage read a normalized file whole into memory before checking it: one
    swapped in the store for GBs took the worker down. Past what the committed shard can take
    as Parquet (4 times its canonical size and 16 MB) it is refused, not held."""
    import tracemalloc

    import pyarrow as pa
    import pyarrow.parquet as pq

    from laas.anchors.adapters.files import rehash_parquet_at
    from laas.anchors.core.canonical import to_hex
    from laas.anchors.core.models import ShardEntry
    from laas.tasks.normalized_reads import verified_batches

    path = tmp_path / "k.parquet"
    pq.write_table(pa.table({"text": [f"row {i}" for i in range(1000)]}), path)
    digest, size, rows = rehash_parquet_at(str(path))
    entry = ShardEntry(key="k", uri=str(path), source_uri="s", byte_size=size, rows=rows,
                       content_hash=to_hex(digest))
    path.write_bytes(b"\0" * (48 << 20))
    tracemalloc.start()
    try:
        with pytest.raises(ShardReadError, match="changed since the normalized stage hashed it"):
            list(verified_batches(entry))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 24 << 20, peak


def test_the_verified_reader_refuses_a_huge_swapped_shard_before_holding_it(tmp_path) -> None:
    """The training reader read a shard whole to hash it: one swapped after the gate for GBs
    filled the training machine's memory first. With the sizes the gate proved, it is refused
    unread."""
    import tracemalloc

    import pyarrow as pa
    import pyarrow.parquet as pq

    from laas.anchors.adapters.files import rehash_parquet_at
    from laas.anchors.core.canonical import to_hex
    from laas.anchors.services.reader import VerifiedReader
    from laas.errors import HashMismatch

    path = tmp_path / "k.parquet"
    pq.write_table(pa.table({"text": [f"row {i}" for i in range(1000)]}), path)
    digest, size, _ = rehash_parquet_at(str(path))
    reader = VerifiedReader([str(path)], [to_hex(digest)], [size])
    assert reader.table(0).num_rows == 1000
    path.write_bytes(b"\0" * (48 << 20))
    tracemalloc.start()
    try:
        with pytest.raises(HashMismatch, match="larger than the shard the gate verified"):
            reader.table(0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, peak


_NULL_LINE_READ = """
import sys
from laas.errors import ShardReadError
from laas.tasks import readers
from laas.tasks.bad_records import RecordDrops
from laas.tasks.dataset_spec import DatasetSpec
readers.BLOCK_SIZE = 64  # a block starts at the `null` line below
spec = DatasetSpec.model_validate({
    "name": "t", "source": sys.argv[1], "on_failure": sys.argv[2],
    "schema": [{"name": "a", "type": "int64"}],
    "suite": {"builtin": "tabular_features", "params": {"columns": ["a"]}}})
drops = RecordDrops() if sys.argv[2] == "drop_rows" else None
try:
    rows = sum(b.num_rows for b in readers.iter_batches(sys.argv[1] + "/t.jsonl", spec,
                                                         drops=drops))
    print("rows", rows, "dropped", drops and drops.numbers)
except ShardReadError as e:
    print("refused", e)
"""


@pytest.mark.parametrize(("on_failure", "said"), [
    ("quarantine", "refused shard .*t.jsonl: .*line 9: a JSON null, not an object"),
    ("drop_rows", r"rows 16 dropped \[9\]")])
def test_a_null_line_at_a_block_start_does_not_crash_the_worker(tmp_path, on_failure,
                                                                 said) -> None:
    """Arrow's JSON reader (pyarrow 26) dies of a segmentation fault on a line `null` that
    starts one of its blocks: any JSONL shard in the bucket could take a Dask worker, or a
    `laas run`, down. Such a line is no object: refused, naming it, or left out."""
    import re
    import subprocess
    import sys

    (tmp_path / "t.jsonl").write_bytes(b'{"a":1}\n' * 8 + b"null\n" + b'{"a":2}\n' * 8)
    r = subprocess.run([sys.executable, "-c", _NULL_LINE_READ, str(tmp_path), on_failure],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, (r.returncode, r.stderr[-500:])
    assert re.search(said, r.stdout), r.stdout


def test_the_gate_refuses_a_huge_swapped_shard_without_reading_it() -> None:
    """A validated shard swapped in the store for a valid Parquet file of GBs in one row
    group: the gate read it whole (time, and memory of the row group) before denying. Past
    what the committed shard can be as Parquet it is denied unread."""
    import io
    import os

    import pyarrow as pa
    import pyarrow.parquet as pq

    from tests.fakes import FakeLedger, write
    from tests.test_services import gate

    ledger = FakeLedger()
    _, _, validated = ledger.ingest("ds", "r1")
    assert gate(ledger).allowed
    buf = io.BytesIO()
    pq.write_table(pa.table({"prompt": [os.urandom(1 << 20).hex() for _ in range(20)]}), buf,
                   row_group_size=1 << 20)
    write(validated.accepted[0].uri, buf.getvalue())
    v = gate(ledger)
    assert not v.allowed and "more than the committed shard can be as Parquet" in v.reason, \
        v.reason



def _text_spec(tmp_path, on_failure: str) -> DatasetSpec:
    return DatasetSpec.model_validate({
        "name": "t", "source": str(tmp_path), "on_failure": on_failure,
        "schema": [{"name": "text", "type": "string"}],
        "suite": {"builtin": "text_corpus", "params": {"name": "t"}}})


@pytest.mark.parametrize("null", [b" null", b"null", b" \t null "])
def test_null_after_an_object_on_its_line_is_no_row_in_either_read(tmp_path, monkeypatch,
                                                                   null) -> None:
    """Arrow reads `{..} null` as two rows, the second all null: a row nobody wrote went on
    to validation (and, through a nullable schema, into the data); under drop_rows, once a
    later line sent the shard to the filtered read (which leaves that line out whole), the
    unchanged shard was set aside as "changed while read; rerun", which no rerun mends."""
    import json

    from laas.tasks.raw_hashing import hash_raw

    monkeypatch.setattr(readers, "BLOCK_SIZE", 256)
    lines = [json.dumps({"text": f"row {i}"}).encode() + b"\n" for i in range(60)]
    lines[2] = b'{"text": "z"}' + null + b"\n"
    lines[40] = b"{cut off\n"
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"".join(lines))
    expect = hash_raw("t.jsonl", str(path)).content_hash
    drops = RecordDrops()
    got = [r["text"] for b in readers.iter_batches(str(path), _text_spec(tmp_path, "drop_rows"),
                                                     expect=expect, drops=drops)
           for r in b.to_pylist()]
    assert drops.numbers == [3, 41] and None not in got and len(got) == 58
    with pytest.raises(ShardReadError, match=r"t.jsonl: .*line 3: a JSON null, not an object"):
        list(readers.iter_batches(str(path), _text_spec(tmp_path, "quarantine")))


def test_a_string_holding_brace_null_is_read_as_it_is(tmp_path) -> None:
    """What looks like `} null` inside a string value is text, not a second value."""
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"text": "if (x) {} null"}\n{"text": "b"}\n' * 40)
    for on_failure in ("quarantine", "drop_rows"):
        drops = RecordDrops() if on_failure == "drop_rows" else None
        got = [r["text"] for b in readers.iter_batches(
            str(path), _text_spec(tmp_path, on_failure), drops=drops) for r in b.to_pylist()]
        assert got == ["if (x) {} null", "b"] * 40 and not drops


@pytest.mark.parametrize("line", [
    b'{"text": "d", "meta": {"k": 1, "k": 2}}',  # a field twice where the schema takes none
    b'{"text": "d", "m": 1, "m": 2}',
    b'{"text": "d", "n": ' + b"[" * 5000 + b"]" * 5000 + b"}",  # deeper than Python parses
    b'{"text": "d", "n": "\xff"}',  # not UTF-8 in a field the schema does not take
    b'{"text": "d", "score": NaN}', b'{"text": "d", "score": -Infinity}',
    b'{"text": "d", "n": 1e400}', b'{"text": "d", "n": "\\udc00"}',  # Arrow refuses these
    b'{"text": "d", "n": "\\ud83d\\ude00", "score": 1e300}',  # and takes these
])
def test_a_jsonl_line_reads_alike_whatever_else_its_shard_holds(tmp_path, line) -> None:
    """Whether a line is a row must not depend on another line of the shard: the filtered
    read (drop_rows, after a bad line elsewhere) judged lines by Python's json, stricter
    than Arrow on fields the schema does not take and laxer on numbers too big for a
    double, so the same line was a row or none by what else the shard held, and an
    unchanged shard was set aside as "changed while read; rerun", which no rerun mends."""
    import json

    from laas.tasks.raw_hashing import hash_raw

    spec = DatasetSpec.model_validate({
        "name": "t", "source": str(tmp_path), "on_failure": "drop_rows",
        "schema": [{"name": "text", "type": "string"}, {"name": "score", "type": "float64"}],
        "suite": {"builtin": "text_corpus", "params": {"name": "t"}}})
    path = tmp_path / "t.jsonl"

    def read(cut: bool) -> tuple[list, list]:
        lines = [json.dumps({"text": f"row {i}"}).encode() + b"\n" for i in range(60)]
        lines[3] = line + b"\n"
        if cut:
            lines[50] = b"{cut off\n"
        path.write_bytes(b"".join(lines))
        drops = RecordDrops()
        rows = [r["text"] for b in readers.iter_batches(
            str(path), spec, expect=hash_raw("t.jsonl", str(path)).content_hash, drops=drops)
                for r in b.to_pylist()]
        return rows, drops.numbers

    readers.BLOCK_SIZE, block = 256, readers.BLOCK_SIZE
    try:
        alone, cut = read(False), read(True)
    finally:
        readers.BLOCK_SIZE = block
    assert cut == ([r for r in alone[0] if r != "row 50"], [*alone[1], 51]), (alone, cut)


def test_a_quote_inside_a_csv_field_is_text_in_either_read(tmp_path) -> None:
    """Arrow reads a quote that does not start a field as text (`12" pizza`, `5'10"`); the
    filtered read (drop_rows, after a row with too many fields) took it for an opening quote
    and ran to the next one, so the row meant to be left out reached Arrow and the whole
    shard was set aside. The rows are Arrow's, less the one left out."""
    lines = [b"w,n\n", b'12" pizza,1\n', b'say ""hi"",2\n', b'"a ""q"" b",3\n',
             b'"two\nlines",4\n', b'"",5\n'] + [b"w%d,%d\n" % (i, i) for i in range(6, 40)]
    spec = DatasetSpec.model_validate({
        "name": "t", "source": str(tmp_path), "on_failure": "drop_rows",
        "schema": [{"name": "w", "type": "string"}, {"name": "n", "type": "int64"}],
        "suite": {"builtin": "tabular_features", "params": {"columns": ["w", "n"]}}})
    path = tmp_path / "t.csv"
    path.write_bytes(b"".join(lines))
    alone = [r["w"] for b in readers.iter_batches(str(path), spec, drops=RecordDrops())
             for r in b.to_pylist()]
    assert alone[:5] == ['12" pizza', 'say ""hi""', 'a "q" b', "two\nlines", ""]
    lines[20] = b"a,1,2,3\n"
    path.write_bytes(b"".join(lines))
    rows, drops = _read(path, spec)
    assert drops.numbers == [20] and rows == len(alone) - 1


@pytest.mark.parametrize("on_failure", ["drop_rows", "quarantine"])
def test_a_field_that_first_appears_after_the_first_block_is_not_a_missing_column(
        tmp_path, monkeypatch, on_failure: str) -> None:
    """A non-nullable column null in every row of one batch was taken as absent from the
    shard: a JSONL shard whose records gain a field after the first 8 MB was set aside whole
    as 'missing column(s)'. It is absent only when no row of the shard holds it."""
    monkeypatch.setattr(readers, "BLOCK_SIZE", 1 << 16)
    spec = DatasetSpec.model_validate({
        "name": "t", "source": str(tmp_path), "on_failure": on_failure,
        "schema": [{"name": "text", "type": "string"},
                   {"name": "tag", "type": "string", "nullable": False}],
        "suite": [{"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}}]})
    late = tmp_path / "late.jsonl"
    late.write_text("".join(json.dumps({"text": f"row {i} " + "x" * 100}) + "\n"
                            for i in range(2000)) + '{"text": "last", "tag": "t"}\n')
    drops = RecordDrops() if on_failure == "drop_rows" else None
    batches = list(readers.iter_batches(str(late), spec, drops=drops))
    assert len(batches) > 1 and sum(b.num_rows for b in batches) == 2001
    assert batches[-1].column("tag").to_pylist()[-1] == "t"
    never = tmp_path / "never.jsonl"
    never.write_text("".join(json.dumps({"text": f"row {i}"}) + "\n" for i in range(5)))
    with pytest.raises(SchemaError, match=r"shard .*never\.jsonl: missing column\(s\) tag$"):
        list(readers.iter_batches(str(never), spec, drops=drops))
