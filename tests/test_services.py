"""The services over the in-memory fakes (tests/fakes.py): the gate, the provenance walk, the
latest run, resume and its trust decisions, and `verify`. Each test starts from runs built as
`laas run` leaves them, changes one thing, and checks what a user is told: allowed or denied,
committed or refused, and the reason. The same scenarios through the CLI against anvil live in
test_pipeline.py and test_attacks.py; these run in milliseconds."""

from __future__ import annotations

import pytest

from laas.anchors.adapters.files import url_to_fs
from laas.anchors.core.canonical import name_id
from laas.anchors.services.anchoring import parent_problem, store_manifest, why_trusted
from laas.anchors.services.gate import GatePolicy, check
from laas.anchors.services.provenance import prove_checkpoint, prove_lineage
from laas.anchors.services.resume import resume
from laas.anchors.services.runs import latest_run
from laas.anchors.services.verify import verify_shard
from laas.errors import HashMismatch, LineageNotFound
from tests.fakes import OUTSIDER, FakeLedger, FakeRegistry, manifest, read, sample_shards, write


@pytest.fixture
def ledger() -> FakeLedger:
    return FakeLedger()


@pytest.fixture
def ran(ledger: FakeLedger) -> list:
    """One passed run `r1` of dataset `ds`, one of its three shards set aside."""
    return ledger.ingest("ds", "r1", set_aside={"part-2.jsonl": "failed expectations"})


def tamper(ledger: FakeLedger, uri: str) -> None:
    """Replace a Parquet shard with a valid one of other rows, as a bucket writer could."""
    other = ledger.stages("scratch", "x", {"evil": [{"prompt": "evil", "response": "!"}]})
    write(uri, read(other[1].shards[0].uri))


def gate(ledger: FakeLedger, dataset: str = "ds", **kw: object):  # noqa: ANN201
    return check(ledger.registry, dataset, store=ledger.store, **kw)


# -- the gate ---------------------------------------------------------------------------------


def test_a_passed_run_is_allowed_with_its_accepted_shards(ledger, ran) -> None:
    v = gate(ledger)
    assert v.allowed, v.reason
    assert v.run == "r1" and v.keys == ("part-0.jsonl", "part-1.jsonl") and v.rehashed == 2
    assert "2 shard(s) proven against root" in v.reason and "back to raw" in v.reason


def test_a_dataset_that_never_ran_is_denied_as_such(ledger, ran) -> None:
    assert gate(ledger, "other").reason == "no validated checkpoint on chain for dataset other"
    assert gate(ledger, run="r9").reason == "no validated checkpoint on chain for dataset ds run r9"


def test_a_changed_shard_is_denied_by_full_and_sample_but_not_by_proof(ledger, ran) -> None:
    shard = ran[2].accepted[0]
    tamper(ledger, shard.uri)
    for mode in ("full", "sample"):
        v = gate(ledger, mode=mode, sample=8)
        assert not v.allowed
        assert f"shard {shard.key}" in v.reason and "changed after validation" in v.reason
    assert gate(ledger, mode="proof").allowed  # proof mode reads no data, by design


def test_a_manifest_altered_after_its_commit_is_denied(ledger, ran) -> None:
    cp = ledger.registry.get(ran[2].checkpoint_id)
    write(cp.manifest_uri, read(cp.manifest_uri).replace(b'"r1"', b'"r1" '))
    v = gate(ledger)
    assert not v.allowed and "altered after the commit" in v.reason


def test_a_run_that_did_not_pass_is_denied_naming_what_failed(ledger) -> None:
    ledger.ingest("ds", "r1", set_aside={"part-1.jsonl": "empty responses"}, passed=False)
    v = gate(ledger)
    assert not v.allowed
    assert v.reason == "run r1 did not pass validation (part-1.jsonl: empty responses)"


def test_a_denial_names_three_shards_set_aside_not_every_one(ledger) -> None:
    """A corpus whose every shard was set aside gave a line as long as all their reasons."""
    aside = {f"part-{i}.csv": f"row {i}: 6 fields where the header has 3" for i in range(40)}
    ledger.ingest("ds", "r1", {k: [{"text": k}] for k in aside}, set_aside=aside, passed=False)
    v = gate(ledger)
    assert v.reason.startswith("run r1 did not pass validation (part-0.csv: row 0: 6 fields")
    assert v.reason.endswith("part-2.csv: row 2: 6 fields where the header has 3; and 37 more "
                             "shard(s) set aside)")


def test_confirmations_are_counted_from_the_head(ledger, ran) -> None:
    v = gate(ledger, min_confirmations=3)
    assert not v.allowed and v.reason.startswith("checkpoint has 1 confirmation(s), 3 required")
    ledger.registry.chain.mine(2)
    assert gate(ledger, min_confirmations=3).allowed


