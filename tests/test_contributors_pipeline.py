"""Contributors end to end, on the real parts: a source in moto's S3 (on loopback) with a
sidecar file naming each shard's contributor and signatures, `laas run` on the shared Dask
cluster and a real anvil, then `laas contributors` proving each share against the chain, a
contributor checking their leaf v2 on chain with the proof laas printed, and what someone who
controls the bucket can and cannot do with the sidecar."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from eth_abi import encode

from laas.anchors.core.canonical import from_hex, keccak256, to_hex
from laas.anchors.core.hashing import hash_stream
from laas.anchors.core.merkle import hash_pair
from tests.conftest import S3, SAMPLE, Workspace
from tests.test_attribution import account, sign

SHARDS = ("part-00000.jsonl", "part-00002.jsonl", "part-00004.jsonl", "part-00006.jsonl",
          "part-00001.jsonl.gz")


@pytest.fixture(scope="module")
def ws(s3: S3, workspace: Workspace) -> Workspace:
    s3.bucket("contrib")
    client = s3.client()
    data = {n: (SAMPLE / "instruct-sample" / n).read_bytes() for n in SHARDS}
    for name, body in data.items():
        client.put_object(Bucket="contrib", Key=f"crawl/{name}", Body=body)
    raw = {n: to_hex(hash_stream(__import__("io").BytesIO(b))[0]) for n, b in data.items()}
    people = {who: account() for who in ("alice", "bob", "carol", "dave")}
    addr = {who: a for who, (a, _) in people.items()}
    alice_sig = sign(people["alice"][1], "crawl", "part-00000.jsonl", raw["part-00000.jsonl"])
    dave_elsewhere = sign(people["dave"][1], "other-dataset", "part-00001.jsonl.gz",
                          raw["part-00001.jsonl.gz"])  # a real signature, for another dataset
    workspace.sidecar = (
        "key,address,signature\n"
        f"part-00000.jsonl,{addr['alice']},{alice_sig}\n"
        f"part-00002.jsonl,{addr['bob']},\n"
        f"part-00004.jsonl,{addr['carol']},\n"
        f"part-00006.jsonl,{addr['bob']},\n"
        f"part-00001.jsonl.gz,{addr['dave']},{dave_elsewhere}\n")
    client.put_object(Bucket="contrib", Key="crawl/contributors.csv", Body=workspace.sidecar)
    spec = yaml.safe_load((SAMPLE / "instruct-sample.yaml").read_text())
    spec.update(name="crawl", source="s3://contrib/crawl/*", on_failure="quarantine",
                contributors={"sidecar": "contributors.csv"})
    (workspace.root / "datasets" / "crawl.yaml").write_text(yaml.safe_dump(spec))
    workspace.env.update(s3.env)
    r = workspace.laas("run", "crawl", "--run", "c1", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    workspace.summary = json.loads(r.stdout)
    workspace.addr, workspace.people, workspace.raw = addr, people, raw
    workspace.s3 = s3
    return workspace


def contributors(ws: Workspace, *args: str) -> dict:
    r = ws.laas("contributors", "crawl", *args, "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout)


def test_three_contributors_get_their_kept_rows_and_bytes(ws) -> None:
    report = contributors(ws, "--run", "c1")
    assert report["run"] == "c1" and report["stage"] == "validated"
    got = {c["contributor"]: c for c in report["contributors"]}
    a = ws.addr
    assert set(got) == {a["alice"], a["bob"], a["carol"]}  # dave's shard was set aside
    assert {k: (got[a[k]]["rows"], len(got[a[k]]["shards"])) for k in ("alice", "bob", "carol")
            } == {"alice": (250, 1), "bob": (500, 2), "carol": (250, 1)}
    for c in got.values():  # bytes kept: the validated shards' canonical sizes, summed
        assert c["bytes"] == sum(s["bytes"] for s in c["shards"]) > 0
    alice = got[a["alice"]]["shards"][0]
    assert alice["signed"] and alice["raw_content_hash"] == ws.raw["part-00000.jsonl"]
    assert not got[a["bob"]]["shards"][0]["signed"]  # named in the sidecar, not signed


def test_a_signature_for_another_dataset_sets_exactly_that_shard_aside_named(ws) -> None:
    aside = ws.summary["set_aside"]
    assert [s["key"] for s in aside] == ["part-00001.jsonl.gz"]
    reason = aside[0]["reason"]
    assert "part-00001.jsonl.gz" in reason and f"not {ws.addr['dave']}'s" in reason
    assert ws.summary["passed"] and ws.summary["checkpoints"][-1]["shard_count"] == 4


def test_a_contributor_proves_their_leaf_v2_on_chain_with_the_printed_proof(ws) -> None:
    from laas.wiring import open_reader

    report = contributors(ws)
    shard = next(c for c in report["contributors"] if c["contributor"] == ws.addr["carol"]
                 )["shards"][0]
    # What carol does herself, from the printed fields: the OpenZeppelin leaf, the proof
    leaf = keccak256(keccak256(encode(
        ["string", "bytes32", "uint256", "uint256", "address"],
        [shard["key"], from_hex(shard["content_hash"]), shard["bytes"], shard["rows"],
         ws.addr["carol"]])))
    assert to_hex(leaf) == shard["leaf"]
    node = leaf
    for sibling in shard["proof"]:
        node = hash_pair(node, from_hex(sibling))
    assert to_hex(node) == report["shards_root"]
    # ... and the contract's view (OpenZeppelin MerkleProof) against the root it anchors
    registry = open_reader(ws.settings())
    proof = [from_hex(p) for p in shard["proof"]]
    assert registry.verify_leaf(report["checkpoint_id"], proof, leaf)
    # the same shard with another contributor in the leaf is not on chain
    mallory = keccak256(keccak256(encode(
        ["string", "bytes32", "uint256", "uint256", "address"],
        [shard["key"], from_hex(shard["content_hash"]), shard["bytes"], shard["rows"],
         ws.addr["dave"]])))
    assert not registry.verify_leaf(report["checkpoint_id"], proof, mallory)
    # `laas verify` of the file names her in every stage's leaf, back to raw
    v = ws.laas("verify", shard["uri"], "--json")
    assert v.returncode == 0, v.stdout + v.stderr
    stages = json.loads(v.stdout)["stages"]
    assert [s["stage"] for s in stages] == ["validated", "normalized", "raw"]
    assert {s["contributor"] for s in stages} == {ws.addr["carol"]}
    assert stages[0]["leaf"] == shard["leaf"]


def test_the_training_record_counts_the_shards_it_read(ws) -> None:
    r = ws.laas("gate", "crawl", "--run", "c1", "--record", "train-1")
    assert r.returncode == 0, r.stdout + r.stderr
    report = contributors(ws, "--training", "train-1")
    assert report["stage"] == "training" and report["run"] == "train-1"
    assert sorted(c["rows"] for c in report["contributors"]) == [250, 250, 500]


def test_whoever_holds_the_bucket_cannot_move_a_signed_shard_to_another_address(ws) -> None:
    """The sidecar swapped: alice's shard named as mallory's, alice's signature kept. The
    shard is set aside, naming why; the shares of the run before do not move."""
    mallory, _ = account()
    client = ws.s3.client()
    swapped = ws.sidecar.replace(f"part-00000.jsonl,{ws.addr['alice']}",
                                 f"part-00000.jsonl,{mallory}")
    client.put_object(Bucket="contrib", Key="crawl/contributors.csv", Body=swapped)
    try:
        r = ws.laas("run", "crawl", "--run", "c2", "--json")
        assert r.returncode == 0, r.stdout + r.stderr
        aside = {s["key"]: s["reason"] for s in json.loads(r.stdout)["set_aside"]}
        assert "part-00000.jsonl" in aside and f"not {mallory}'s" in aside["part-00000.jsonl"]
        assert mallory not in {c["contributor"] for c in contributors(ws)["contributors"]}
        before = contributors(ws, "--run", "c1")
        assert ws.addr["alice"] in {c["contributor"] for c in before["contributors"]}
    finally:
        client.put_object(Bucket="contrib", Key="crawl/contributors.csv", Body=ws.sidecar)


def test_a_dataset_without_contributors_keeps_v1_leaves_and_says_so(ws) -> None:
    ws.add_dataset("plain", {n: (SAMPLE / "instruct-sample" / n).read_bytes()
                             for n in SHARDS[:2]})
    assert ws.laas("run", "plain", "--run", "p1").returncode == 0
    gate = ws.laas("gate", "plain", "--run", "p1")
    assert gate.returncode == 0, gate.stdout + gate.stderr
    r = ws.laas("contributors", "plain")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no contributors: its 2 shard(s) name none (leaf v1)" in r.stdout
    report = json.loads(ws.laas("contributors", "plain", "--json").stdout)
    assert report["contributors"] == [] and report["unattributed"] == 2
    manifest = ws.laas("lineage", str(ws.root / "datasets" / "plain" / SHARDS[0]), "--json")
    assert manifest.returncode == 0 and "contributor" not in manifest.stdout


def test_a_manifest_rewritten_in_the_store_to_name_another_contributor_is_not_shown(ws) -> None:
    """The store is not trusted: the validated manifest with carol's address replaced hashes
    to something the chain does not hold, and nothing of it is shown."""
    report = contributors(ws, "--run", "c1")
    validated = next(c for c in ws.summary["checkpoints"] if c["stage"] == "validated")
    path = Path(validated["manifest_uri"].removeprefix("file://"))
    original = path.read_bytes()
    mallory, _ = account()
    path.write_bytes(original.replace(ws.addr["carol"].encode(), mallory.encode()))
    try:
        r = ws.laas("contributors", "crawl", "--run", "c1", "--json")
        assert r.returncode == 1 and "NOT PROVEN" in r.stdout and mallory not in r.stdout
    finally:
        path.write_bytes(original)
    assert contributors(ws, "--run", "c1") == report


def test_the_ingest_flow_publishes_a_table_of_the_shares(ws) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: ws.env["PREFECT_API_URL"]}), \
            get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["crawl-contributors"])))
    first = next(a for a in found if "run c1:" in (a.description or ""))
    table = first.data if isinstance(first.data, list) else json.loads(first.data)
    rows = {r["contributor"]: (r["rows kept"], r["shards"], r["signed shards"]) for r in table}
    assert rows == {ws.addr["alice"]: (250, 1, 1), ws.addr["bob"]: (500, 2, 0),
                    ws.addr["carol"]: (250, 1, 0)}
    assert {r["shares root"] for r in table} == {contributors(ws, "--run", "c1")["shares_root"]}


def test_a_run_or_record_that_is_not_on_chain_is_an_error_naming_it(ws) -> None:
    for option, says in (("--run", "crawl has no run nope on chain"),
                         ("--training", "crawl has no training record nope on chain")):
        r = ws.laas("contributors", "crawl", option, "nope")
        assert r.returncode == 2 and says in r.stderr, r.stdout + r.stderr


def test_a_derived_dataset_keeps_its_parents_contributors(ws) -> None:
    """A mix of the crawl: each shard keeps the contributor its parent's leaf proves (not
    the signature, made for the parent's dataset and key)."""
    spec = yaml.safe_load((SAMPLE / "instruct-sample.yaml").read_text())
    for k in ("source", "format"):
        spec.pop(k, None)
    spec.update(name="mix", parents=["crawl"], on_failure="quarantine")
    (ws.root / "datasets" / "mix.yaml").write_text(yaml.safe_dump(spec))
    parent = contributors(ws)  # the crawl's latest version, which the mix reads
    r = ws.laas("run", "mix", "--run", "m1")
    assert r.returncode == 0, r.stdout + r.stderr
    mix = json.loads(ws.laas("contributors", "mix", "--json").stdout)
    assert {c["contributor"]: c["rows"] for c in mix["contributors"]} == \
        {c["contributor"]: c["rows"] for c in parent["contributors"]}
    shard = mix["contributors"][0]["shards"][0]
    assert shard["key"].startswith("crawl/") and shard["signature"] is None


