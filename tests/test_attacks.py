"""An attacker with write access to the artifact store only (no key, no chain access), on a
real anvil: every hole of issue 12, reproduced with files planted or swapped in the store, now
ends in a refusal with a clear reason."""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from laas.anchors.adapters.artifacts import ArtifactStore, read_manifest
from laas.anchors.adapters.files import rehash_parquet_at
from laas.anchors.core.canonical import hash_record, name_id, to_hex
from laas.anchors.core.models import ShardEntry, StageManifest, stage_root
from laas.datasets.make_sample import rows
from tests.conftest import Workspace, posts_to

ANVIL_KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # public
POISON = "call me at (415) 555-0100 or write to jane.doe@example.com"


def _jsonl(seed: int, n: int = 30) -> bytes:
    return ("\n".join(json.dumps(r) for r in rows(seed, n, seed=seed)) + "\n").encode()


@pytest.fixture(scope="module")
def ws(workspace: Workspace) -> Workspace:
    workspace.add_dataset("atk", {f"s{k}.jsonl": _jsonl(200 + k) for k in range(4)},
                          on_failure="quarantine")
    r = workspace.laas("run", "atk", "--run", "genuine", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    workspace.genuine = json.loads(r.stdout)
    workspace.store = ArtifactStore(str(workspace.root / ".laas" / "artifacts"))
    return workspace


def genuine(ws: Workspace) -> dict[str, StageManifest]:
    return {c["stage"]: read_manifest(c["manifest_uri"]) for c in ws.genuine["checkpoints"]}


def poison_file(ws: Workspace, where: Path) -> Path:
    """A Parquet shard under the dataset's schema whose rows the suite would refuse."""
    clean = pq.read_table(genuine(ws)["normalized"].accepted[0].uri)
    bad = clean.slice(0, 3).to_pylist()
    for r in bad:
        r.update(prompt=POISON, license="proprietary-scraped")
    where.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(bad, schema=clean.schema), where)
    return where


def plant_run(ws: Workspace, run: str, store: ArtifactStore | None = None) -> list[str]:
    """Manifests of a run nobody computed: the genuine shards plus a poison one (raw entry
    pointing at a file that does not exist), passed=true, parents chained."""
    store = store or ws.store
    real = genuine(ws)
    poison = poison_file(ws, Path(store.root) / "atk" / run / "normalized" / "p.jsonl.parquet")
    digest, size, nrows = rehash_parquet_at(str(poison))
    extra = {"raw": ShardEntry(key="p.jsonl", uri="/nonexistent/p.jsonl",
                               source_uri="/nonexistent/p.jsonl", byte_size=10,
                               content_hash=to_hex(b"\x01" * 32)),
             "normalized": ShardEntry(key="p.jsonl", uri=str(poison),
                                      source_uri="/nonexistent/p.jsonl", byte_size=size,
                                      rows=nrows, content_hash=to_hex(digest))}
    extra["validated"] = extra["normalized"]
    uris, parent = [], ()
    for stage in ("raw", "normalized", "validated"):
        shards = tuple(sorted((*real[stage].shards, extra[stage]), key=lambda s: s.key))
        update = {"run": run, "run_id": name_id(run), "parents": parent, "shards": shards,
                  "shards_root": stage_root(shards), "passed": True}
        if stage == "validated":
            report = dict(real[stage].validation)
            update |= {"validation": report, "result_hash": hash_record(report)}
        m = real[stage].model_copy(update=update)
        uris.append(store.write_manifest(m))
        parent = (m.checkpoint_id,)
    return uris


def run_copy(real: dict, run: str, **update: object) -> list:
    """The genuine run's three manifests renamed to `run`, each naming its new parent."""
    out, parent = [], ()
    for stage in ("raw", "normalized", "validated"):
        m = real[stage].model_copy(update={"run": run, "run_id": name_id(run),
                                           "parents": parent, **update})
        out.append(m)
        parent = (m.checkpoint_id,)
    return out


