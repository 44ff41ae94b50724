"""Versions through the CLI on the real stack (anvil, Prefect, Dask): two runs of a dataset and
`laas diff` between them; an append-only dataset that grows (committed, proven by `laas verify
--against`) and then has an old shard replaced (the run fails naming it, exit 4, and nothing of
it reaches the chain)."""

from __future__ import annotations

import json

import pytest

from laas.anchors.core.canonical import name_id
from laas.anchors.core.models import STAGES, checkpoint_id
from laas.datasets.make_sample import rows
from laas.wiring import open_registry
from tests.conftest import Workspace


def jsonl(shard: int, n: int = 20) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows(shard, n)).encode()


def run(ws: Workspace, dataset: str, name: str) -> dict:
    r = ws.laas("run", dataset, "--run", name, "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout)


def prefect_artifact(ws: Workspace, key: str) -> str:
    """The latest markdown of an artifact key, from the session's Prefect server."""
    import urllib.request

    req = urllib.request.Request(
        f"{ws.env['PREFECT_API_URL']}/artifacts/latest/filter", method="POST",
        data=json.dumps({"artifacts": {"key": {"any_": [key]}}}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        (found,) = json.load(resp)
    return found["data"]


@pytest.fixture(scope="module")
def ws(workspace: Workspace) -> Workspace:
    """`grow` (mutable): v1 = a, b; v2 = a, b changed, c added."""
    workspace.add_dataset("grow", {"a.jsonl": jsonl(1), "b.jsonl": jsonl(2)})
    run(workspace, "grow", "v1")
    folder = workspace.root / "datasets" / "grow"
    (folder / "b.jsonl").write_bytes(jsonl(2, 25))
    (folder / "c.jsonl").write_bytes(jsonl(3))
    run(workspace, "grow", "v2")
    return workspace


def test_diff_lists_the_added_and_the_changed_shard_with_their_hashes(ws) -> None:
    r = ws.laas("diff", "grow", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    d = json.loads(r.stdout)
    assert (d["old"]["run"], d["new"]["run"]) == ("v1", "v2")
    assert [c["key"] for c in d["added"]] == ["c.jsonl"] and d["removed"] == []
    (changed,) = d["changed"]
    assert changed["key"] == "b.jsonl" and d["unchanged"] == 1
    assert (changed["old"]["rows"], changed["new"]["rows"]) == (20, 25)
    assert changed["old"]["content_hash"] != changed["new"]["content_hash"]
    reg = open_registry(ws.settings(), start_local=False)
    cid = checkpoint_id(name_id("grow"), name_id("v2"), "validated")
    reg.locate(name_id("grow"), name_id("v2"))
    assert d["new"]["shards_root"] == reg.get(cid).shards_root  # the root on chain
    assert d["append_only"] is False and "replaces shard b.jsonl" in d["append_problem"]
    human = ws.laas("diff", "grow", "v1", "v2")
    assert human.returncode == 0, human.stderr
    assert f"~ b.jsonl  content {changed['old']['content_hash']} -> " in human.stdout
    assert "+ c.jsonl" in human.stdout and "1 added, 0 removed, 1 changed, 1 unchanged" \
        in human.stdout
    listed = ws.laas("versions", "grow")
    assert listed.returncode == 0 and listed.stdout.index("v1") < listed.stdout.index("v2")


def test_verify_against_refutes_a_version_that_replaced_a_shard(ws) -> None:
    r = ws.laas("verify", "grow", "--against", "v1")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "NOT APPEND-ONLY" in r.stdout and "replaces shard b.jsonl of version v1" in r.stdout


def test_an_append_only_dataset_grows_and_refuses_a_replaced_shard(ws) -> None:
    ws.add_dataset("log", {"a.jsonl": jsonl(11), "b.jsonl": jsonl(12)},
                   versioning="append_only")
    first = run(ws, "log", "l1")
    folder = ws.root / "datasets" / "log"
    (folder / "c.jsonl").write_bytes(jsonl(13))
    grown = run(ws, "log", "l2")
    proven = ws.laas("verify", "log", "--against", "l1")
    assert proven.returncode == 0, proven.stdout + proven.stderr
    assert "PROVEN log: run l2 contains every shard of run l1 (2 shard(s)" in proven.stdout
    assert "appends to" in proven.stdout  # the committed claim
    assert ws.laas("gate", "log").returncode == 0
    md = prefect_artifact(ws, "log-version")  # the Prefect UI shows what l2 added to l1
    assert "Extends run `l1`" in md and "added `c.jsonl`" in md
    # The upstream bucket silently rewrites an old shard.
    (folder / "a.jsonl").write_bytes(jsonl(14))
    r = ws.laas("run", "log", "--run", "l3")
    assert r.returncode == 4, r.stdout + r.stderr
    line = next(x for x in r.stderr.splitlines() if x.startswith("error:"))
    assert "replaces shard a.jsonl of version l2" in line and "append-only" in line
    assert "resume with" not in line  # a rerun would fail the same way
    reg = open_registry(ws.settings(), start_local=False)
    reg.locate(name_id("log"), name_id("l3"))
    assert all(reg.get(checkpoint_id(name_id("log"), name_id("l3"), s)) is None
               for s in STAGES)
    gate = ws.laas("gate", "log")  # l3's manifests are in the store; it is no newer version
    assert gate.returncode == 0 and "run l2:" in gate.stdout, gate.stdout + gate.stderr
    latest = json.loads(ws.laas("diff", "log", "--json").stdout)
    assert (latest["old"]["run"], latest["new"]["run"]) == ("l1", "l2")  # l3 is no version
    assert latest["new"]["appends_to"] == first["checkpoints"][2]["checkpoint_id"]
    assert grown["checkpoints"][2]["shard_count"] == 3
