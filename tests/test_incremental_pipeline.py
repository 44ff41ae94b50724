"""Incremental runs on the real stack (anvil, Prefect, Dask), through `laas run`: a second run
reuses the unchanged shards and processes the new one, with the root a full run gets; and the
attacks of someone who controls the artifact store: a reused file altered (processed again,
never reused), a run planted in the store that is not on chain (ignored), the previous run's
manifest swapped (nothing reused). A changed suite reuses nothing; drop_rows keeps the first
occurrence of a duplicate across reused and new shards, and `laas verify` re-derives a reused
shard whose rows were dropped."""

from __future__ import annotations

import json
import shutil

import pytest

from laas.anchors.adapters.artifacts import read_manifest
from laas.anchors.core.canonical import name_id
from laas.anchors.core.models import checkpoint_id
from laas.anchors.core.results import results_of
from laas.datasets.make_sample import rows
from laas.wiring import open_registry
from tests.conftest import Workspace
from tests.test_versions_pipeline import jsonl


def run(ws: Workspace, dataset: str, name: str, *args: str) -> dict:
    r = ws.laas("run", dataset, "--run", name, "--json", *args)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout)


def validated(ws: Workspace, dataset: str, name: str,  # noqa: ANN201 - its manifest, from chain
              stage: str = "validated"):
    reg = open_registry(ws.settings(), start_local=False)
    reg.locate(name_id(dataset), name_id(name))
    cp = reg.get(checkpoint_id(name_id(dataset), name_id(name), stage))
    return read_manifest(cp.manifest_uri, expected_hash=cp.manifest_hash)


def by_key(m) -> dict:  # noqa: ANN001
    return {s.key: s for s in m.shards}


@pytest.fixture(scope="module")
def ws(workspace: Workspace) -> Workspace:
    """`inc` (quarantine): v1 = a, b, c; v2 = the same and d, new."""
    workspace.add_dataset("inc", {k: jsonl(n) for n, k in enumerate(
        ["a.jsonl", "b.jsonl", "c.jsonl"], 1)})
    first = run(workspace, "inc", "v1")
    assert first["reuse"]["reused"] == 0 and "no passed run" in first["reuse"]["note"]
    (workspace.root / "datasets" / "inc" / "d.jsonl").write_bytes(jsonl(4))
    workspace.second = run(workspace, "inc", "v2")
    return workspace


def test_a_second_run_reuses_the_unchanged_shards_and_processes_the_new_one(ws) -> None:
    reuse = ws.second["reuse"]
    assert (reuse["from_run"], reuse["reused"], reuse["new"], reuse["processed"]) == \
        ("v1", 3, 1, 1)
    v2 = by_key(validated(ws, "inc", "v2"))
    assert "/v1/" in v2["a.jsonl"].uri and "/v2/" in v2["d.jsonl"].uri  # reused, not copied
    assert v2["a.jsonl"].leaf == by_key(validated(ws, "inc", "v1"))["a.jsonl"].leaf
    kept = results_of(validated(ws, "inc", "v2"))["a.jsonl"]  # its committed results, reused
    assert kept == results_of(validated(ws, "inc", "v1"))["a.jsonl"] and kept["outcomes"]
    diff = json.loads(ws.laas("diff", "inc", "v1", "v2", "--json").stdout)
    assert [c["key"] for c in diff["added"]] == ["d.jsonl"]
    assert (diff["removed"], diff["changed"], diff["unchanged"]) == ([], [], 3)
    full = run(ws, "inc", "v2-full", "--no-reuse")  # what a full run over the same sources gets
    assert full["reuse"]["reused"] == 0 and "switched off" in full["reuse"]["note"]
    assert full["checkpoints"][2]["shards_root"] == ws.second["checkpoints"][2]["shards_root"]


def test_the_gate_allows_an_incremental_run_and_verify_proves_a_reused_file(ws) -> None:
    gate = ws.laas("gate", "inc", "--run", "v2")
    assert gate.returncode == 0 and "ALLOW" in gate.stdout, gate.stdout + gate.stderr
    reused = by_key(validated(ws, "inc", "v2"))["b.jsonl"].uri
    r = ws.laas("verify", reused)
    assert r.returncode == 0 and "PROVEN" in r.stdout, r.stdout + r.stderr


