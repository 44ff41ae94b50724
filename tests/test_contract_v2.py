"""CheckpointRegistryV2 (format 2) on a real anvil: a run's three stages in one transaction
under 100k gas, committed once, by the committer role only; shards proven on chain; the
per-dataset latest pointer; batched anchoring; a format-1 registry still read; and an RPC that
lies about a run's calldata or logs is refused, not believed."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from laas.anchors.adapters.registry import Registry
from laas.anchors.adapters.registry_v2 import RegistryV2
from laas.anchors.adapters.wallet import Sender
from laas.anchors.core.canonical import from_hex, name_id, to_hex
from laas.anchors.core.commitments import committed_struct, leaf_of, pair_proof
from laas.anchors.core.models import ShardEntry, StageManifest, stage_root
from laas.anchors.services.batch import BatchProof, admit, anchor_batch
from laas.errors import AnchorError, AnchorReverted, HashMismatch
from laas.wiring import registry_at
from tests.l2proxy import L2Proxy

GAS_BUDGET = 100_000


def run_stages(dataset: str, run: str = "r1", n: int = 3, *, passed: bool = True,
               store: str = "s3://laas-artifacts/datasets") -> list[tuple[StageManifest, str]]:
    """A run's raw, normalized and validated manifests over n shards, with store-layout URIs."""
    shards = tuple(ShardEntry(key=f"s{i}", uri=f"/d/s{i}", source_uri=f"/d/s{i}", byte_size=i,
                              rows=10 * i, content_hash=to_hex(i.to_bytes(32, "big")))
                   for i in range(n))
    out, parents = [], ()
    for stage in ("raw", "normalized", "validated"):
        m = StageManifest(dataset=dataset, dataset_id=name_id(dataset), run=run,
                          run_id=name_id(run), stage=stage, hash_scheme="laas-bytes-v1",
                          parents=parents, shards=shards, shards_root=stage_root(shards),
                          passed=passed or stage != "validated", created_at=datetime.now(UTC))
        out.append((m, f"{store}/{dataset}/{run}/{stage}/manifest-{m.manifest_hash[2:]}.json"))
        parents = (m.checkpoint_id,)
    return out


def fresh() -> str:
    return f"ds-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def reg(chain) -> RegistryV2:
    assert isinstance(chain.registry, RegistryV2)  # new deployments are format 2
    return chain.registry


def test_a_run_is_one_transaction_under_100k_gas_whatever_its_shard_count(reg) -> None:
    for n in (10, 1000):
        dataset = fresh()
        for run in ("r1", "r2"):  # a dataset's first run also writes its latest pointer
            head = reg.block_number()
            cps = reg.commit_run(run_stages(dataset, run, n))
            assert [c.stage for c in cps] == ["raw", "normalized", "validated"]
            assert len({c.tx_hash for c in cps}) == 1 and reg.block_number() == head + 1
            gas = reg.w3.eth.get_transaction_receipt(cps[0].tx_hash)["gasUsed"]
            assert gas <= GAS_BUDGET, (n, run, gas)
            assert cps[1].parents == (cps[0].checkpoint_id,)
            assert cps[2].parents == (cps[1].checkpoint_id,)


def test_a_run_commits_once(reg) -> None:
    stages = run_stages(fresh())
    cps = reg.commit_run(stages)
    head = reg.block_number()
    assert reg.commit_run(stages) == cps and reg.block_number() == head  # nothing sent
    call = reg.contract.functions.commitRun(from_hex(stages[0][0].dataset_id),
                                            from_hex(stages[0][0].run_id),
                                            [reg._record(m, uri, "") for m, uri in stages])
    with pytest.raises(AnchorReverted, match="RunExists"):
        reg._send(call, "a second commit of the run")
    other = [(m.model_copy(update={"passed": False}) if m.stage == "validated" else m, uri)
             for m, uri in stages]
    with pytest.raises(AnchorError, match="already on chain with another manifest"):
        reg.commit_run(other)
    part = run_stages(fresh())
    reg.commit_run(part[:2])  # a run anchored without its validated stage can never get it
    with pytest.raises(AnchorError, match="already on chain without this stage"):
        reg.commit_run(part)


def test_only_the_committer_role_commits(reg) -> None:
    outsider = registry_at(reg.w3, reg.address, Sender(unlocked=reg.w3.eth.accounts[1]))
    assert isinstance(outsider, RegistryV2)
    with pytest.raises(AnchorReverted, match="AccessControlUnauthorizedAccount"):
        outsider.commit_run(run_stages(fresh()))
    with pytest.raises(AnchorReverted, match="AccessControlUnauthorizedAccount"):
        anchor_batch(outsider, run_stages(fresh()))


