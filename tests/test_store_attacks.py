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


def test_a_key_file_of_another_shape_planted_in_the_store_stops_no_run(workspace: Workspace
                                                                        ) -> None:
    """A Parquet file in the previous run's key folder whose `key` column is a list (what no
    laas writes) stopped every later run of the dataset in its reuse plan (an Arrow error
    nothing caught); it is not one of ours, and is not read."""
    ws = workspace
    ws.add_dataset("shp", {"b.jsonl": jsonl(2), "c.jsonl": jsonl(3)})
    run(ws, "shp", "v1")
    folder = ws.root / ".laas" / "artifacts" / "shp" / "v1" / "validated" / "text-hashes"
    pq.write_table(pa.table({"key": pa.array([["b.jsonl"]]), "h": ["0" * 32]}),
                   folder / "batch-0000.parquet")
    second = run(ws, "shp", "v2")
    assert (second["reuse"]["reused"], second["passed"]) == (2, True), second["reuse"]


def test_a_planted_note_of_somebody_elses_waiting_transaction_does_not_hold_up_resume(
        workspace: Workspace) -> None:
    """sent-*.json notes lie beside a pending run's manifests, whose hashes anyone reading
    the store knows. A note without the signed bytes (as a node-signed transaction leaves)
    naming a transaction that waits for ever in the node's pool (another account's, a nonce
    ahead of its own) was waited on for LAAS_TX_TIMEOUT on every attempt, and the run stayed
    pending however often it was resumed; it is no commit by this key, and is ignored."""
    import time

    from web3 import HTTPProvider, Web3

    from laas.anchors.adapters.artifacts import ArtifactStore, read_manifest
    from laas.anchors.services.anchoring import store_manifest
    from laas.wiring import ledger
    from tests.test_attacks import run_copy

    ws = workspace
    ws.add_dataset("nts", {"a.jsonl": jsonl(1)})
    first = run(ws, "nts", "n1")
    real = {c["stage"]: read_manifest(c["manifest_uri"]) for c in first["checkpoints"]}
    w3 = Web3(HTTPProvider(f"http://127.0.0.1:{ws.port}"))
    other = w3.eth.accounts[2]  # anvil's dev account: unlocked, funded, not a committer
    stuck = Web3.to_hex(w3.eth.send_transaction({
        "from": other, "to": other, "value": 0,
        "nonce": w3.eth.get_transaction_count(other) + 5}))
    assert w3.eth.get_transaction(stuck)["blockNumber"] is None  # waiting, for ever
    store = ArtifactStore(str(ws.root / ".laas" / "artifacts"))
    for m in run_copy(real, "n2"):  # a run kept in the store, pending anchor
        store_manifest(ledger(ws.settings()), m)
        store.record_sent(m, stuck, None)
    started = time.monotonic()
    done = ws.laas("anchor", "--resume", "nts", "--run", "n2", "--json",
                   env={**ws.env, "LAAS_TX_TIMEOUT": "20", "LAAS_ANCHOR_ATTEMPTS": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)[0]["action"] == "committed"
    assert time.monotonic() - started < 20
