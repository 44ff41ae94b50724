"""`laas contributors`' service over the in-memory fakes (tests/fakes.py, held to the real
adapters by test_ports_contract): shares and proofs of a committed run whose shards name
contributors, and what is refused instead of shown. The same through the CLI on anvil and
moto's S3 is tests/test_contributors_pipeline.py."""

from __future__ import annotations

import pytest

from laas.anchors.core.canonical import from_hex
from laas.anchors.core.formats import SHARD_FACTS_MANIFEST
from laas.anchors.core.merkle import verify
from laas.anchors.core.models import checkpoint_id, stage_root
from laas.anchors.services.contributors import contributors_report, find_checkpoint
from laas.errors import HashMismatch, LineageNotFound
from tests.fakes import FakeLedger, sample_shards

ALICE, BOB = "0x" + "a1" * 20, "0x" + "b2" * 20
WHO = {"part-0.jsonl": ALICE, "part-1.jsonl": BOB, "part-2.jsonl": ALICE}


def attributed(ledger: FakeLedger, run: str, passed: bool = True) -> list:
    """A run as `laas run` commits it when the source names each shard's contributor."""
    out = []
    for m in ledger.stages("ds", run, sample_shards(), passed=passed):
        shards = tuple(s.model_copy(update={"contributor": WHO[s.key]}) for s in m.shards)
        out.append(m.model_copy(update={"shards": shards, "shards_root": stage_root(shards),
                                        "version": SHARD_FACTS_MANIFEST}))
    for m in out:
        ledger.commit(m)
    return out


def test_shares_and_proofs_of_a_run_reach_the_committed_root() -> None:
    ledger = FakeLedger()
    made = attributed(ledger, "r1")
    r = contributors_report(ledger.registry, find_checkpoint(ledger.registry, "ds", "r1"))
    assert (r.run, r.stage, r.unattributed) == ("r1", "validated", 0)
    got = {c.contributor: c for c in r.contributors}
    assert (got[ALICE].rows, len(got[ALICE].shards), got[BOB].rows) == (8, 2, 4)
    assert got[ALICE].bytes == sum(s.byte_size for s in made[2].shards if WHO[s.key] == ALICE)
    for c in r.contributors:
        for s in c.shards:
            assert verify([from_hex(p) for p in s.proof], from_hex(r.shards_root),
                          from_hex(s.leaf))
            assert s.raw_content_hash == next(e.content_hash for e in made[0].shards
                                              if e.key == s.key)


def test_a_run_without_contributors_has_none() -> None:
    ledger = FakeLedger()
    ledger.ingest("ds", "r1")
    r = contributors_report(ledger.registry, find_checkpoint(ledger.registry, "ds", "r1"))
    assert r.contributors == () and r.unattributed == 3


def test_what_the_chain_does_not_prove_is_refused_not_shown(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = FakeLedger()
    attributed(ledger, "r1")
    attributed(ledger, "bad", passed=False)
    cid = find_checkpoint(ledger.registry, "ds", "r1")
    monkeypatch.setattr(type(ledger.registry), "verify_leaf", lambda *a: False)
    with pytest.raises(HashMismatch, match="its proof does not reach the validated root"):
        contributors_report(ledger.registry, cid)
    monkeypatch.undo()
    with pytest.raises(HashMismatch, match="run bad did not pass validation"):
        contributors_report(ledger.registry, find_checkpoint(ledger.registry, "ds", "bad"))
    stored = ledger.registry.stored(cid)
    raw = checkpoint_id(stored.dataset_id, stored.run_id, "raw")
    with pytest.raises(HashMismatch, match="raw stage: contributors are counted"):
        contributors_report(ledger.registry, raw)
    with pytest.raises(LineageNotFound, match="ds has no run r9 on chain"):
        find_checkpoint(ledger.registry, "ds", "r9")