def test_a_planted_run_is_not_committed_by_resume_and_the_gate_ignores_it(ws) -> None:
    plant_run(ws, "planted-1")
    listed = ws.laas("anchor", "--resume")
    assert listed.returncode == 2 and "nothing committed" in listed.stderr
    assert "refused" in listed.stdout and "not attested by a committer key" in listed.stdout
    done = ws.laas("anchor", "--resume", "--all", "--json")
    assert done.returncode == 2, done.stdout + done.stderr
    actions = {(d["run"], d["stage"]): d["action"] for d in json.loads(done.stdout)}
    assert actions[("planted-1", "raw")] == "refused"
    assert {actions[("planted-1", s)] for s in ("normalized", "validated")} == {"pending"}
    assert actions[("genuine", "validated")] == "on chain"
    denied = ws.laas("gate", "atk", "--run", "planted-1")
    assert denied.returncode == 1 and "no validated checkpoint" in denied.stdout
    allowed = ws.laas("gate", "atk", "--json")  # the default gate still picks the genuine run
    verdict = json.loads(allowed.stdout)
    assert allowed.returncode == 0 and verdict["run"] == "genuine", verdict["reason"]
    assert not any("p.jsonl" in k for k in verdict["keys"])


def test_a_forged_attestation_does_not_make_a_planted_run_trusted(ws) -> None:
    """Signed by a random key, or by anvil's public dev key (the local chain's admin): the
    local committer is a key generated for this home, so neither is trusted."""
    from eth_account import Account

    from laas.anchors.adapters.attest import attest

    for run, key in (("planted-2", Account.create().key), ("planted-3", ANVIL_KEY_0)):
        uris = plant_run(ws, run)
        for uri in uris:
            m = read_manifest(uri)
            ws.store.write_attestation(m, attest(Account.from_key(key), m.manifest_hash))
        done = ws.laas("anchor", "--resume", "atk", "--run", run, "--json")
        (raw,) = [d for d in json.loads(done.stdout) if d["stage"] == "raw"]
        assert raw["action"] == "refused" and "not a trusted committer" in raw["trust"], raw
        assert ws.laas("gate", "atk", "--run", run).returncode == 1


