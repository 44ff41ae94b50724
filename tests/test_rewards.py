"""Contributors proving their share of a training record on chain (a real anvil): `laas gate
--record` commits the shares of the data the training read (laas-training-shares-v1, in the
record's result hash), and the example ContributorRewards contract lets each contributor
prove (contributor, rows, bytes) with OpenZeppelin's MerkleProof against the root it reads
through CheckpointRegistryV2, once per record. Lies (rows, bytes, someone else's proof, a
proof of another record, forged shares or records, an untrusted committer, a second claim)
revert; a record without contributors is committed as before; a format-1 registry works too."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from laas.anchors.adapters.artifacts import read_manifest
from laas.anchors.adapters.registry import Registry
from laas.anchors.adapters.registry_v2 import RegistryV2
from laas.anchors.adapters.rewards import ANY_COMMITTER, Rewards
from laas.anchors.adapters.wallet import Sender
from laas.anchors.core.canonical import from_hex, name_id, to_hex
from laas.anchors.core.commitments import committed_struct
from laas.anchors.core.formats import MANIFEST_VERSION, SHARD_FACTS_MANIFEST
from laas.anchors.core.models import (
    TRAINING,
    checkpoint_id,
    new_manifest,
)
from laas.anchors.core.record_shares import NO_SHARES, TRAINING_SHARES_FORMAT, record_shares
from laas.anchors.core.shares import shares_tree
from laas.anchors.services.anchoring import record_training
from laas.anchors.services.gate import check
from laas.anchors.services.training_shares import training_shares
from laas.errors import AnchorReverted, HashMismatch, LineageNotFound
from laas.wiring import open_store, registry_at
from tests.fakes import FakeLedger, memory_index, read, sample_shards
from tests.test_versions_pipeline import prefect_artifact


class World:
    """The chain fixture's registry and store, runs ingested into them, training records."""

    def __init__(self, chain) -> None:  # noqa: ANN001 - the conftest Workspace
        self.reg: RegistryV2 = chain.registry
        self.w3 = self.reg.w3
        self.ledger = FakeLedger(registry=self.reg, store=open_store(chain.settings()),
                                 index=memory_index())
        self.alice, self.bob, self.carol, self.mallory = self.w3.eth.accounts[1:5]

    def ingest(self, dataset: str, contributors: dict[str, str] | None, n: int = 5) -> None:
        stages = self.ledger.stages(dataset, "r1", sample_shards(n), contributors=contributors)
        self.reg.commit_run([(m, self.ledger.keep(m)) for m in stages])

    def record(self, dataset: str, name: str):  # noqa: ANN201 - the training Checkpoint
        verdict = check(self.reg, dataset, run="r1", store=self.ledger.store)
        assert verdict.allowed, verdict.reason
        return record_training(self.ledger.parts(), verdict, name)


@pytest.fixture(scope="module")
def world(chain) -> World:
    w = World(chain)
    # Six shards of 4 rows: Alice two, Bob two, Carol one; one names nobody.
    w.ingest("corpus", {"part-0.jsonl": w.alice, "part-1.jsonl": w.bob,
                        "part-2.jsonl": w.alice, "part-3.jsonl": w.carol,
                        "part-5.jsonl": w.bob}, n=6)
    w.record("corpus", "model-1")
    w.ingest("other", {"part-0.jsonl": w.alice, "part-1.jsonl": w.bob}, n=3)
    w.record("other", "model-2")
    w.ingest("plain", None, n=3)
    return w


@pytest.fixture(scope="module")
def pool(world) -> Rewards:
    """A reward contract that pays against the laas committer's training records only."""
    dev = Sender(unlocked=world.w3.eth.accounts[0])
    return Rewards.deploy(world.w3, dev, world.reg.address, world.reg.sender.address)


def lied(args: tuple, **change: object) -> tuple:
    record, anchor, shares, rows, size, proof = args
    return (record, anchor, change.get("shares", shares), change.get("rows", rows),
            change.get("size", size), proof)