def test_a_forged_parent_link_is_denied(ledger, ran) -> None:
    """A validated checkpoint of another run that names r1's normalized stage as its parent."""
    forged = ran[2].model_copy(update={"run": "forged", "run_id": name_id("forged")})
    ledger.commit(forged)
    v = gate(ledger, run="forged")
    assert not v.allowed and "is not this run's normalized stage" in v.reason


def test_a_committer_revoked_since_is_denied_when_the_policy_demands_an_active_one(
        ledger, ran) -> None:
    policy = GatePolicy(require_active_committer=True)
    assert gate(ledger, policy=policy).allowed
    ledger.registry.revoke_committer(ledger.committer.address)
    v = gate(ledger, policy=policy)
    assert not v.allowed and "no longer holds the committer role (revoked)" in v.reason
    pinned = GatePolicy(committers=(OUTSIDER.address,))
    assert "not by a committer the policy trusts" in gate(ledger, policy=pinned).reason


# -- the latest run -----------------------------------------------------------------------------


def test_the_latest_run_is_the_newest_and_a_half_committed_one_denies(ledger, ran) -> None:
    cp, problem = latest_run(ledger.registry, "ds")
    assert problem is None and cp.checkpoint_id == ran[2].checkpoint_id
    raw, *_ = ledger.stages("ds", "r2", sample_shards())
    ledger.commit(raw)  # the chain went away after the raw stage
    cp, problem = latest_run(ledger.registry, "ds")
    assert cp is None and "the latest run r2" in problem and "has only raw on chain" in problem


def test_a_newer_attested_run_waiting_for_the_chain_denies_but_a_planted_one_does_not(
        ledger, ran) -> None:
    planted = ledger.stages("ds", "planted", sample_shards())[0]
    ledger.store.write_manifest(planted)  # no attestation: anyone with bucket access
    assert gate(ledger).allowed
    pending = ledger.stages("ds", "r2", sample_shards())[0]
    ledger.keep(pending)  # attested by the committer, not committed yet
    v = gate(ledger)
    assert not v.allowed and "a newer run r2" in v.reason and "is not on chain" in v.reason
    assert gate(ledger, run="r1").allowed  # an older run can still be named


# -- provenance ---------------------------------------------------------------------------------


def test_the_provenance_walk_reaches_raw_and_refuses_what_is_not_on_chain(ledger, ran) -> None:
    top = prove_checkpoint(ledger.registry, ran[2].checkpoint_id)
    assert [p.stage for p in prove_lineage(ledger.registry, top)] == \
        ["validated", "normalized", "raw"]
    unknown = manifest("ds", "r9", "validated", [])
    with pytest.raises(HashMismatch, match="is not on chain"):
        prove_checkpoint(ledger.registry, unknown.checkpoint_id)


# -- resume and what it trusts ----------------------------------------------------------------


def test_a_planted_manifest_is_not_trusted_and_an_attested_one_is(ledger, ran) -> None:
    signers = {ledger.committer.address.lower()}
    raw = ledger.stages("ds", "r2", sample_shards())[0]
    ledger.store.write_manifest(raw)
    ok, why = why_trusted(ledger.store, ledger.registry, signers, raw)
    assert not ok and "not on chain and not attested by a committer key" in why
    ledger.keep(raw, signer=OUTSIDER)
    ok, why = why_trusted(ledger.store, ledger.registry, signers, raw)
    assert not ok and f"attested by {OUTSIDER.address}, which is not a trusted committer" in why
    ledger.keep(raw)
    assert why_trusted(ledger.store, ledger.registry, signers, raw) == \
        (True, f"attested by committer {ledger.committer.address}")
    on_chain = ran[0]
    ok, why = why_trusted(ledger.store, ledger.registry, set(), on_chain)
    assert ok and why.startswith("its hash is on chain (block 1)")
    other = on_chain.model_copy(update={"passed": False})
    ok, why = why_trusted(ledger.store, ledger.registry, signers, other)
    assert not ok and "the chain holds another manifest for this stage" in why


def test_a_manifest_the_store_lost_or_altered_is_written_again_when_kept(ledger,
                                                                       monkeypatch) -> None:
    """The run stores each stage's manifest when the stage ends, and keeps it at the commit:
    the copy is read back and hashed, and written again only if it is not the same bytes."""
    raw = ledger.stages("ds", "r2", sample_shards())[0]
    uri = store_manifest(ledger.parts(), raw)
    fs, path = url_to_fs(uri)
    for harm in (lambda: write(uri, read(uri).replace(b"part-0", b"part-9")),
                 lambda: fs.rm(path)):
        harm()
        assert store_manifest(ledger.parts(), raw, rewrite=False) == uri
        assert read(uri) == raw.to_bytes()
    monkeypatch.setattr(ledger.store, "write_manifest", lambda m: pytest.fail("rewritten"))
    assert store_manifest(ledger.parts(), raw, rewrite=False) == uri  # held: kept
    ok, why = why_trusted(ledger.store, ledger.registry, {ledger.committer.address.lower()},
                          raw)
    assert ok and why.startswith("attested by committer")


