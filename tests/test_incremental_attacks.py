"""Attacks on incremental runs, on the real stack (anvil, Prefect, Dask), through `laas run`
and `laas gate`: what a run reuses must have been validated, under this spec and this laas, by
a committer this machine trusts. A passed run committed by another key that holds the
committer role (or held it: revoked since) is never reused, whatever its report claims, nor
when an RPC endpoint names a trusted committer for it (its manifests' attestations are checked
here); a twin dataset's run over the same files, a run of another laas version, a renamed
source (same bytes, new key) and a changed schema reuse nothing; exact duplicates are counted,
and the first occurrence kept, across reused and new shards alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from laas.datasets.make_sample import rows
from laas.tasks.dataset_spec import load_spec
from laas.tasks.reuse_work import pipeline_hash
from tests.conftest import Workspace
from tests.test_incremental_pipeline import by_key, run, validated
from tests.test_versions_pipeline import jsonl

# anvil's second dev account: another machine's key, given the committer role by the admin
ROGUE_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
ROGUE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def unlicensed() -> bytes:
    """A row the suite refuses (its license is not in the spec's list)."""
    return (json.dumps({**rows(3, 1, seed=9)[0], "license": "proprietary"}) + "\n").encode()


def rogue_run(ws: Workspace, path, name: str) -> None:  # noqa: ANN001 - the spec's path
    """Run `name` of `rog`, committed by ROGUE with a suite that lets a.jsonl's refused row
    through while its report claims this spec's pipeline hash (what a key with the role can
    commit, whatever its software), then the honest spec back."""
    honest = path.read_text()
    claimed = pipeline_hash(load_spec(str(path)))
    spec = yaml.safe_load(honest)
    spec["suite"]["params"]["licenses"].append("proprietary")
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr("laas.tasks.manifests.pipeline_hash", lambda _spec: claimed)
            r = ws.laas("run", "rog", "--run", name, "--json",
                        env={**ws.env, "LAAS_PRIVATE_KEY": ROGUE_KEY})
    finally:
        path.write_text(honest)
    assert r.returncode == 0, r.stdout + r.stderr
    assert by_key(validated(ws, "rog", name))["a.jsonl"].status == "ok"  # the row let through


@pytest.fixture(scope="module")
def rogue(workspace: Workspace) -> Workspace:
    """`rog` (quarantine): a.jsonl carries a row the suite refuses; ROGUE holds the committer
    role and committed its first passed run, r1 (see rogue_run)."""
    ws = workspace
    ws.spec = ws.add_dataset("rog", {"a.jsonl": jsonl(1) + unlicensed(), "b.jsonl": jsonl(2)})
    assert ws.laas("chain", "up").returncode == 0
    granted = ws.laas("chain", "grant", ROGUE)
    assert granted.returncode == 0 and "has the committer role" in granted.stdout, granted.stdout
    rogue_run(ws, ws.spec, "r1")
    return ws


def test_a_run_by_a_committer_this_machine_does_not_trust_is_not_reused(rogue, tmp_path
                                                                         ) -> None:
    from laas.wiring import committer_account

    summary = run(rogue, "rog", "v2")
    assert summary["reuse"]["reused"] == 0, summary["reuse"]
    assert "not a committer this machine trusts" in summary["reuse"]["note"]
    # the refused row is checked now: a.jsonl set aside, and a gate that trusts this
    # machine's key alone (the new run's committer) serves b.jsonl only
    assert by_key(validated(rogue, "rog", "v2"))["a.jsonl"].status == "quarantined"
    policy = tmp_path / "p.yaml"
    policy.write_text(f"committers: ['{committer_account(rogue.settings()).address}']\n")
    gate = rogue.laas("gate", "rog", "--run", "v2", "--policy", str(policy), "--json")
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert json.loads(gate.stdout)["keys"] == ["b.jsonl"]


def test_an_rpc_endpoint_naming_a_trusted_committer_does_not_make_a_run_reused(rogue
                                                                              ) -> None:
    """The endpoint answers that every checkpoint was committed by this machine's key; the
    rogue run's manifests are still attested by ROGUE's, a signature checked locally."""
    from laas.anchors.adapters.registry_read import RegistryRead
    from laas.anchors.adapters.registry_v2_read import RegistryV2Read
    from laas.wiring import committer_account

    ws, me = rogue, committer_account(rogue.settings()).address
    rogue_run(ws, ws.spec, "r1b")
    with pytest.MonkeyPatch.context() as mp:
        for cls in (RegistryRead, RegistryV2Read):
            def lying(self, cid, _real=cls.stored):  # noqa: ANN001, ANN202
                return _real(self, cid).model_copy(update={"committer": me})
            mp.setattr(cls, "stored", lying)
        summary = run(ws, "rog", "v2b")
    assert summary["reuse"]["reused"] == 0, summary["reuse"]
    assert "not attested by a committer this machine trusts" in summary["reuse"]["note"]
    assert by_key(validated(ws, "rog", "v2b"))["a.jsonl"].status == "quarantined"


def test_a_trusted_committer_is_reused_from_until_its_role_is_revoked(rogue) -> None:
    ws, trusting = rogue, {**rogue.env, "LAAS_TRUSTED_COMMITTERS": ROGUE}
    rogue_run(ws, ws.spec, "r2")
    r = ws.laas("run", "rog", "--run", "v3", "--json", env=trusting)
    assert r.returncode == 0 and json.loads(r.stdout)["reuse"]["reused"] == 2, r.stdout
    rogue_run(ws, ws.spec, "r3")
    assert ws.laas("chain", "revoke", ROGUE).returncode == 0
    r = ws.laas("run", "rog", "--run", "v4", "--json", env=trusting)
    assert r.returncode == 0 and json.loads(r.stdout)["reuse"]["reused"] == 0, r.stdout
    assert by_key(validated(ws, "rog", "v4"))["a.jsonl"].status == "quarantined"


def test_a_twin_datasets_passed_run_over_the_same_files_is_never_reused(workspace) -> None:
    """Same files, keys, URIs and pipeline hash (a name is no output): only the dataset id
    tells the runs apart, and reuse stays within the dataset."""
    ws = workspace
    orig = ws.add_dataset("orig", {"a.jsonl": jsonl(1), "b.jsonl": jsonl(2)})
    twin = ws.root / "datasets" / "twin.yaml"
    twin.write_text(orig.read_text().replace("name: orig", "name: twin"))
    assert pipeline_hash(load_spec(str(orig))) == pipeline_hash(load_spec(str(twin)))
    run(ws, "orig", "v1")
    first = run(ws, "twin", "t1")
    assert first["reuse"]["reused"] == 0 and "no passed run" in first["reuse"]["note"]
    assert all("/twin/t1/" in s.uri for s in validated(ws, "twin", "t1").shards)


def test_a_renamed_source_and_a_changed_schema_are_processed_not_reused(workspace) -> None:
    ws = workspace
    path = ws.add_dataset("ren", {"a.jsonl": jsonl(1), "b.jsonl": jsonl(2)})
    run(ws, "ren", "v1")
    folder = ws.root / "datasets" / "ren"
    (folder / "b.jsonl").rename(folder / "z.jsonl")  # the same bytes under another key
    second = run(ws, "ren", "v2")["reuse"]
    assert (second["reused"], second["new"]) == (1, 1), second
    assert "/v2/" in by_key(validated(ws, "ren", "v2"))["z.jsonl"].uri
    spec = yaml.safe_load(path.read_text())
    spec["schema"][4]["nullable"] = True  # what a normalized table is checked against
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    third = run(ws, "ren", "v3")["reuse"]
    assert third["reused"] == 0 and "settings" in third["note"], third


def test_a_new_shard_repeating_a_reused_shards_row_fails_the_dataset_check(workspace) -> None:
    """quarantine: exact duplicates are counted over the whole dataset, reused shards' rows
    included (their keys recomputed from their verified files, not taken from the report)."""
    ws = workspace
    ws.add_dataset("dq", {"b.jsonl": jsonl(2), "c.jsonl": jsonl(3)})
    run(ws, "dq", "v1")
    (ws.root / "datasets" / "dq" / "a.jsonl").write_bytes(jsonl(2, 1))  # b's first row
    r = ws.laas("run", "dq", "--run", "v2", "--json")
    summary = json.loads(r.stdout)
    assert r.returncode == 1 and not summary["passed"], r.stdout + r.stderr
    assert summary["reuse"]["reused"] == 2 and summary["reuse"]["new"] == 1
    assert [c["success"] for c in summary["dataset_checks"]] == [False]
    assert ws.laas("gate", "dq").returncode == 1


def test_a_run_of_another_laas_version_reuses_nothing(workspace, monkeypatch) -> None:
    """A release may change what an expectation means (a PII screen's patterns) under the same
    suite hash: results validated by another version are validated again."""
    ws = workspace
    ws.add_dataset("upg", {"a.jsonl": jsonl(1)})
    run(ws, "upg", "v1")
    monkeypatch.setattr("laas.tasks.reuse_work.LAAS_VERSION", "99.0.0")  # laas upgraded
    second = run(ws, "upg", "v2")["reuse"]
    assert second["reused"] == 0 and "laas's version" in second["note"], second


def test_drop_rows_keeps_a_reused_shards_row_over_a_new_later_shards_copy(workspace) -> None:
    """The first occurrence is by shard key across the whole dataset, not reused shards
    after new ones: z.jsonl, new and later than the reused b.jsonl, loses the copy."""
    ws = workspace
    ws.add_dataset("dz", {"b.jsonl": jsonl(2), "c.jsonl": jsonl(3)}, on_failure="drop_rows")
    run(ws, "dz", "v1")
    (ws.root / "datasets" / "dz" / "z.jsonl").write_bytes(jsonl(2, 1) + jsonl(5))
    second = run(ws, "dz", "v2")
    assert (second["reuse"]["reused"], second["reuse"]["new"]) == (2, 1), second["reuse"]
    shards = by_key(validated(ws, "dz", "v2"))
    b, z = shards["b.jsonl"], shards["z.jsonl"]
    assert "/v1/" in b.uri and b.rows == 20  # reused whole
    assert "/v2/" in z.uri and (z.rows_in, z.rows) == (21, 20)  # its copy of b's row dropped
    full = run(ws, "dz", "v2-full", "--no-reuse")
    assert full["checkpoints"][2]["shards_root"] == second["checkpoints"][2]["shards_root"]


def test_reused_files_and_keys_altered_to_pass_a_table_hash_are_processed_again(workspace
                                                                                ) -> None:
    """A reused shard is checked by the sha256 its run committed (laas-manifest-v4): its
    normalized file rewritten to the same rows under another codec (the table hash, the leaf,
    still holds), or to other bytes of the same size, and its duplicate keys rewritten in the
    previous run's key file, each has the shard processed again from its source, named."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    ws = workspace
    ws.add_dataset("byt", {k: jsonl(n) for n, k in enumerate(
        ["a.jsonl", "b.jsonl", "c.jsonl", "d.jsonl"], 1)})
    run(ws, "byt", "v1")
    v1 = by_key(validated(ws, "byt", "v1"))
    assert all(s.sha256 for s in v1.values())
    a, b = (Path(v1[k].uri) for k in ("a.jsonl", "b.jsonl"))
    pq.write_table(pq.read_table(a), a, compression="snappy")  # the same rows, other bytes
    data = bytearray(b.read_bytes())
    data[len(data) // 2] ^= 0xFF  # the same size, other bytes
    b.write_bytes(bytes(data))
    for keys in (ws.root / ".laas" / "artifacts" / "byt" / "v1" / "validated" /
                 "text-hashes").glob("*.parquet"):  # c's keys, wherever they lie
        t = pq.read_table(keys)
        mine = pc.equal(t.column("key"), "c.jsonl")
        pq.write_table(t.set_column(1, "h", pc.if_else(mine, pa.scalar("0" * 32),
                                                         t.column("h"))), keys)
    second = run(ws, "byt", "v2")
    reuse = second["reuse"]
    assert (reuse["reused"], reuse["new"]) == (1, 0), reuse
    why = reuse["not_reused"]
    assert "altered in the store" in why["a.jsonl"] and "sha256" in why["a.jsonl"]
    assert "altered in the store" in why["b.jsonl"] and "sha256" in why["b.jsonl"]
    assert "duplicate keys" in why["c.jsonl"]
    v2 = by_key(validated(ws, "byt", "v2"))
    assert "/v1/" in v2["d.jsonl"].uri and all(
        "/v2/" in v2[k].uri and v2[k].leaf == v1[k].leaf for k in ("a.jsonl", "b.jsonl",
                                                                   "c.jsonl"))
    third = run(ws, "byt", "v3")["reuse"]  # v2's reused and processed shards' keys carry on
    assert (third["reused"], third["not_reused"]) == (4, {}), third
    assert second["passed"] and ws.laas("gate", "byt").returncode == 0
