"""A Parquet source shard is parsed from the very bytes the raw stage hashed, whether it is
held in memory (up to SPOOL_BYTES) or spooled to disk (above): the same rows either way, and
a shard changed since it was hashed is refused either way."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from laas.datasets.make_sample import rows
from laas.errors import ShardReadError
from laas.tasks import source_bytes
from laas.tasks.dataset_spec import load_spec
from laas.tasks.raw_hashing import hash_raw
from laas.tasks.readers import iter_batches

SPEC = load_spec("instruct-sample").model_copy(update={"format": None})


@pytest.mark.parametrize("limit", [source_bytes.SPOOL_BYTES, 1000])
def test_parquet_rows_come_from_the_hashed_bytes_in_memory_or_spooled(tmp_path, monkeypatch,
                                                                       limit) -> None:
    monkeypatch.setattr(source_bytes, "SPOOL_BYTES", limit)  # 1000: this shard is spooled
    table = pa.Table.from_pylist(rows(3, 500))
    path = tmp_path / "s.parquet"
    pq.write_table(table, path)
    raw = hash_raw("s.parquet", str(path))
    got = pa.Table.from_batches(list(iter_batches(str(path), SPEC, expect=raw.content_hash)))
    assert got.to_pylist() == table.to_pylist()

    pq.write_table(table.slice(1), path)  # replaced after the raw stage hashed it
    with pytest.raises(ShardReadError, match="changed since the raw stage hashed it"):
        list(iter_batches(str(path), SPEC, expect=raw.content_hash))
