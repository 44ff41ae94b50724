"""Source shards crafted against the readers by whoever controls the bucket: records the
filtered second read (drop_rows) could lose without a word, lines without end that would hold
a worker's memory and time. Each is refused with one line naming the shard, or read with what
it left out counted."""

from __future__ import annotations

import pytest

from laas.errors import ShardReadError
from laas.tasks import line_stream, readers
from laas.tasks.bad_records import RecordDrops
from laas.tasks.dataset_spec import DatasetSpec


def _spec(tmp_path, on_failure: str = "drop_rows", **extra) -> DatasetSpec:
    return DatasetSpec.model_validate({
        "name": "t", "source": str(tmp_path), "on_failure": on_failure,
        "schema": [{"name": "name", "type": "string"}, {"name": "age", "type": "int64"}],
        "suite": {"builtin": "tabular_features", "params": {"columns": ["name"]}}, **extra})


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
