"""The whole mission through the `laas` CLI, on the embedded default: a real anvil, Prefect (the
demo on its ephemeral server), a Dask LocalCluster, the shipped sample data."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from laas.anchors.core.canonical import name_id
from laas.datasets.make_sample import rows
from laas.wiring import open_registry
from tests.conftest import REPO, SAMPLE, Workspace, postgres_server, posts_to

SHARD0 = str(SAMPLE / "instruct-sample" / "part-00000.jsonl")


@pytest.fixture(scope="module")
def ws(workspace: Workspace) -> Workspace:
    """Run `make demo` then the pipeline again, as a user would; keep both results. The demo
    takes the default path: no PREFECT_API_URL, so Prefect's ephemeral server, and no
    LAAS_DASK_ADDRESS, so a LocalCluster of its own."""
    ephemeral = {k: v for k, v in workspace.env.items()
                 if k not in ("PREFECT_API_URL", "LAAS_DASK_ADDRESS")}
    # `-o setup`: the demo's recipe as a user runs it, but never its `setup` prerequisite,
    # which would pip-install (or npm ci) into the running venv whenever pyproject.toml or
    # package.json is newer than the last install; the test runs in a venv set up already.
    first = subprocess.run(["make", "-s", "-o", "setup", "-C", str(REPO), "demo"],
                           env=ephemeral, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "ALLOW instruct-sample" in first.stdout
    workspace.first = first
    workspace.pid = (workspace.root / ".laas" / "chain" / "anvil.pid").read_text()
    workspace.registry_file = (workspace.root / ".laas" / "chain" / "registry.json").read_text()
    second = workspace.laas("run", "instruct-sample", "--json")
    assert second.returncode == 0, second.stdout + second.stderr
    workspace.second = json.loads(second.stdout)
    return workspace


def registry(ws: Workspace):  # noqa: ANN201
    return open_registry(ws.settings(), start_local=False)


def test_demo_prints_checkpoints_lineage_command_and_runs_again_on_the_same_chain(ws) -> None:
    out = ws.first.stdout
    for stage in ("raw", "normalized", "validated"):
        assert f"  {stage}" in out
    assert out.count(" tx 0x") == 3 and "laas lineage " in out and "laas gate " in out
    # The sample drops rows (on_failure: drop_rows): part-00005 stays, less its 9 bad rows.
    assert "rows dropped part-00005.jsonl.gz: 9 of 254 rows dropped" in out
    assert "quarantined" not in out and "expect_column_values_to_be_in_set(license) 2" in out
    second = ws.second
    assert second["run"] not in out  # a new run id
    assert [c["stage"] for c in second["checkpoints"]] == ["raw", "normalized", "validated"]
    assert [c["shard_count"] for c in second["checkpoints"]] == [8, 8, 8]
    assert second["set_aside"] == [] and list(second["rows_dropped"]) == ["part-00005.jsonl.gz"]
    assert second["passed"] is True
    assert [c["success"] for c in second["dataset_checks"]] == [True]
    # Every validated shard links its Data Docs page, written to the artifact store.
    from laas.anchors.adapters.artifacts import read_manifest

    # Small shards are validated together, so they share a page; the defect shows on its own.
    validated = read_manifest(second["checkpoints"][-1]["manifest_uri"])
    bad = next(s.docs_uri for s in validated.shards if s.key == "part-00005.jsonl.gz")
    for shard in validated.shards:
        page = Path(shard.docs_uri).read_text()
        assert "Expectation Validation Result" in page and "must not match any" in page
        assert ("proprietary-scraped" in page) == (shard.docs_uri == bad)
    assert len({s.docs_uri for s in validated.shards}) < len(validated.shards)
    assert "Data Docs:" in out
    # The second run reused the running chain and the deployed registry.
    assert (ws.root / ".laas" / "chain" / "anvil.pid").read_text() == ws.pid
    assert (ws.root / ".laas" / "chain" / "registry.json").read_text() == ws.registry_file
    # Same bytes, same roots: the runs differ only in their ids.
    first_roots = [line.split("root ")[1].split("…")[0] for line in out.splitlines()
                   if " shards  root 0x" in line]
    assert [c["shards_root"][:18] for c in second["checkpoints"]] == first_roots


def test_lineage_shows_every_stage_with_transactions_on_chain(ws) -> None:
    r = ws.laas("lineage", SHARD0, "--json")
    assert r.returncode == 0, r.stderr
    lineage = json.loads(r.stdout)
    assert lineage["run"] == ws.second["run"] and lineage["key"] == "part-00000.jsonl"
    assert [s["stage"] for s in lineage["stages"]] == ["raw", "normalized", "validated"]
    reg = registry(ws)
    assert len({s["tx_hash"] for s in lineage["stages"]}) == 1  # the run's one transaction
    event = reg.contract.events.RunCommitted()
    for stage, committed in zip(lineage["stages"], ws.second["checkpoints"], strict=True):
        assert stage["checkpoint_id"] == committed["checkpoint_id"]
        receipt = reg.w3.eth.get_transaction_receipt(stage["tx_hash"])
        assert receipt["status"] == 1 and receipt["blockNumber"] == stage["block_number"]
        (log,) = event.process_receipt(receipt)
        assert "0x" + log["args"]["runId"].hex() == name_id(ws.second["run"])
        assert reg.get(stage["checkpoint_id"]).tx_hash == stage["tx_hash"]
        assert stage["confirmations"] >= 1
    assert lineage["stages"][0]["content_hash"] != lineage["stages"][1]["content_hash"]
    human = ws.laas("lineage", "part-00005.jsonl.gz")
    assert human.returncode == 0 and "245 rows" in human.stdout and "license" in human.stdout
    assert "9 of 254 rows dropped" in human.stdout


def test_lineage_of_an_unknown_shard_is_a_clear_error(ws) -> None:
    r = ws.laas("lineage", "no-such-shard.jsonl")
    assert r.returncode == 2
    assert "no shard matching 'no-such-shard.jsonl'" in r.stderr and "Traceback" not in r.stderr


def test_gate_denies_a_one_byte_edit_naming_the_shard_and_allows_it_restored(ws) -> None:
    ok = ws.laas("gate", "instruct-sample", "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    verdict = json.loads(ok.stdout)
    assert verdict["allowed"] and len(verdict["shards"]) == 8
    target = Path(next(u for u in verdict["shards"] if u.endswith("part-00003.jsonl.gz.parquet")))
    original = target.read_bytes()
    edited = bytearray(original)
    edited[len(edited) // 2] ^= 0x01
    target.write_bytes(bytes(edited))
    try:
        denied = ws.laas("gate", "instruct-sample")
        assert denied.returncode == 1, denied.stdout + denied.stderr
        assert "DENY" in denied.stdout and "part-00003.jsonl.gz" in denied.stdout
    finally:
        target.write_bytes(original)
    assert ws.laas("gate", "instruct-sample").returncode == 0


def test_gate_modes_and_the_verified_reader_refuse_a_changed_shard(ws) -> None:
    from laas.anchors.services.reader import VerifiedReader
    from laas.api import gate_dataset
    from laas.errors import HashMismatch

    settings = ws.settings()
    proof = gate_dataset("instruct-sample", mode="proof", settings=settings)
    assert proof.allowed and proof.rehashed == 0 and len(proof.hashes) == 8
    reader = VerifiedReader.from_verdict(proof)
    assert sum(1 for _ in reader) == 7 * 250 + 245  # part-00005 without its dropped rows
    assert [r["prompt"] for r in reader.rows(["prompt"], part=(1, 2))][:1] == \
        [next(iter(reader.table(1, ["prompt"]).to_pylist()))["prompt"]]
    shards = [Path(u) for u in proof.shards]
    originals = [p.read_bytes() for p in shards]
    def flip(b: bytes) -> bytes:
        return b[: len(b) // 2] + bytes([b[len(b) // 2] ^ 1]) + b[len(b) // 2 + 1 :]

    tampers = {"one byte": flip, "swapped": lambda b: originals[4],
               "truncated": lambda b: b[: len(b) - 9]}
    try:
        for name, tamper in tampers.items():
            shards[3].write_bytes(tamper(originals[3]))
            seen = 0
            with pytest.raises(HashMismatch, match=shards[3].name):
                for _ in reader:
                    seen += 1
            assert seen == 3 * 250, name  # nothing of the changed shard was handed out
            full = gate_dataset("instruct-sample", settings=settings)
            assert not full.allowed and "part-00003" in full.reason, name
            sample = gate_dataset("instruct-sample", mode="sample", sample=8, settings=settings)
            assert not sample.allowed, name  # a sample of all 8 shards cannot miss it
            # proof mode reads no data: it proves the manifest, not the bytes on disk
            assert gate_dataset("instruct-sample", mode="proof", settings=settings).allowed
    finally:
        shards[3].write_bytes(originals[3])
    assert gate_dataset("instruct-sample", mode="sample", sample=2, settings=settings).rehashed == 2
    r = ws.laas("gate", "instruct-sample", "--mode", "nope")
    assert r.returncode == 2 and "--mode nope: use proof, sample or full" in r.stderr


def test_verify_proves_a_shard_file_back_to_raw_and_refuses_a_changed_one(ws) -> None:
    from laas.anchors.core.canonical import from_hex
    from laas.anchors.core.merkle import verify

    verdict = json.loads(ws.laas("gate", "instruct-sample", "--json").stdout)
    shard = Path(verdict["shards"][0])
    r = ws.laas("verify", str(shard), "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    proof = json.loads(r.stdout)
    assert [s["stage"] for s in proof["stages"]] == ["validated", "normalized", "raw"]
    for s in proof["stages"]:  # anyone can re-check the bundle with the Merkle code alone
        assert verify([from_hex(p) for p in s["proof"]], from_hex(s["shards_root"]),
                      from_hex(s["leaf"]))
    assert proof["stages"][-1]["uri"] == SHARD0 and proof["key"] == "part-00000.jsonl"
    raw = ws.laas("verify", SHARD0)
    assert raw.returncode == 0 and "PROVEN" in raw.stdout and "raw" in raw.stdout
    original = shard.read_bytes()
    try:
        shard.write_bytes(original[:-20])
        bad = ws.laas("verify", str(shard))
        assert bad.returncode == 1 and "NOT PROVEN" in bad.stdout and "changed" in bad.stdout
    finally:
        shard.write_bytes(original)


def test_a_thousand_random_tampers_are_never_accepted(ws) -> None:
    """Byte flips, swapped shards, truncations and replayed or edited manifests: whatever the
    reader accepts is exactly the data the gate proved (a flip in Parquet metadata that leaves
    every value alone may pass: the hash is over the rows), and no changed manifest loads."""
    import random

    from laas.anchors.adapters.artifacts import read_manifest
    from laas.anchors.services.reader import VerifiedReader
    from laas.api import gate_dataset
    from laas.errors import HashMismatch, LaasError

    rnd = random.Random(20261125)
    verdict = gate_dataset("instruct-sample", mode="proof", settings=ws.settings())
    reader = VerifiedReader.from_verdict(verdict)
    paths = [Path(u) for u in verdict.shards]
    originals = [p.read_bytes() for p in paths]
    tables = [reader.table(i) for i in range(len(paths))]
    validated = ws.second["checkpoints"][-1]
    manifest_uri = Path(validated["manifest_uri"])
    manifest_bytes = manifest_uri.read_bytes()
    older = [Path(c) for c in manifest_uri.parent.parent.parent.glob("*/*/manifest-*.json")
             if Path(c).read_bytes() != manifest_bytes]
    assert older  # the demo's first run and the other stages: replays to try
    outcomes = {"refused": 0, "same rows": 0}
    try:
        for trial in range(1000):
            kind = ("flip", "swap", "truncate", "manifest")[trial % 4]
            if kind == "manifest":
                data = bytearray(rnd.choice(older).read_bytes() if rnd.random() < 0.5
                                 else manifest_bytes)
                if data == manifest_bytes or rnd.random() < 0.5:
                    data[rnd.randrange(len(data))] ^= 1 << rnd.randrange(8)
                manifest_uri.write_bytes(bytes(data))
                with pytest.raises(LaasError):
                    read_manifest(str(manifest_uri), validated["manifest_hash"])
                outcomes["refused"] += 1
                continue
            i = rnd.randrange(len(paths))
            data = bytearray(originals[i])
            if kind == "flip":
                for _ in range(rnd.randint(1, 3)):
                    data[rnd.randrange(len(data))] ^= 1 << rnd.randrange(8)
            elif kind == "swap":
                data = bytearray(originals[(i + rnd.randrange(1, len(paths))) % len(paths)])
            else:
                data = data[: rnd.randrange(len(data))]
            paths[i].write_bytes(bytes(data))
            try:
                accepted = reader.table(i)
            except HashMismatch:
                outcomes["refused"] += 1
            else:
                assert accepted.equals(tables[i]), f"trial {trial}: {kind} accepted changed rows"
                outcomes["same rows"] += 1
            paths[i].write_bytes(originals[i])
    finally:
        manifest_uri.write_bytes(manifest_bytes)
        for p, b in zip(paths, originals, strict=True):
            p.write_bytes(b)
    assert sum(outcomes.values()) == 1000 and outcomes["refused"] >= 900, outcomes


def test_gate_denies_too_few_confirmations_and_an_altered_manifest(ws) -> None:
    few = ws.laas("gate", "instruct-sample", "--min-confirmations", "1000")
    assert few.returncode == 1 and "1000 required" in few.stdout
    validated = ws.second["checkpoints"][-1]
    manifest = Path(validated["manifest_uri"])
    original = manifest.read_text()
    manifest.write_text(original.replace('"rows":250', '"rows":251', 1))
    try:
        r = ws.laas("gate", "instruct-sample", "--run", ws.second["run"])
        assert r.returncode == 1 and "altered after the commit" in r.stdout
    finally:
        manifest.write_text(original)


def test_rerun_of_the_same_run_resumes_without_new_transactions(ws) -> None:
    reg = registry(ws)
    head = reg.block_number()
    r = ws.laas("run", "instruct-sample", "--run", ws.second["run"], "--json")
    assert r.returncode == 0, r.stderr
    again = json.loads(r.stdout)
    assert [c["checkpoint_id"] for c in again["checkpoints"]] == \
        [c["checkpoint_id"] for c in ws.second["checkpoints"]]
    assert reg.block_number() == head
    assert "resuming from" in r.stderr


@pytest.fixture(scope="module")
def strict(ws: Workspace) -> dict:
    """The sample under on_failure=fail_stage: committed, but its validated stage did not
    pass. A fixture, so every test that gates it finds it run whatever the order."""
    shards = {p.name: p.read_bytes() for p in (SAMPLE / "instruct-sample").iterdir()}
    ws.add_dataset("strict-sample", shards, on_failure="fail_stage")
    r = ws.laas("run", "strict-sample", "--json")
    assert r.returncode == 1, r.stderr
    # ValidationFailed: one line naming the dataset and where to look, after the summary.
    (line,) = r.stderr.strip().splitlines()[-1:]
    assert line.startswith("error: strict-sample run ") and "validated stage failed" in line
    return json.loads(r.stdout)


def test_a_dataset_whose_suite_fails_is_denied_though_committed(ws, strict) -> None:
    summary = strict
    assert [c["passed"] for c in summary["checkpoints"]] == [True, True, False]
    assert [s["key"] for s in summary["set_aside"]] == ["part-00005.jsonl.gz"]
    gate = ws.laas("gate", "strict-sample")
    assert gate.returncode == 1
    assert "did not pass validation" in gate.stdout and "part-00005.jsonl.gz" in gate.stdout
    # The Prefect gate flow a training flow waits on fails the same way.
    code = "from laas.flows.gate import gate; gate('strict-sample')"
    flow = subprocess.run([sys.executable, "-c", code], cwd=ws.root, env=ws.env,
                          capture_output=True, text=True, timeout=300)
    assert flow.returncode != 0 and "GateDenied" in flow.stderr


def test_duplicates_across_shards_fail_the_dataset(ws) -> None:
    a = rows(30, 40)
    b = rows(31, 40) + [dict(r, prompt=r["prompt"].upper()) for r in a[:5]]  # same, normalized
    ws.add_dataset("dupes", {
        "a.jsonl": "".join(json.dumps(r) + "\n" for r in a).encode(),
        "b.jsonl": "".join(json.dumps(r) + "\n" for r in b).encode(),
    })
    r = ws.laas("run", "dupes", "--json")
    assert r.returncode == 1, r.stdout + r.stderr
    summary = json.loads(r.stdout)
    (check,) = summary["dataset_checks"]
    assert not check["success"] and check["unexpected_count"] == 5
    assert summary["set_aside"] == []  # each shard alone is clean
    gate = ws.laas("gate", "dupes")
    assert gate.returncode == 1 and "laas_dataset_duplicate_rate_at_most" in gate.stdout


def test_malformed_shards_are_named_and_the_others_are_kept(ws) -> None:
    good = ["".join(json.dumps(r) + "\n" for r in rows(i, 30)).encode() for i in (20, 21, 22)]
    no_lang = "".join(json.dumps({k: v for k, v in r.items() if k != "lang"}) + "\n"
                      for r in rows(23, 30)).encode()
    ws.add_dataset("messy", {
        "a-good.jsonl": good[0],
        "b-good.jsonl.gz": gzip.compress(good[1]),
        "c-truncated.jsonl.gz": gzip.compress(good[2])[:-50],
        "d-badline.jsonl": good[0].replace(b"\n", b"\n{oops\n", 1),
        "e-nolang.jsonl": no_lang,
    })
    r = ws.laas("run", "messy")
    assert r.returncode == 0, r.stdout + r.stderr
    for name, words in (("c-truncated.jsonl.gz", "c-truncated.jsonl.gz"),
                        ("d-badline.jsonl", "JSON parse error"),
                        ("e-nolang.jsonl", "missing column(s) lang")):
        line = next(x for x in r.stdout.splitlines() if f"quarantined {name}" in x)
        assert words in line
    gate = ws.laas("gate", "messy", "--json")
    assert gate.returncode == 0
    assert sorted(Path(u).name for u in json.loads(gate.stdout)["shards"]) == \
        ["a-good.jsonl.parquet", "b-good.jsonl.gz.parquet"]
    policy = ws.root / "policy-messy.yaml"
    policy.write_text("max_set_aside: 0.5\n")
    strict = ws.laas("gate", "messy", "--policy", str(policy))
    assert strict.returncode == 1 and "3 of 5 shards were set aside" in strict.stdout


def test_index_rebuilt_from_the_chain_answers_the_same(ws) -> None:
    before = ws.laas("lineage", SHARD0, "--json")
    assert before.returncode == 0
    index = ws.root / ".laas" / "index.db"
    index.unlink()
    assert ws.laas("lineage", SHARD0).returncode == 2  # the cache is gone
    rebuilt = ws.laas("index", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert json.loads(ws.laas("lineage", SHARD0, "--json").stdout) == json.loads(before.stdout)


def test_the_index_can_live_in_postgres(ws) -> None:
    """A real PostgreSQL (pgserver's, on a Unix socket) as LAAS_INDEX_URL: rebuilt from the
    chain, it answers as the SQLite index does."""
    with postgres_server() as server:
        url = server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)
        env = {**ws.env, "LAAS_INDEX_URL": url}
        rebuilt = ws.laas("index", "rebuild", env=env)
        assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
        on_chain = len(registry(ws).checkpoints())
        rows = server.psql("select count(*) from checkpoints;").split()
        assert str(on_chain) in rows, rows
        for ref in (SHARD0, "part-00005.jsonl.gz"):
            pg = ws.laas("lineage", ref, "--json", env=env)
            assert pg.returncode == 0, pg.stderr
            assert json.loads(pg.stdout) == json.loads(ws.laas("lineage", ref, "--json").stdout)
        gate = json.loads(ws.laas("gate", "instruct-sample", "--json", env=env).stdout)
        assert gate["allowed"] is True


def test_gate_waits_for_confirmations(ws) -> None:
    verdict = json.loads(ws.laas("gate", "instruct-sample", "--json").stdout)
    need = verdict["confirmations"] + 3
    r = ws.laas("gate", "instruct-sample", "--min-confirmations", str(need))
    assert r.returncode == 1 and f"{need} required" in r.stdout
    registry(ws).w3.provider.make_request("anvil_mine", [hex(3)])
    assert ws.laas("gate", "instruct-sample", "--min-confirmations", str(need)).returncode == 0


def test_stopping_and_restarting_the_chain_keeps_every_checkpoint(ws, strict) -> None:
    assert ws.laas("chain", "down").returncode == 0
    status = ws.laas("chain", "status")
    assert status.returncode == 1 and "down" in status.stdout
    down = ws.laas("gate", "instruct-sample")
    assert down.returncode == 2 and "unreachable" in down.stderr and "laas chain up" in down.stderr
    offline = json.loads(ws.laas("lineage", SHARD0, "--json").stdout)
    assert offline["stages"][0]["confirmations"] is None  # answers from the index, chain down
    up = ws.laas("chain", "up")
    assert up.returncode == 0, up.stderr
    assert ws.laas("gate", "instruct-sample").returncode == 0
    assert ws.laas("gate", "instruct-sample", "--run", ws.second["run"]).returncode == 0
    failed = ws.laas("gate", "strict-sample")  # denied for its verdict, not for being absent
    assert failed.returncode == 1 and "did not pass validation" in failed.stdout, failed.stdout
    lineage = json.loads(ws.laas("lineage", SHARD0, "--json").stdout)
    reg = registry(ws)
    for stage in lineage["stages"]:
        assert reg.w3.eth.get_transaction_receipt(stage["tx_hash"])["status"] == 1
        assert reg.get(stage["checkpoint_id"]) is not None


def test_runs_emit_openlineage_events_over_http_and_to_a_file(ws) -> None:
    received: list[dict] = []
    saved = dict(ws.env)
    try:
        with posts_to(201, received) as collector:
            ws.env["LAAS_OPENLINEAGE_URL"] = collector
            r = ws.laas("run", "instruct-sample", "--json")
            assert r.returncode == 0, r.stderr
        summary = json.loads(r.stdout)
        events = ws.root / "openlineage.jsonl"
        ws.env["LAAS_OPENLINEAGE_URL"] = str(events)
        ws.add_dataset("nothing-here", {})
        assert ws.laas("run", "nothing-here").returncode == 2
    finally:
        ws.env.clear()
        ws.env.update(saved)
    assert [e["eventType"] for e in received] == ["START", "COMPLETE"]
    done = received[1]
    assert done["job"] == {"namespace": "laas", "name": "ingest.instruct-sample",
                           "facets": done["job"].get("facets", {})}
    assert done["run"]["runId"] == received[0]["run"]["runId"]
    assert done["inputs"][0]["name"].endswith("instruct-sample/*.jsonl*")
    assert done["outputs"][0]["name"] == "instruct-sample"
    facet = done["run"]["facets"]["laas"]
    assert [c["checkpoint_id"] for c in facet["checkpoints"]] == \
        [c["checkpoint_id"] for c in summary["checkpoints"]]
    assert facet["checkpoints"][-1]["tx_hash"] == summary["checkpoints"][-1]["tx_hash"]
    failed = [json.loads(line) for line in events.read_text().splitlines()]
    assert [e["eventType"] for e in failed] == ["START", "FAIL"]
    assert "no shard matches" in failed[1]["run"]["facets"]["errorMessage"]["message"]


ANVIL_KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # public


def test_the_committer_key_appears_in_no_output_log_artifact_or_index(ws) -> None:
    saved = dict(ws.env)
    try:
        ws.env["LAAS_PRIVATE_KEY"] = ANVIL_KEY_0  # anvil's first dev account: the admin
        # Subprocesses: everything written to their stdout and stderr, by any library, counts
        r = ws.laas("run", "instruct-sample", "--json", isolated=True)
        assert r.returncode == 0, r.stderr
        resumed = ws.laas("run", "instruct-sample", "--run", json.loads(r.stdout)["run"],
                          isolated=True)
        ws.env["LAAS_PRIVATE_KEY"] = ANVIL_KEY_0[:-1] + "g"  # malformed: must not be echoed
        refused = ws.laas("run", "instruct-sample", isolated=True)
    finally:
        ws.env.clear()
        ws.env.update(saved)
    assert refused.returncode == 2 and "LAAS_PRIVATE_KEY" in refused.stderr
    needles = [ANVIL_KEY_0[2:].lower(), ANVIL_KEY_0[2:-1].lower()]
    texts = [r.stdout, r.stderr, resumed.stdout, resumed.stderr, refused.stdout, refused.stderr]
    assert not [t for t in texts for n in needles if n in t.lower()]
    leaked = [str(p) for p in ws.root.rglob("*") if p.is_file() and "chain" not in p.parts
              and any(n.encode() in p.read_bytes().lower() for n in needles)]
    assert not leaked, leaked  # artifacts, manifests, Data Docs, index, Prefect's database


def test_consumer_policies_and_a_recorded_training_set(ws) -> None:
    def gate_with(policy: str, *args: str):  # noqa: ANN202
        path = ws.root / "policy.yaml"
        path.write_text(policy)
        return ws.laas("gate", "instruct-sample", "--policy", str(path), *args)

    r = gate_with("max_set_aside: 0.0\n")  # the sample drops rows: no shard is set aside
    assert r.returncode == 0, r.stdout + r.stderr
    r = gate_with("suites: [someone-elses-suite]\n")
    assert r.returncode == 1 and "is not one the policy accepts" in r.stdout
    r = gate_with("nope: 1\n")
    assert r.returncode == 2 and "gate policy" in r.stderr and "nope" in r.stderr
    r = gate_with("suites: [instruct-basic]\ntolerate: []\nmax_set_aside: 0.2\n",
                  "--record", "model-7", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    recorded, validated = out["recorded"], out["checkpoint"]
    assert recorded["stage"] == "training" and recorded["parents"] == [validated["checkpoint_id"]]
    assert recorded["shard_count"] == 8 and recorded["shards_root"] == validated["shards_root"]
    assert "model-7" in json.loads(ws.laas("lineage", SHARD0, "--json").stdout)["used_by"]
    proof = json.loads(ws.laas("verify", out["shards"][0], "--json").stdout)
    assert [s["stage"] for s in proof["stages"]] == ["training", "validated", "normalized", "raw"]


def test_a_derived_dataset_traces_each_shard_to_its_raw_source(ws) -> None:
    import yaml

    from laas.anchors.core.canonical import name_id
    from laas.anchors.services.lineage import raw_sources

    b_rows = {f"b-{k}.jsonl": ("\n".join(json.dumps(r) for r in rows(100 + k, 40, seed=8))
                               + "\n").encode() for k in range(2)}
    ws.add_dataset("sample-b", b_rows)
    assert ws.laas("run", "sample-b").returncode == 0
    spec = yaml.safe_load((SAMPLE / "instruct-sample.yaml").read_text())
    del spec["source"], spec["format"]
    spec.update(name="mix", parents=["instruct-sample", "sample-b"])
    (ws.root / "datasets" / "mix.yaml").write_text(yaml.safe_dump(spec))
    r = ws.laas("run", "mix", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    raw_cp = json.loads(r.stdout)["checkpoints"][0]
    assert raw_cp["shard_count"] == 8 + 2
    parents = [registry(ws).get(p) for p in raw_cp["parents"]]
    assert {p.stage for p in parents} == {"validated"}
    assert {p.dataset_id for p in parents} == {name_id("instruct-sample"), name_id("sample-b")}
    verdict = json.loads(ws.laas("gate", "mix", "--json").stdout)
    assert verdict["allowed"], verdict["reason"]
    for parent, folder in (("instruct-sample", SAMPLE / "instruct-sample"),
                           ("sample-b", ws.root / "datasets" / "sample-b")):
        shard = next(u for u, k in zip(verdict["shards"], verdict["keys"], strict=True)
                     if k.startswith(parent + "/"))
        found = ws.laas("lineage", shard, "--json")
        assert found.returncode == 0, found.stderr
        tree = json.loads(found.stdout)
        assert tree["dataset"] == "mix" and tree["derived_from"][0]["dataset"] == parent
        (source,) = raw_sources(tree)
        assert Path(source).parent == folder.resolve()
    text = ws.laas("lineage", shard)
    assert "derived from" in text.stdout and "sample-b" in text.stdout
    png = ws.root / "mix.png"
    assert ws.laas("lineage", shard, "--graph", str(png)).returncode == 0
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 5000


def test_a_forged_parent_link_is_denied(ws) -> None:
    """A validated checkpoint whose parent is another run's stage does not pass the gate."""
    from laas.anchors.adapters.artifacts import read_manifest
    from laas.anchors.core.canonical import name_id
    from laas.wiring import open_store

    # A dataset of its own: instruct-sample's latest run stays the real one for every other
    # test, whatever order they run in.
    reg = registry(ws)
    real = ws.second["checkpoints"]
    manifest = read_manifest(real[-1]["manifest_uri"])
    forged = manifest.model_copy(update={
        "dataset": "forged-sample", "dataset_id": name_id("forged-sample"), "run": "forged",
        "run_id": name_id("forged"), "parents": (real[1]["checkpoint_id"],)})
    reg.commit(forged, open_store(ws.settings()).write_manifest(forged))
    r = ws.laas("gate", "forged-sample", "--run", "forged")
    assert r.returncode == 1 and "is not this run's normalized stage" in r.stdout, r.stdout
