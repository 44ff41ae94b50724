"""What a training record commits of its contributors' shares (laas-training-shares-v1), over
the in-memory fakes: the commitment is the ABI encoding the reward contract hashes, a record
over shards that name nobody is as before, and laas refuses a record whose result hash or
contributors do not follow from the validated stage. On anvil: tests/test_rewards.py."""

from __future__ import annotations

import pytest
from eth_abi import encode
from web3 import Web3

from laas.anchors.adapters.artifacts import read_manifest
from laas.anchors.core.canonical import from_hex, to_hex
from laas.anchors.core.formats import MANIFEST_VERSION
from laas.anchors.core.models import TRAINING, new_manifest
from laas.anchors.core.record_shares import NO_SHARES, record_shares, training_result_hash
from laas.anchors.core.trust import stage_problem
from laas.anchors.services.anchoring import record_training
from laas.anchors.services.gate import check
from laas.anchors.services.training_shares import training_shares
from laas.errors import HashMismatch
from tests.fakes import FakeLedger, read, sample_shards, write

ALICE, BOB = "0x" + "a1" * 20, "0x" + "b2" * 20


def recorded(contributors: dict[str, str] | None, name: str = "model"):  # noqa: ANN201
    ledger = FakeLedger()
    stages = ledger.stages("ds", "r1", sample_shards(3), contributors=contributors)
    for m in stages:
        ledger.commit(m)
    verdict = check(ledger.registry, "ds", run="r1", store=ledger.store)
    cp = record_training(ledger.parts(), verdict, name)
    return ledger, stages[-1], cp


def test_the_commitment_is_the_abi_encoding_the_contract_hashes() -> None:
    ledger, validated, cp = recorded({"part-0.jsonl": ALICE, "part-2.jsonl": BOB})
    shares, c = record_shares(validated.shards)
    assert c is not None and [s.contributor for s in shares] == [ALICE, BOB]
    assert (c.contributors, c.rows) == (2, 12)  # part-1's rows count in the total only
    want = Web3.keccak(encode(["bytes32", "bytes32", "uint256", "uint256", "uint256"],
                              [Web3.keccak(text="laas-training-shares-v1"), from_hex(c.root),
                               2, c.rows, c.bytes]))
    assert cp.result_hash == c.result_hash == to_hex(bytes(want))
    got = training_shares(ledger.registry, "ds", "model", BOB)
    assert [s.contributor for s in got.shares] == [BOB] and got.anchor_key is None  # format 1


def test_a_record_over_shards_that_name_nobody_is_as_before() -> None:
    _, validated, cp = recorded(None)
    assert training_result_hash(validated.shards) == NO_SHARES == cp.result_hash
    assert b'"version":"' + MANIFEST_VERSION.encode() in read(cp.manifest_uri)
    # The record as record_training made it before shares existed, stamped the same instant.
    record = read_manifest(cp.manifest_uri, expected_hash=cp.manifest_hash)
    before = new_manifest(validated.dataset, "model", TRAINING, validated.hash_scheme,
                          [s.model_copy(update={"validation": None, "docs_uri": None})
                           for s in validated.accepted],
                          parents=(validated.checkpoint_id,), passed=True)
    before = before.model_copy(update={"created_at": record.created_at})
    assert before.to_bytes() == read(cp.manifest_uri)
    assert before.manifest_hash == cp.manifest_hash


def test_a_record_that_does_not_follow_from_the_validated_stage_is_refused() -> None:
    ledger, validated, cp = recorded({"part-0.jsonl": ALICE})
    record = read_manifest(cp.manifest_uri, expected_hash=cp.manifest_hash)
    assert stage_problem(validated, record) is None
    inflated = record.model_copy(update={"result_hash": "0x" + "ee" * 32})
    assert "is not the commitment to its shards' contributor shares" in stage_problem(
        validated, inflated)
    moved = [s.model_copy(update={"contributor": BOB}) for s in record.shards]
    stolen = record.model_copy(update={"shards": tuple(moved),
                                       "result_hash": training_result_hash(moved)})
    assert f"names contributor {BOB}, the validated stage {ALICE}" in stage_problem(
        validated, stolen)
    write(cp.manifest_uri, stolen.to_bytes())  # the store's copy swapped for Bob's
    with pytest.raises(HashMismatch, match="training record model of ds"):
        training_shares(ledger.registry, "ds", "model", BOB)


def test_the_prefect_artifact_lists_the_largest_shares_and_says_when_there_are_none() -> None:
    from laas.tasks.training import shares_markdown

    ledger, _, _ = recorded({"part-0.jsonl": ALICE, "part-1.jsonl": ALICE, "part-2.jsonl": BOB})
    md = shares_markdown(training_shares(ledger.registry, "ds", "model"), most=1)
    assert f"| `{ALICE}` | 8 |" in md and BOB not in md and "… and 1 more." in md
    ledger, _, _ = recorded(None)
    assert "names a contributor" in shares_markdown(training_shares(ledger.registry, "ds",
                                                                    "model"))