def test_plot_writes_a_bar_chart_of_the_shares(ws) -> None:
    out = ws.root / "shares.png"
    r = ws.laas("contributors", "crawl", "--run", "c1", "--plot", str(out))
    assert r.returncode == 0 and f"wrote {out}" in r.stdout, r.stdout + r.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
    bad = ws.laas("contributors", "crawl", "--run", "c1", "--plot", str(ws.root / "no" / "x.png"))
    assert bad.returncode == 2 and "--plot" in bad.stderr


def test_an_append_only_dataset_refuses_to_re_attribute_a_shard_it_holds(ws) -> None:
    """The contributor is in the leaf: a version that names another contributor for a shard
    of the one before replaces it, and an append-only dataset refuses that (exit 4)."""
    alice, mallory = "0x" + "a1" * 20, "0x" + "ee" * 20
    shards = {n: (SAMPLE / "instruct-sample" / n).read_bytes() for n in SHARDS[:2]}
    ws.add_dataset("log", shards, versioning="append_only",
                   contributors={"sidecar": "contributors.csv"})
    sidecar = ws.root / "datasets" / "log" / "contributors.csv"
    sidecar.write_text("key,address\n" + "".join(f"{n},{alice}\n" for n in shards))
    assert ws.laas("run", "log", "--run", "l1").returncode == 0
    sidecar.write_text("key,address\n" + "".join(
        f"{n},{mallory if n == SHARDS[0] else alice}\n" for n in shards))
    r = ws.laas("run", "log", "--run", "l2")
    assert r.returncode == 4, r.stdout + r.stderr
    assert f"replaces shard {SHARDS[0]} of version l1 (contributor" in r.stderr
    assert mallory.lower() in r.stderr.lower()
    report = json.loads(ws.laas("contributors", "log", "--json").stdout)
    assert report["run"] == "l1" and [c["rows"] for c in report["contributors"]] == [500]