def test_a_rerun_of_a_predictable_run_name_recomputes_what_was_planted(ws) -> None:
    plant_run(ws, "nightly-2026-11-25")
    r = ws.laas("run", "atk", "--run", "nightly-2026-11-25", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    summary = json.loads(r.stdout)
    assert [c["shard_count"] for c in summary["checkpoints"]] == [4, 4, 4]  # no poison shard
    from laas.api import verified_reader
    from laas.settings import Settings

    settings = Settings(home=ws.root / ".laas", anvil_port=ws.port)
    reader = verified_reader("atk", run="nightly-2026-11-25", settings=settings)
    assert all(POISON not in (row["prompt"] or "") for row in reader)


def _normalized_entries(ws: Workspace, tmp: Path) -> tuple[list[ShardEntry], object]:
    from laas.tasks.dataset_spec import load_spec
    from laas.tasks.normalizer import normalize
    from laas.tasks.raw_hashing import hash_raw

    spec = load_spec("atk", [ws.root / "datasets"])
    src = sorted((ws.root / "datasets" / "atk").glob("*.jsonl"))
    return [normalize(hash_raw(p.name, str(p)), spec, str(tmp), "quarantined")
            for p in src], spec


def test_validation_runs_on_the_bytes_it_hashes_not_a_decoy(ws, tmp_path) -> None:
    """The normalized file is swapped for a clean decoy before validation: the validate stage
    re-hashes what it reads and sets the shard aside instead of validating the decoy."""
    from laas.tasks.shard_validation import validated_entries

    entries, spec = _normalized_entries(ws, tmp_path / "n")
    target = Path(entries[0].uri)
    decoy = pq.read_table(entries[1].uri)
    pq.write_table(decoy, target)  # clean rows, but not the ones the normalized stage hashed
    (tmp_path / "h").mkdir()
    out = validated_entries(entries, spec, "quarantined", str(tmp_path / "docs"),
                            str(tmp_path / "h"))
    assert out[0].status == "quarantined" and out[0].leaf is None
    assert "changed since the normalized stage hashed it" in out[0].reason
    assert [e.status for e in out[1:]] == ["ok"] * (len(out) - 1)


class _FlipFlop:
    """A store whose object changes between two opens (what an attacker racing a reader does):
    the first open sees A, every later one B."""

    def __init__(self, a: bytes, b: bytes):
        self.blobs, self.opens = [a, b], 0

    def open(self, *_: object, **__: object):  # noqa: ANN201
        import io

        blob = self.blobs[min(self.opens, 1)]
        self.opens += 1
        return io.BytesIO(blob)


def test_a_parquet_source_is_parsed_from_the_bytes_it_hashed(ws, tmp_path, monkeypatch) -> None:
    from laas.anchors.core.hashing import hash_stream
    from laas.tasks import readers, source_bytes
    from laas.tasks.dataset_spec import load_spec

    spec = load_spec("atk", [ws.root / "datasets"]).model_copy(update={"format": "parquet"})
    good = pq.read_table(genuine(ws)["normalized"].accepted[0].uri)
    a, b = pa.BufferOutputStream(), pa.BufferOutputStream()
    pq.write_table(good, a)
    pq.write_table(pa.Table.from_pylist(
        [{**r, "prompt": POISON} for r in good.to_pylist()], schema=good.schema), b)
    a, b = a.getvalue().to_pybytes(), b.getvalue().to_pybytes()
    flip = _FlipFlop(a, b)
    monkeypatch.setattr(source_bytes, "open_uri", flip.open)
    import io

    expect = to_hex(hash_stream(io.BytesIO(a))[0])
    table = pa.Table.from_batches(list(readers.iter_batches("x.parquet", spec, expect=expect)))
    assert POISON not in table.column("prompt").to_pylist() and flip.opens == 1


def test_file_names_that_cannot_be_stored_set_the_shard_aside_not_the_run(ws) -> None:
    long_name = "n" * 244 + ".jsonl"  # 250 bytes: fine as a source, too long as .parquet
    ws.add_dataset("names", {long_name: _jsonl(300), "d.jsonl": _jsonl(301),
                             "ok.jsonl": _jsonl(302)}, on_failure="quarantine",
                   source="names/**/*.jsonl")
    folder = ws.root / "datasets" / "names" / "d.jsonl.parquet"
    folder.mkdir()
    (folder / "x.jsonl").write_bytes(_jsonl(303))
    for attempt in range(2):  # and again: a rerun is not stopped either
        r = ws.laas("run", "names", "--run", f"names-{attempt}", "--json")
        assert r.returncode == 0, r.stdout + r.stderr
        out = json.loads(r.stdout)
        aside = {s["key"]: s["reason"] for s in out["set_aside"]}
        assert set(aside) == {long_name, "d.jsonl"}, aside
        assert "too long" in aside[long_name] and "folder" in aside["d.jsonl"]
        assert out["checkpoints"][-1]["shard_count"] == 2


@pytest.mark.parametrize("args", [
    ("run", "atk", "--run", "../../../../x"),
    ("run", "atk", "--run", "/abs"),
    ("gate", "atk", "--record", "../../model"),
    ("gate", "atk", "--run", "a/../../b"),
    ("anchor", "--resume", "atk", "--run", ".."),
])
def test_names_that_would_leave_the_artifact_store_are_refused(ws, args) -> None:
    before = sorted(p.name for p in ws.root.parent.iterdir())
    r = ws.laas(*args)
    assert r.returncode == 2 and "is not a valid name" in r.stderr, r.stdout + r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in ws.root.parent.iterdir()) == before


