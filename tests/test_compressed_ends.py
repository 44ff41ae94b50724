"""A compressed shard cut off (an upload or a copy that stopped) is refused, naming it, in every
codec: python-zstandard's reader ended quietly where the bytes ended, so a cut .zst shard read
as fewer rows (under drop_rows its cut last line left out and the rest committed, the tail
lost without a word) or failed with a JSON or CSV parse error that named neither the cut nor
what to do."""

from __future__ import annotations

import json

import pytest
import zstandard

from laas.errors import ShardReadError
from laas.tasks.bad_records import RecordDrops
from laas.tasks.dataset_spec import DatasetSpec
from laas.tasks.readers import iter_batches

LINES = b"".join(json.dumps({"text": f"row {i} " + "x" * (i % 97)}).encode() + b"\n"
                 for i in range(40_000))


def _spec(tmp_path, on_failure: str) -> DatasetSpec:
    return DatasetSpec.model_validate({
        "name": "t", "source": str(tmp_path), "on_failure": on_failure,
        "schema": [{"name": "text", "type": "string"}],
        "suite": {"builtin": "text_corpus", "params": {"name": "t"}}})


def _rows(path, spec) -> int:
    drops = RecordDrops() if spec.on_failure == "drop_rows" else None
    return sum(b.num_rows for b in iter_batches(str(path), spec, drops=drops))


def _zst(data: bytes, **kw) -> bytes:
    return zstandard.ZstdCompressor(**kw).compress(data)


@pytest.mark.parametrize("on_failure", ["quarantine", "drop_rows"])
def test_a_cut_off_zstd_shard_is_refused_wherever_it_was_cut(tmp_path, on_failure) -> None:
    whole = _zst(LINES, write_checksum=True)
    path = tmp_path / "t.jsonl.zst"
    for cut in (4, 9, len(whole) // 3, len(whole) // 2, len(whole) - 5, len(whole) - 1):
        path.write_bytes(whole[:cut])
        with pytest.raises(ShardReadError, match=r"t.jsonl.zst: .*cut off"):
            _rows(path, _spec(tmp_path, on_failure))


def test_whole_zstd_shards_read_every_row(tmp_path) -> None:
    """Several frames one after another (pzstd, appended logs), a skippable frame, frames
    with and without their checksum and content size: every row."""
    half = len(LINES) // 2
    cut = LINES.rindex(b"\n", 0, half) + 1
    skippable = (0x184D2A5A).to_bytes(4, "little") + (5).to_bytes(4, "little") + b"laas!"
    streamed = zstandard.ZstdCompressor().compressobj()
    for data in (_zst(LINES),
                 _zst(LINES[:cut], write_checksum=True) + skippable + _zst(LINES[cut:]),
                 _zst(LINES, write_content_size=False),
                 streamed.compress(LINES) + streamed.flush()):
        (tmp_path / "t.jsonl.zst").write_bytes(data)
        assert _rows(tmp_path / "t.jsonl.zst", _spec(tmp_path, "quarantine")) == 40_000


@pytest.mark.parametrize(("name", "fmt"), [("t.jsonl.gz", "jsonl"), ("t.csv.gz", "csv"),
                                           ("t.jsonl.zst", "jsonl")])
def test_a_compressed_shard_of_nothing_is_empty(tmp_path, name, fmt) -> None:
    """Not "not valid jsonl (Empty JSON stream)": empty, as an empty file is."""
    import gzip

    (tmp_path / name).write_bytes(gzip.compress(b"") if name.endswith("gz") else _zst(b""))
    spec = _spec(tmp_path, "quarantine").model_copy(update={"format": fmt})
    with pytest.raises(ShardReadError, match=rf"{name}: empty \(0 rows\)"):
        _rows(tmp_path / name, spec)