def test_a_training_record_commits_its_contributors_shares_of_the_kept_rows(world) -> None:
    got = training_shares(world.reg, "corpus", "model-1")
    assert got.commitment is not None and got.commitment.format == TRAINING_SHARES_FORMAT
    assert got.checkpoint.result_hash == got.commitment.result_hash != NO_SHARES
    by = {s.contributor: (s.rows, s.bytes, s.shards) for s in got.shares}
    assert set(by) == {world.alice, world.bob, world.carol}
    assert by[world.alice][2] == 2 and by[world.carol][2] == 1
    assert got.commitment.contributors == 3 and got.anchor_proof == ()  # a run of one stage
    # rows and bytes of the whole record, the unnamed shard included
    assert got.commitment.rows == 24 == sum(r for r, _, _ in by.values()) + 4
    assert got.share(world.bob.lower()).rows == 8
    with pytest.raises(LineageNotFound, match="has no share"):
        training_shares(world.reg, "corpus", "model-1", world.mallory)
    with pytest.raises(LineageNotFound, match="no training record nope"):
        training_shares(world.reg, "corpus", "nope")


def test_each_contributor_proves_and_claims_their_share_once_on_chain(world, pool) -> None:
    got = training_shares(world.reg, "corpus", "model-1")
    record_id = got.checkpoint.checkpoint_id
    for who in (world.alice, world.bob, world.carol):
        args = got.claim_args(who)
        assert pool.verify_share(args, who)
        receipt = pool.claim(Sender(unlocked=who), args)
        event = pool.contract.events.Claimed().process_receipt(receipt)[0]["args"]
        share = got.share(who)
        assert (event["contributor"], event["rows"], event["size"]) == (
            who, share.rows, share.bytes)
        assert (event["totalRows"], to_hex(event["record"])) == (got.commitment.rows, record_id)
        assert pool.claimed(record_id, who)
        with pytest.raises(AnchorReverted, match="AlreadyClaimed"):
            pool.claim(Sender(unlocked=who), args)  # a replayed claim
    assert not pool.claimed(record_id, world.mallory)


def test_lies_about_a_share_revert(world, pool) -> None:
    one = training_shares(world.reg, "corpus", "model-1")
    two = training_shares(world.reg, "other", "model-2")
    alice = one.claim_args(world.alice)
    _, _, shares, rows, size, proof = alice
    mallory = Sender(unlocked=world.mallory)
    cases = {
        "BadShareProof": [lied(alice, rows=rows + 1), lied(alice, size=size + 1),
                          lied(alice, rows=rows * 10, size=size * 10)],
        # another record's commitment with Alice's proof of record 1
        "SharesNotCommitted": [lied(alice, shares=(shares[0], shares[1], shares[2] * 2,
                                                   shares[3])),
                               (two.claim_args(world.alice)[0], (), shares, rows, size,
                                proof)],
    }
    for error, attempts in cases.items():
        for args in attempts:
            with pytest.raises(AnchorReverted, match=error):
                pool.claim(Sender(unlocked=world.alice), args)
    assert not any(pool.verify_share(args, world.alice) for args in cases["BadShareProof"])
    with pytest.raises(AnchorReverted, match="BadShareProof"):  # someone else's proof
        pool.claim(mallory, alice)
    r2 = two.claim_args(world.alice)  # Alice's proof of record 1 under record 2's shares
    with pytest.raises(AnchorReverted, match="BadShareProof"):
        pool.claim(Sender(unlocked=world.alice), (r2[0], r2[1], r2[2], rows, size, proof))
    # A record the registry never anchored: its result hash made to commit forged shares.
    forged_shares = (from_hex("0x" + "ee" * 32), 1, 1, 1)
    digest = pool.contract.functions.sharesCommitment(forged_shares).call()
    forged = one.checkpoint.model_copy(update={"result_hash": to_hex(digest)})
    with pytest.raises(AnchorReverted, match="NotAnchored"):
        pool.claim(mallory, (committed_struct(forged), [], forged_shares, 1, 1, []))
    validated = world.reg.get(one.checkpoint.parents[0])
    with pytest.raises(AnchorReverted, match="NotATrainingRecord"):
        pool.claim(mallory, (committed_struct(validated), [], shares, rows, size, proof))