def test_an_altered_reused_file_is_processed_again_and_a_planted_run_is_ignored(ws) -> None:
    v1 = by_key(validated(ws, "inc", "v1"))
    latest = by_key(validated(ws, "inc", "v2-full"))  # the dataset's latest passed run
    # someone with write access to the store: b's file now holds a's rows, and a run that
    # was never committed sits in the store with manifests copied from v2
    shutil.copyfile(latest["a.jsonl"].uri, latest["b.jsonl"].uri)
    arts = ws.root / ".laas" / "artifacts" / "inc"
    shutil.copytree(arts / "v2", arts / "zz-planted")
    third = run(ws, "inc", "v3")
    assert third["reuse"]["from_run"] == "v2-full"  # the chain's, never the planted one
    assert third["reuse"]["reused"] == 3
    assert "altered in the store" in third["reuse"]["not_reused"]["b.jsonl"]
    b = by_key(validated(ws, "inc", "v3"))["b.jsonl"]
    assert "/v3/" in b.uri and b.leaf == v1["b.jsonl"].leaf  # the source's rows, not a's
    gate = ws.laas("gate", "inc", "--run", "v3")
    assert gate.returncode == 0, gate.stdout + gate.stderr


def test_a_swapped_previous_manifest_or_a_changed_suite_reuses_nothing(ws) -> None:
    last = validated(ws, "inc", "v3")
    uri = next((ws.root / ".laas" / "artifacts" / "inc" / "v3" / "validated").glob(
        "manifest-*.json"))
    doc = json.loads(uri.read_text())
    doc["shards"][0]["rows"] += 1  # the store's word changed; the chain's hash did not
    uri.write_text(json.dumps(doc))
    fourth = run(ws, "inc", "v4")
    assert fourth["reuse"]["reused"] == 0 and "cannot be proven" in fourth["reuse"]["note"]
    assert fourth["checkpoints"][2]["shards_root"] == last.shards_root
    import yaml

    spec_path = ws.root / "datasets" / "inc.yaml"
    spec = yaml.safe_load(spec_path.read_text())
    spec["suite"]["params"]["max_chars"] = 15000
    spec_path.write_text(yaml.safe_dump(spec))
    fifth = run(ws, "inc", "v5")
    assert fifth["reuse"]["reused"] == 0 and "settings" in fifth["reuse"]["note"]


def test_drop_rows_keeps_the_first_duplicate_across_reused_and_new_shards(workspace) -> None:
    ws = workspace
    unlicensed = {**rows(3, 1, seed=9)[0], "license": "proprietary"}  # dropped by the suite
    ws.add_dataset("dups", {"b.jsonl": jsonl(2), "c.jsonl": jsonl(3) + (
        json.dumps(unlicensed) + "\n").encode()}, on_failure="drop_rows")
    run(ws, "dups", "v1")
    (ws.root / "datasets" / "dups" / "a.jsonl").write_bytes(jsonl(2, 1))  # b's first row
    second = run(ws, "dups", "v2")
    assert second["reuse"]["reused"] == 1 and second["reuse"]["new"] == 1  # c as it was
    assert "duplicates across the dataset changed" in second["reuse"]["not_reused"]["b.jsonl"]
    shards = by_key(validated(ws, "dups", "v2"))
    b, c = shards["b.jsonl"], shards["c.jsonl"]
    assert b.derived and (b.rows_in, b.rows) == (20, 19)  # its first row now repeats a's
    assert c.derived and "/v1/" in c.uri and (c.rows_in, c.rows) == (21, 20)  # reused
    r = ws.laas("verify", c.uri)  # the reused file with rows dropped, re-derived
    assert r.returncode == 0 and "re-derived" in r.stdout, r.stdout + r.stderr
    full = run(ws, "dups", "v2-full", "--no-reuse")
    assert full["checkpoints"][2]["shards_root"] == second["checkpoints"][2]["shards_root"]
    again = run(ws, "dups", "v3")  # nothing changed: b is filtered again, to the same rows
    assert again["reuse"]["not_reused"]["b.jsonl"].endswith("the same rows kept")
    assert again["checkpoints"][2]["shards_root"] == second["checkpoints"][2]["shards_root"]
