"""Attacks by someone who writes the artifact store, on the real stack (anvil, Prefect, Dask),
through `laas run` and `laas gate`: files the store keeps beside the committed ones (the
duplicate keys of a validated stage) rewritten so that their digest still holds."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.conftest import Workspace
from tests.test_incremental_pipeline import run
from tests.test_versions_pipeline import jsonl


def merge_first_keys(folder: Path, shard: str) -> None:
    """In every key file of `folder`, `shard`'s first two duplicate keys made one key holding
    both and a newline: the digest over its keys (one per line) is the same, yet no row of
    the shard has the first key any more."""
    for f in folder.glob("*.parquet"):
        t = pq.read_table(f)
        keys, h = t.column("key").to_pylist(), t.column("h").to_pylist()
        if shard not in keys:
            continue
        i = keys.index(shard)
        h[i:i + 2] = [f"{h[i]}\n{h[i + 1]}"]
        del keys[i]
        pq.write_table(pa.table({"key": pa.array(keys, pa.string()),
                                 "h": pa.array(h, pa.string())}), f)


def test_a_duplicate_hidden_by_merging_keys_in_the_store_is_still_counted(workspace: Workspace
                                                                          ) -> None:
    """dup (quarantine, a dataset-wide duplicate rate): v1 = b, c, each row distinct. The
    attacker merges b's first two keys in v1's key file; v2 adds a.jsonl repeating b's first
    row. Were the merged keys carried over, the repeat would meet no equal key, the dataset
    check would pass and the gate would let a duplicate through."""
    ws = workspace
    ws.add_dataset("dup", {"b.jsonl": jsonl(2), "c.jsonl": jsonl(3)})
    run(ws, "dup", "v1")
    merge_first_keys(ws.root / ".laas" / "artifacts" / "dup" / "v1" / "validated" /
                     "text-hashes", "b.jsonl")
    (ws.root / "datasets" / "dup" / "a.jsonl").write_bytes(jsonl(2, 1))  # b's first row
    r = ws.laas("run", "dup", "--run", "v2", "--json")
    summary = json.loads(r.stdout)
    assert "duplicate keys" in summary["reuse"]["not_reused"].get("b.jsonl", ""), summary["reuse"]
    assert r.returncode == 1 and not summary["passed"], r.stdout + r.stderr
    assert [c["success"] for c in summary["dataset_checks"]] == [False]
    assert ws.laas("gate", "dup").returncode == 1