def rogue_record(world: World, name: str, who: str) -> tuple:
    """Mallory, granted the committer role, commits with her own client (no laas checks) a
    training record of corpus/r1 that names `who` as every shard's contributor; its claim
    arguments for `who`, built by hand."""
    rogue = registry_at(world.w3, world.reg.address, Sender(unlocked=world.mallory))
    parent = world.reg.get(checkpoint_id(name_id("corpus"), name_id("r1"), "validated"))
    validated = read_manifest(parent.manifest_uri, expected_hash=parent.manifest_hash)
    mine = [s.model_copy(update={"contributor": who, "validation": None, "docs_uri": None})
            for s in validated.accepted]
    shares, commitment = record_shares(mine)
    fake = new_manifest("corpus", name, TRAINING, validated.hash_scheme, mine,
                        parents=(parent.checkpoint_id,), passed=True,
                        result_hash=commitment.result_hash)
    cp = rogue.commit(fake, world.ledger.keep(fake))
    return cp, (committed_struct(cp), [], commitment.contract_struct(), shares[0].rows,
                shares[0].bytes, shares_tree(shares).proof(shares[0].leaf))


def test_a_record_by_a_committer_the_pool_does_not_trust_pays_nothing(world, pool) -> None:
    """Mallory commits a record crediting herself with everything: the pool pinned to laas's
    committer refuses it; a pool that trusts any committer pays it only while she holds the
    role; laas itself refuses to hand out its shares (they do not follow from the validated
    stage)."""
    world.reg.grant_committer(world.mallory)
    _, args = rogue_record(world, "rogue", world.mallory)
    with pytest.raises(AnchorReverted, match="UntrustedCommitter"):
        pool.claim(Sender(unlocked=world.mallory), args)
    anyone = Rewards.deploy(world.w3, Sender(unlocked=world.w3.eth.accounts[0]),
                            world.reg.address, ANY_COMMITTER)
    assert anyone.verify_share(args, world.mallory)
    with pytest.raises(HashMismatch, match="names contributor 0x"):
        training_shares(world.reg, "corpus", "rogue")
    world.reg.revoke_committer(world.mallory)
    with pytest.raises(AnchorReverted, match="UntrustedCommitter"):
        anyone.claim(Sender(unlocked=world.mallory), args)


def test_a_training_record_without_contributors_is_as_before(world, pool) -> None:
    cp = world.record("plain", "model-plain")
    assert cp.result_hash == NO_SHARES  # the zero hash every training record had
    doc = json.loads(read(cp.manifest_uri))
    assert doc["version"] == MANIFEST_VERSION and doc["result_hash"] == NO_SHARES
    assert all("contributor" not in s for s in doc["shards"])
    got = training_shares(world.reg, "plain", "model-plain")
    assert got.commitment is None and got.shares == ()
    # nothing to claim: no commitment is the zero hash
    args = training_shares(world.reg, "corpus", "model-1").claim_args(world.alice)
    with pytest.raises(AnchorReverted, match="SharesNotCommitted"):
        pool.claim(Sender(unlocked=world.alice), (committed_struct(got.checkpoint),
                                                  *args[1:]))
    with_shares = json.loads(read(training_shares(world.reg, "corpus", "model-1")
                                  .checkpoint.manifest_uri))
    assert with_shares["version"] == SHARD_FACTS_MANIFEST