def test_a_stage_is_committed_only_on_top_of_its_committed_parent(ledger, ran) -> None:
    raw, normalized, _ = ledger.stages("ds", "r2", sample_shards())
    assert "its parent" in parent_problem(ledger.registry, normalized) and \
        "is not on chain" in parent_problem(ledger.registry, normalized)
    ledger.commit(raw)
    assert parent_problem(ledger.registry, normalized) is None
    swapped = normalized.model_copy(update={"shards": normalized.shards[:2]})
    assert "its shards are not the raw stage's" in parent_problem(ledger.registry, swapped)


def test_resume_commits_attested_stages_in_order_and_refuses_planted_ones(ledger) -> None:
    settings = ledger.parts()
    for m in ledger.stages("ds", "kept", sample_shards()):
        ledger.keep(m)  # the chain was down for the whole run
    for m in ledger.stages("ds", "planted", sample_shards()):
        ledger.store.write_manifest(m)

    dry = resume(settings, "ds", dry_run=True, registry=ledger.registry)
    assert [(r.run, r.stage, r.action) for r in dry] == [
        ("kept", "raw", "would commit"), ("kept", "normalized", "pending"),
        ("kept", "validated", "pending"), ("planted", "raw", "refused"),
        ("planted", "normalized", "pending"), ("planted", "validated", "pending")]
    assert ledger.registry.chain.sent == 0

    done = resume(settings, "ds", registry=ledger.registry)
    assert [(r.run, r.stage, r.action) for r in done if r.run == "kept"] == [
        ("kept", "raw", "committed"), ("kept", "normalized", "committed"),
        ("kept", "validated", "committed")]
    assert "not attested" in next(r.trust for r in done if r.run == "planted")
    assert gate(ledger, run="kept").allowed and not gate(ledger, run="planted").allowed

    again = resume(settings, "ds", registry=ledger.registry)
    assert {r.action for r in again if r.run == "kept"} == {"on chain"}
    assert ledger.registry.chain.sent == 3  # nothing committed twice


def test_resume_commits_a_format_2_run_whole_in_one_transaction() -> None:
    ledger = FakeLedger(FakeRegistry(version=2))
    settings = ledger.parts()
    for m in ledger.stages("ds", "kept", sample_shards()):
        ledger.keep(m)  # the chain was down for the whole run
    ledger.keep(ledger.stages("ds", "half", sample_shards())[0])  # killed after raw

    done = resume(settings, "ds", registry=ledger.registry)
    assert [(r.run, r.stage, r.action) for r in done] == [
        ("half", "raw", "pending"), ("kept", "raw", "committed"),
        ("kept", "normalized", "committed"), ("kept", "validated", "committed")]
    assert "`laas run ds --run half` finishes it" in done[0].error
    assert ledger.registry.chain.sent == 1  # the run's one transaction
    assert len({r.checkpoint.tx_hash for r in done if r.checkpoint}) == 1
    assert gate(ledger, run="kept").allowed
    assert "a newer run half" in gate(ledger).reason  # it waits for the chain: deny

    again = resume(settings, "ds", registry=ledger.registry)
    assert [r.action for r in again if r.run == "kept"] == ["on chain"] * 3
    assert ledger.registry.chain.sent == 1  # nothing committed twice


# -- verify -------------------------------------------------------------------------------------


def test_verify_proves_a_shard_back_to_raw_and_names_a_changed_one(ledger, ran) -> None:
    shard = ran[2].accepted[0]
    proof = verify_shard(ledger.registry, ledger.index, shard.uri)
    assert [s.stage for s in proof.stages] == ["validated", "normalized", "raw"]
    assert proof.passed and proof.run == "r1" and proof.key == shard.key
    raw = verify_shard(ledger.registry, ledger.index, ran[0].shards[0].uri)
    assert [s.stage for s in raw.stages] == ["raw"] and raw.validated_run == "r1"

    tamper(ledger, shard.uri)
    with pytest.raises(HashMismatch, match="the index knows this path .* the file changed"):
        verify_shard(ledger.registry, ledger.index, shard.uri)
    with pytest.raises(LineageNotFound, match="no committed shard hashes to"):
        verify_shard(ledger.registry, ledger.index, ledger.source("ds", "new", [{"a": 1}]))


def test_verify_refuses_a_shard_the_validated_stage_set_aside(ledger, ran) -> None:
    aside = next(s for s in ran[1].shards if s.key == "part-2.jsonl")
    with pytest.raises(HashMismatch,
                       match="part-2.jsonl was set aside at the validated stage of run r1: failed"):
        verify_shard(ledger.registry, ledger.index, aside.uri)