def test_rpc_credentials_are_never_shown_and_status_sees_an_up_chain(ws) -> None:
    env = {**ws.env, "LAAS_RPC_URL": f"http://user:s3cr3t@127.0.0.1:{ws.port}"}
    registry = json.loads((ws.root / ".laas" / "chain" / "registry.json").read_text())
    env["LAAS_REGISTRY_ADDRESS"] = registry["address"]
    status = ws.laas("chain", "status", env=env)
    assert status.returncode == 0 and "up at http://127.0.0.1" in status.stdout, status.stdout
    assert "no committer key (read-only)" in status.stdout  # a remote chain: no key needed
    down = {**env, "LAAS_RPC_URL": "https://user:s3cr3t@127.0.0.1:9/v2/PROVIDERKEY123?k=x"}
    for args in (("chain", "status"), ("gate", "atk"), ("lineage", "x")):
        r = ws.laas(*args, env=down)
        text = r.stdout + r.stderr
        assert r.returncode != 0 and "s3cr3t" not in text and "PROVIDERKEY" not in text, text


def test_consumers_work_without_a_key_on_a_remote_chain(ws) -> None:
    registry = json.loads((ws.root / ".laas" / "chain" / "registry.json").read_text())
    env = {**ws.env, "LAAS_RPC_URL": f"http://127.0.0.1:{ws.port}",
           "LAAS_REGISTRY_ADDRESS": registry["address"]}
    r = ws.laas("gate", "atk", "--run", "genuine", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    shard = genuine(ws)["validated"].accepted[0].uri
    v = ws.laas("verify", shard, env=env)
    assert v.returncode == 0 and "PROVEN" in v.stdout, v.stdout + v.stderr


def test_a_fresh_home_gate_denies_and_deploys_nothing(ws, tmp_path) -> None:
    env = {**ws.env, "LAAS_HOME": str(tmp_path / "fresh")}
    r = ws.laas("gate", "atk", env=env)
    assert r.returncode == 1 and "nothing was committed here yet" in r.stdout, r.stdout
    assert not (tmp_path / "fresh" / "chain" / "registry.json").exists()


@pytest.mark.parametrize("args,env,needle", [
    (("run", "no-such-dataset"), {}, "no dataset spec named"),
    (("gate", "atk", "--sample", "-1", "--mode", "sample"), {}, "--sample -1"),
    (("gate", "atk", "--min-confirmations", "-5"), {}, "--min-confirmations -5"),
    (("verify", "/no/such/file.parquet"), {}, "no such file"),
    (("gate", "atk"), {"LAAS_REGISTRY_ADDRESS": "garbage"}, "LAAS_REGISTRY_ADDRESS"),
    (("gate", "atk"), {"LAAS_MIN_CONFIRMATIONS": "abc"}, "LAAS_MIN_CONFIRMATIONS"),
    (("run", "atk"), {"LAAS_MIN_CONFIRMATIONS": "abc"}, "LAAS_MIN_CONFIRMATIONS"),
])
def test_bad_input_is_one_line_and_exit_2(ws, args, env, needle) -> None:
    r = ws.laas(*args, env={**ws.env, **env, "COLUMNS": "80"})
    assert r.returncode == 2, r.stdout + r.stderr
    assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr and not (ws.root / "prefect" / "no-such").exists()


def test_a_malformed_spec_is_one_line_before_prefect_starts(ws, tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nschema: [\n")
    env = {**ws.env, "PREFECT_HOME": str(tmp_path / "prefect")}
    r = ws.laas("run", str(bad), env=env)
    assert r.returncode == 2 and "not valid YAML" in r.stderr
    assert not (tmp_path / "prefect").exists()  # no Prefect server was started for it


def test_verify_reports_a_failed_runs_verdict(ws) -> None:
    """A shard accepted in a run whose validated stage did not pass (another shard failed):
    its proof holds, and verify says the run did not pass, exiting 1."""
    bad = [dict(r, license="proprietary-scraped") for r in rows(401, 30, seed=401)]
    ws.add_dataset("atk-bad", {"a.jsonl": _jsonl(400), "b.jsonl": "\n".join(
        json.dumps(r) for r in bad).encode()}, on_failure="fail_stage")
    r = ws.laas("run", "atk-bad", "--run", "bad-1", "--json")
    assert r.returncode == 1, r.stdout + r.stderr
    validated = read_manifest(json.loads(r.stdout)["checkpoints"][2]["manifest_uri"])
    shard = next(s for s in validated.accepted if s.key == "a.jsonl")
    v = ws.laas("verify", shard.uri)
    assert v.returncode == 1 and "did NOT pass validation" in v.stdout, v.stdout + v.stderr


def test_a_newer_failed_run_denies_the_default_gate_naming_it(ws) -> None:
    ws.add_dataset("atk-new", {"a.jsonl": _jsonl(500)}, on_failure="quarantine")
    assert ws.laas("run", "atk-new", "--run", "old-good").returncode == 0
    (ws.root / "datasets" / "atk-new" / "a.jsonl").write_bytes(b'{"prompt": 1}\n')
    spec = ws.root / "datasets" / "atk-new.yaml"
    spec.write_text(spec.read_text().replace("on_failure: quarantine", "on_failure: fail_stage"))
    assert ws.laas("run", "atk-new", "--run", "new-bad").returncode == 1
    r = ws.laas("gate", str(spec))  # a spec path works as the dataset
    assert r.returncode == 1 and "run new-bad did not pass validation" in r.stdout, r.stdout
    assert ws.laas("gate", "atk-new", "--run", "old-good").returncode == 0


def test_a_newer_pending_run_denies_the_default_gate(ws) -> None:
    """A run whose manifests a committer attested but the chain never got (chain down, or
    reorganised away) is newer than the passed one: the default gate says so."""
    from laas.anchors.services.anchoring import store_manifest
    from laas.settings import Settings
    from laas.wiring import ledger

    settings = Settings(home=ws.root / ".laas", anvil_port=ws.port)
    real = genuine(ws)["raw"]
    from datetime import UTC, datetime

    later = real.model_copy(update={"run": "waiting", "run_id": name_id("waiting"),
                                    "created_at": datetime.now(UTC)})
    store_manifest(ledger(settings), later)  # attested by this home's committer key, not committed
    r = ws.laas("gate", "atk")
    assert r.returncode == 1 and "newer run waiting" in r.stdout, r.stdout
    shutil.rmtree(Path(ws.store.root) / "atk" / "waiting")
    assert ws.laas("gate", "atk").returncode == 0


def test_revoked_and_unpinned_committers_per_policy(ws, tmp_path) -> None:
    from laas.settings import Settings
    from laas.wiring import committer_account

    me = committer_account(Settings(home=ws.root / ".laas", anvil_port=ws.port)).address
    policy = tmp_path / "p.yaml"
    policy.write_text(f"committers: ['{me}']\n")
    assert ws.laas("gate", "atk", "--run", "genuine", "--policy", str(policy)).returncode == 0
    policy.write_text("committers: ['0x" + "12" * 20 + "']\n")
    r = ws.laas("gate", "atk", "--run", "genuine", "--policy", str(policy))
    assert r.returncode == 1 and "not by a committer the policy trusts" in r.stdout
    assert ws.laas("gate", "atk", "--run", "genuine", "--require-active-committer") \
        .returncode == 0


def test_random_mutations_of_the_store_are_never_accepted(ws, tmp_path) -> None:
    """500 trials: a random mutation of the genuine run's stored artifacts (a manifest field,
    a shard file, a swap between runs or datasets, a planted run), then resume --all, the gate
    (full and proof) and the reader. Nothing that differs from what was validated is ever
    accepted, and nothing planted is ever committed."""
    from laas.anchors.services.gate import check
    from laas.anchors.services.reader import VerifiedReader
    from laas.anchors.services.resume import resume
    from laas.errors import LaasError
    from laas.settings import Settings
    from laas.wiring import ledger, open_reader

    rnd = random.Random(int(os.environ.get("LAAS_MUTATION_SEED", "12")))
    base = Settings(home=ws.root / ".laas", anvil_port=ws.port)
    reg = open_reader(base)
    real = genuine(ws)
    # What was validated, per run on chain, captured before any mutation.
    want, want_rows = {}, {}
    for cp in reg.checkpoints(name_id("atk")):
        if cp.stage == "validated":
            vm = read_manifest(cp.manifest_uri, expected_hash=cp.manifest_hash)
            want[vm.run] = {s.key: s.content_hash for s in vm.accepted}
            want_rows |= {s.uri: pq.read_table(s.uri).to_pylist() for s in vm.accepted}
    src = Path(ws.store.root) / "atk" / "genuine"
    counts = {"refused": 0, "same": 0}
    trials = int(os.environ.get("LAAS_MUTATION_TRIALS", "500"))
    for trial in range(trials):
        root = tmp_path / f"t{trial % 2}"
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(src, root / "atk" / "genuine")
        store = ArtifactStore(str(root))
        settings = base.model_copy(update={"artifact_root": str(root)})
        kind, restore = _mutate(ws, rnd, root, store, real)
        snap = reg.rpc.request("evm_snapshot", [])  # the read-only client's transport
        try:
            done = resume(ledger(settings), dry_run=False)
            assert not [d for d in done if d.action == "committed"], (trial, kind, done)
            accepted = []
            for mode in ("full", "proof"):
                for run in (None, "genuine", "planted"):
                    v = check(reg, "atk", run=run, mode=mode, store=store)
                    if v.allowed:
                        accepted.append(v)
            for v in accepted:
                got = dict(zip(v.keys, v.hashes, strict=True))
                assert got == want[v.run], (trial, kind, "gate accepted other hashes")
                reader = VerifiedReader(v.shards, v.hashes)
                for i, uri in enumerate(v.shards):
                    try:
                        assert reader.table(i).to_pylist() == want_rows[uri], (trial, kind)
                    except LaasError:
                        counts["refused"] += 1
            counts["same" if accepted else "refused"] += 1
        finally:
            reg.rpc.request("evm_revert", [snap])
            if restore is not None:
                restore[0].write_bytes(restore[1])
    assert sum(counts.values()) >= trials, counts


def _mutate(ws: Workspace, rnd: random.Random, root: Path, store: ArtifactStore,
            real: dict[str, StageManifest]) -> tuple[str, tuple[Path, bytes] | None]:
    """Apply one attacker's change to the copy of the store at root; return its kind and, for
    a shard file changed in place, how to put it back."""
    kind = rnd.choice(["field", "shard", "swap-runs", "swap-datasets", "plant", "plant-sign"])
    stage = rnd.choice(["raw", "normalized", "validated"])
    m = real[stage]
    if kind == "field":
        i = rnd.randrange(len(m.shards))
        s = m.shards[i]
        change = rnd.choice([{"content_hash": to_hex(rnd.randbytes(32))}, {"rows": s.rows + 1},
                             {"key": s.key + "x"}, {"uri": s.uri + ".other"},
                             {"status": "ok" if s.status != "ok" else "quarantined"}])
        shards = tuple(x.model_copy(update=change) if j == i else x
                       for j, x in enumerate(m.shards))
        forged = m.model_copy(update={"shards": shards, "shards_root": stage_root(shards),
                                      "passed": True})
        for p in (root / "atk" / "genuine" / stage).glob("manifest-*.json"):
            p.unlink()  # the forged manifest is the only one the store holds for the stage
        store.write_manifest(forged)
    elif kind == "shard":
        target = Path(rnd.choice(real["validated"].accepted).uri)  # in place, as an attacker
        original = target.read_bytes()
        poison_file(ws, target)
        return kind, (target, original)
    elif kind in ("swap-runs", "swap-datasets"):
        every = list(Path(ws.store.root).glob("*/*/*/manifest-*.json"))
        elsewhere = [p for p in every if ("atk" not in p.parts if kind == "swap-datasets"
                                          else "genuine" not in p.parts)]
        dest = root / "atk" / "genuine" / stage
        # Alone (no other run or dataset yet), another stage's manifest is what gets swapped.
        other = rnd.choice(elsewhere or [p for p in every if p.parent.name != stage])
        for p in dest.glob("manifest-*.json"):
            p.unlink()
        shutil.copy(other, dest / other.name)
    else:
        uris = plant_run(ws, "planted", store)
        if kind == "plant-sign":
            from eth_account import Account

            from laas.anchors.adapters.attest import attest

            key = rnd.choice([ANVIL_KEY_0, Account.create().key])
            for uri in uris:
                pm = read_manifest(uri)
                store.write_attestation(pm, attest(Account.from_key(key), pm.manifest_hash))
    return kind, None


# -- holes found by a red-team pass ------------------------------------------------------------

def test_planted_transaction_notes_are_never_broadcast_and_junk_ones_stop_nothing(ws) -> None:
    """sent-*.json notes live in the store: one carrying a transaction somebody else signed
    (anvil's public dev key granting itself the committer role) is ignored, a malformed one
    is skipped, and the run commits its own stages."""
    from eth_account import Account
    from web3 import Web3

    from laas.anchors.adapters.registry import COMMITTER_ROLE
    from laas.settings import Settings
    from laas.wiring import open_chain, open_reader, registry_at

    settings = Settings(home=ws.root / ".laas", anvil_port=ws.port)
    # web3's client without a key, to build the foreign transaction with
    reg = registry_at(open_chain(settings), open_reader(settings).address, None)
    dev = Account.from_key(ANVIL_KEY_0)
    tx = reg.contract.functions.grantRole(COMMITTER_ROLE, dev.address).build_transaction({
        "from": dev.address, "nonce": reg.w3.eth.get_transaction_count(dev.address),
        "chainId": reg.w3.eth.chain_id, "gas": 200_000,
        "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9})
    raw = bytes(dev.sign_transaction(tx).raw_transaction)
    tx_hash = Web3.to_hex(Web3.keccak(raw))
    for stage in ("raw", "normalized", "validated"):
        folder = Path(ws.store.root) / "atk" / "notes-1" / stage
        folder.mkdir(parents=True, exist_ok=True)
        # The note must name the manifest the run will write: plant it for any hash by
        # rewriting it as soon as the manifest appears is racy; a junk note and a wildcard
        # one are what an attacker can prepare in advance.
        (folder / "sent-0xjunk.json").write_text("{not json")
        (folder / f"sent-{tx_hash}.json").write_text(json.dumps(
            {"tx_hash": tx_hash, "raw": raw.hex(), "manifest_hash": "*", "sent_at": 0}))
    r = ws.laas("run", "atk", "--run", "notes-1", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert not reg.is_committer(dev.address)
    # And when the note does name the manifest: resume ignores the foreign transaction.
    from laas.anchors.adapters.registry import Registry
    from laas.anchors.services.anchoring import store_manifest
    from laas.wiring import ledger

    for m in run_copy(genuine(ws), "notes-2"):  # a run commits whole (format 2)
        store_manifest(ledger(settings), m)
        ws.store.record_sent(m, tx_hash, raw)
    done = ws.laas("anchor", "--resume", "atk", "--run", "notes-2", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)[0]["action"] == "committed"
    assert not reg.is_committer(dev.address)
    assert isinstance(reg, Registry)


def test_verify_does_not_prove_a_shard_the_validated_stage_set_aside(ws) -> None:
    bad = [dict(r, license="proprietary-scraped") for r in rows(601, 20, seed=601)]
    ws.add_dataset("atk-q", {"a.jsonl": _jsonl(600), "b.jsonl": "\n".join(
        json.dumps(r) for r in bad).encode()}, on_failure="quarantine")
    assert ws.laas("run", "atk-q").returncode == 0
    raw_file = ws.root / "datasets" / "atk-q" / "b.jsonl"
    v = ws.laas("verify", str(raw_file))
    assert v.returncode == 1 and "set aside at the validated stage" in v.stdout, v.stdout
    assert ws.laas("verify", str(ws.root / "datasets" / "atk-q" / "a.jsonl")).returncode == 0


def test_a_link_planted_in_the_store_never_redirects_a_write(ws) -> None:
    key = ws.root / ".laas" / "chain" / "committer.key"
    before = key.read_bytes()
    folder = Path(ws.store.root) / "atk" / "linked" / "normalized"
    folder.mkdir(parents=True)
    (folder / "s0.jsonl.parquet").symlink_to(key)
    docs = Path(ws.store.root) / "atk" / "linked" / "validated"
    docs.mkdir(parents=True)
    (docs / "docs").write_text("a file where a folder goes")
    r = ws.laas("run", "atk", "--run", "linked", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert key.read_bytes() == before and not (folder / "s0.jsonl.parquet").is_symlink()
    os.symlink(ws.root / ".laas" / "chain", Path(ws.store.root) / "atk" / "linked-2")
    r = ws.laas("run", "atk", "--run", "linked-2")
    assert r.returncode == 2 and "symbolic link" in r.stderr, r.stdout + r.stderr
    assert key.read_bytes() == before


def test_a_derived_source_swapped_after_its_gate_is_set_aside(ws, tmp_path) -> None:
    from laas.tasks.raw_hashing import hash_parent_shard

    shard = genuine(ws)["validated"].accepted[0]
    copy = tmp_path / "parent.parquet"
    shutil.copy(shard.uri, copy)
    assert hash_parent_shard("p/x", str(copy), shard.content_hash).status == "ok"
    poison_file(ws, copy)
    entry = hash_parent_shard("p/x", str(copy), shard.content_hash, "quarantined")
    assert entry.status == "quarantined" and "changed since the gate" in entry.reason


def test_a_failing_rpc_endpoint_never_shows_its_credentials(ws) -> None:
    with posts_to(500) as endpoint:
        url = endpoint.replace("http://", "http://user:S3CRETPASS@") + "/v2/APIKEY123"
        env = {**ws.env, "LAAS_RPC_URL": url,
               "LAAS_REGISTRY_ADDRESS": "0x" + "11" * 20}
        for args in (("gate", "atk"), ("chain", "status"), ("verify", __file__)):
            r = ws.laas(*args, env=env)
            text = r.stdout + r.stderr
            assert r.returncode != 0 and "S3CRETPASS" not in text and "APIKEY" not in text, text


def test_a_run_claiming_a_future_creation_does_not_outrank_a_newer_one(ws) -> None:
    """A committed run whose manifests claim 2099 cannot be newer than its own commit: a run
    created after that commit is the latest."""
    from datetime import UTC, datetime

    from laas.anchors.services.anchoring import store_manifest
    from laas.anchors.services.runcommit import commit_run
    from laas.settings import Settings
    from laas.wiring import ledger

    parts = ledger(Settings(home=ws.root / ".laas", anvil_port=ws.port), start_local=False)
    future = datetime(2099, 1, 1, tzinfo=UTC)
    run = run_copy(genuine(ws), "from-2099", created_at=future)
    commit_run(parts, [(m, store_manifest(parts, m)) for m in run])
    assert ws.laas("run", "atk", "--run", "after-2099").returncode == 0
    r = ws.laas("gate", "atk", "--json")
    assert json.loads(r.stdout)["run"] == "after-2099", r.stdout