def test_the_contract_verifies_a_shard_against_a_committed_root(reg) -> None:
    stages = run_stages(fresh(), n=13)
    cps = reg.commit_run(stages)
    reader = registry_at(reg.w3, reg.address, None)
    m, cp = stages[2][0], cps[2]
    key = from_hex(reader.locate(m.dataset_id, m.run_id))
    anchor_proof = pair_proof([leaf_of(c) for c in cps], 2)
    tree = m.tree()
    for s in m.shards:
        leaf = from_hex(s.leaf)
        assert reader.verify_leaf(cp.checkpoint_id, tree.proof(leaf), leaf)
        args = (key, anchor_proof, committed_struct(cp), tree.proof(leaf), s.key,
                from_hex(s.content_hash), s.byte_size)
        assert reader.contract.functions.verifyShard(*args, s.rows).call()
        assert not reader.contract.functions.verifyShard(*args, s.rows + 1).call()
    forged = committed_struct(cp.model_copy(update={"shards_root": to_hex(b"\x01" * 32)}))
    leaf = from_hex(m.shards[0].leaf)
    assert not reader.contract.functions.verifyLeaf(key, anchor_proof, forged,
                                                    tree.proof(leaf), leaf).call()


def test_one_read_gives_a_dataset_s_latest_validated_run(reg) -> None:
    dataset = fresh()
    reader = registry_at(reg.w3, reg.address, None)
    assert reader.latest(name_id(dataset)) is None
    for run in ("r1", "r2", "r3"):
        last = reg.commit_run(run_stages(dataset, run, passed=run != "r3"))[-1]
    got = reader.latest(name_id(dataset))
    assert got == last and not got.passed  # the newest run, whatever its verdict
    assert reader.get(last.checkpoint_id) == last


def test_a_format_1_registry_is_still_read_and_verified(reg) -> None:
    dev = Sender(unlocked=reg.w3.eth.accounts[0])
    address, block = Registry.deploy(reg.w3, dev)
    old = Registry(reg.w3, address, dev, deploy_block=block)
    stages = run_stages(fresh())
    committed = old.commit_run(stages)  # format 1: a transaction per stage
    assert len({c.tx_hash for c in committed}) == 3
    reader = registry_at(reg.w3, address, None)
    assert type(reader) is Registry and reader.version == 1
    m, cp = stages[2][0], committed[2]
    assert reader.get(cp.checkpoint_id).manifest_hash == m.manifest_hash
    leaf = from_hex(m.shards[0].leaf)
    assert reader.verify_leaf(cp.checkpoint_id, m.tree().proof(leaf), leaf)


def test_a_batch_anchors_many_runs_and_each_checkpoint_is_proven_by_its_path(reg) -> None:
    runs = [run_stages(fresh()) for _ in range(5)]
    proofs = anchor_batch(reg, [s for run in runs for s in run])
    assert len({p.checkpoint.tx_hash for p in proofs}) == 1 and len(proofs) == 15
    reader = registry_at(reg.w3, reg.address, None)
    m = runs[3][2][0]
    proof = proofs[3 * 3 + 2]
    assert reader.get(m.checkpoint_id) is None  # not a run anchor: found by its proof
    cp = admit(reader, BatchProof.model_validate(json.loads(proof.model_dump_json())))
    assert reader.get(m.checkpoint_id) == cp and cp.manifest_hash == m.manifest_hash
    leaf = from_hex(m.shards[1].leaf)
    assert reader.verify_leaf(m.checkpoint_id, m.tree().proof(leaf), leaf)
    tampered = proof.model_copy(update={"checkpoint": proof.checkpoint.model_copy(
        update={"passed": False})})
    with pytest.raises(HashMismatch, match="does not reach the batch root"):
        admit(registry_at(reg.w3, reg.address, None), tampered)
    planted = proof.model_copy(update={"root": to_hex(b"\x05" * 32)})
    with pytest.raises(HashMismatch, match="not anchored on chain"):
        admit(registry_at(reg.w3, reg.address, None), planted)
    on_chain = run_stages(fresh())
    reg.commit_run(on_chain)
    with pytest.raises(AnchorError, match="on chain already"):
        anchor_batch(reg, [*run_stages(fresh()), on_chain[2]])


class LyingProxy(L2Proxy):
    """An RPC that answers like a provider but rewrites one thing: each transaction's input
    (`lie="calldata"`: a manifest hash swapped) or drops every log (`lie="logs"`)."""

    def __init__(self, upstream: str, find: str, lie: str):
        super().__init__(upstream)
        self.find, self.lie = find, lie

    def answer(self, call: Any) -> dict[str, Any]:
        reply = super().answer(call)
        method = call.get("method") if isinstance(call, dict) else None
        if self.lie == "calldata" and method == "eth_getTransactionByHash" and \
                reply.get("result"):
            tx = reply["result"]
            tx["input"] = tx["input"].replace(self.find, "ab" * 32)
        if self.lie == "logs" and method == "eth_getLogs" and reply.get("result"):
            reply["result"] = []
        return reply


@pytest.mark.parametrize("lie", ["calldata", "logs"])
def test_an_rpc_that_lies_about_a_run_is_refused(reg, lie: str) -> None:
    from laas.anchors.adapters.registry import connect

    stages = run_stages(fresh())
    reg.commit_run(stages)
    m = stages[2][0]
    proxy = LyingProxy(reg.w3.provider.endpoint_uri, m.manifest_hash[2:], lie).start()
    try:
        liar = registry_at(connect(proxy.url), reg.address, None)
        liar.locate(m.dataset_id, m.run_id)
        with pytest.raises(AnchorError, match="does not match the commitment"):
            liar.get(m.checkpoint_id)
        with pytest.raises(AnchorError, match="does not match the commitment"):
            liar.latest(m.dataset_id)
    finally:
        proxy.stop()
