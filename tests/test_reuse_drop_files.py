"""Attacks on the files of what a run left out, through incremental reuse, on the real stack
(anvil, Prefect, Dask): a second run reuses a shard's entries from the first, and with them
the first run's files of records left out at reading (normalized-dropped/) and of rows
validation dropped (validated/dropped/). Whoever writes the store rewrites those files between
the runs: the second run must not commit entries whose files no longer hold what they commit
to (a version no `laas verify` could ever prove); it processes such a shard again, named."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq

from laas.datasets.make_sample import rows
from tests.test_incremental_pipeline import by_key, run, validated


def _lines(seed: int, n: int = 30) -> list[bytes]:
    return [json.dumps(r).encode() + b"\n" for r in rows(seed, n, seed=seed)]


def test_drop_files_rewritten_between_runs_are_not_reused(workspace) -> None:
    ws = workspace
    a, b, c = _lines(1), _lines(2), _lines(3)
    a[4] = b'{"prompt": "cut off\n'  # left out at reading
    b[6] = json.dumps({**json.loads(b[6]), "license": "proprietary"}).encode() + b"\n"
    ws.add_dataset("dropfiles", {"a.jsonl": b"".join(a), "b.jsonl": b"".join(b),
                                 "c.jsonl": b"".join(c)},
                   on_failure="drop_rows", max_dropped_rows=0.2)
    run(ws, "dropfiles", "v1")
    left = by_key(validated(ws, "dropfiles", "v1", "normalized"))["a.jsonl"]
    gone = by_key(validated(ws, "dropfiles", "v1"))["b.jsonl"]
    assert left.dropped_records_hash and gone.dropped_rows_hash
    t = pq.read_table(left.dropped_uri)  # what a.jsonl's line 5 held, rewritten
    pq.write_table(t.set_column(2, "_laas_record", pa.array([b"{}"], pa.binary())),
                   left.dropped_uri)
    t = pq.read_table(gone.dropped_uri)  # which row of b.jsonl was dropped, rewritten
    pq.write_table(t.set_column(t.schema.get_field_index("_laas_row"), "_laas_row",
                                pa.array([0], pa.int64())), gone.dropped_uri)

    second = run(ws, "dropfiles", "v2")["reuse"]
    why = second["not_reused"]
    assert second["reused"] == 1, second  # c.jsonl, which left nothing out
    assert "altered in the store" in why["a.jsonl"] and "records left out" in why["a.jsonl"]
    assert "altered in the store" in why["b.jsonl"] and "dropped-rows file" in why["b.jsonl"]
    v2 = by_key(validated(ws, "dropfiles", "v2"))
    for key in ("a.jsonl", "b.jsonl"):
        assert "/v2/" in v2[key].uri
        r = ws.laas("verify", v2[key].uri)
        assert r.returncode == 0, r.stdout + r.stderr