def test_on_a_format_1_registry_the_contract_reads_the_stored_record(world) -> None:
    dev = Sender(unlocked=world.w3.eth.accounts[0])
    v1 = Registry(world.w3, Registry.deploy(world.w3, dev)[0], dev)
    ledger = FakeLedger(registry=v1, store=world.ledger.store, index=memory_index())
    for m in ledger.stages("old-format", "r1", sample_shards(3), contributors={
            "part-0.jsonl": world.alice, "part-1.jsonl": world.bob}):
        ledger.commit(m)  # one transaction per stage, as format 1 commits
    verdict = check(v1, "old-format", run="r1", store=ledger.store)
    record_training(ledger.parts(), verdict, "model-v1")
    got = training_shares(v1, "old-format", "model-v1")
    assert got.anchor_key is None and got.commitment.contributors == 2
    pool = Rewards.deploy(world.w3, dev, v1.address, dev.address)
    args = got.claim_args(world.alice)
    _, shares, rows, size, proof = args
    for error, lie, who in (
            ("BadShareProof", (rows + 1, size), world.alice),
            ("BadShareProof", (rows, size), world.bob),  # Alice's proof sent by Bob
            ("NotATrainingRecord", (rows, size), world.alice)):
        record = from_hex(verdict.checkpoint.checkpoint_id) if error == "NotATrainingRecord" \
            else args[0]
        with pytest.raises(AnchorReverted, match=error):
            pool.claim(Sender(unlocked=who), (record, shares, *lie, proof))
    with pytest.raises(AnchorReverted, match="SharesNotCommitted"):
        pool.claim(Sender(unlocked=world.alice), (args[0], (*shares[:2], shares[2] * 2,
                                                            shares[3]), rows, size, proof))
    pool.claim(Sender(unlocked=world.alice), args)
    assert pool.claimed(got.checkpoint.checkpoint_id, world.alice)
    with pytest.raises(AnchorReverted, match="AlreadyClaimed"):
        pool.claim(Sender(unlocked=world.alice), args)


def test_gate_record_prints_and_jsons_the_shares_root(chain, world) -> None:
    r = chain.laas("gate", "corpus", "--run", "r1", "--mode", "proof", "--record", "model-cli",
                   "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    got = training_shares(world.reg, "corpus", "model-cli")
    assert out["shares"] == got.commitment.model_dump(mode="json")
    assert out["recorded"]["result_hash"] == got.commitment.result_hash
    r = chain.laas("gate", "corpus", "--run", "r1", "--mode", "proof", "--record", "model-txt")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (f"contributor shares ({TRAINING_SHARES_FORMAT}): 3 contributor(s) of 24 rows"
            in r.stdout and got.commitment.root in r.stdout)
    r = chain.laas("gate", "plain", "--run", "r1", "--mode", "proof", "--record", "plain-cli",
                   "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["shares"] is None, r.stdout + r.stderr
    # `laas verify` proves a shard from a record with shares back to raw, as any other.
    shard = read_manifest(got.checkpoint.manifest_uri,
                          expected_hash=got.checkpoint.manifest_hash).shards[0]
    r = chain.laas("verify", shard.uri, "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "training" in [s["stage"] for s in json.loads(r.stdout)["stages"]]


@pytest.mark.prefect
def test_the_gate_flow_records_the_shares_and_publishes_them(chain, world) -> None:
    code = ("import json; from laas.flows.gate import gate; "
            "print(json.dumps(gate('corpus', run='r1', record='model-flow')))")
    flow = subprocess.run([sys.executable, "-c", code], cwd=chain.root, env=chain.env,
                          capture_output=True, text=True, timeout=300)
    assert flow.returncode == 0, flow.stderr[-3000:]
    verdict = json.loads(flow.stdout.strip().splitlines()[-1])
    assert verdict["allowed"] and len(verdict["shards"]) == 6
    got = training_shares(world.reg, "corpus", "model-flow")
    md = prefect_artifact(chain, "corpus-training-model-flow")
    assert got.commitment.root in md and got.checkpoint.checkpoint_id in md
    assert all(f"| `{s.contributor}` | {s.rows:,} |" in md for s in got.shares)
