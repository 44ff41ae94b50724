"""CheckpointRegistry (format 1: a transaction per stage) on a real anvil: roles, write-once
checkpoints, on-chain proof checks, signing with a key, and the committed artifacts being what
the sources compile to. Registries deployed before format 2 keep being read and committed to
through this client; format 2 is tests/test_contract_v2.py."""

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from eth_account import Account

from laas.anchors.adapters.registry import Registry
from laas.anchors.adapters.wallet import Sender
from laas.anchors.core.canonical import from_hex, name_id, to_hex
from laas.anchors.core.merkle import MerkleTree, leaf_hash
from laas.anchors.core.models import ShardEntry, StageManifest, checkpoint_id, stage_root
from laas.errors import AnchorReverted
from tests.conftest import REPO, node_available

VECTORS = json.loads((Path(__file__).parent / "vectors" / "merkle.json").read_text())


def manifest(run: str, stage: str = "raw", parents: tuple[str, ...] = (), n: int = 3,
             salt: str = "") -> StageManifest:
    shards = tuple(ShardEntry(key=f"s{i}", uri=f"/d/s{i}", source_uri=f"/d/s{i}", byte_size=i,
                              rows=10 * i, content_hash=to_hex(bytes([i + 1]) * 32))
                   for i in range(n))
    return StageManifest(dataset="ds" + salt, dataset_id=name_id("ds" + salt), run=run,
                         run_id=name_id(run), stage=stage, hash_scheme="laas-bytes-v1",
                         parents=parents, shards=shards, shards_root=stage_root(shards),
                         passed=True, created_at=datetime.now(UTC))


@pytest.mark.slow  # a solc compile in node: ~10 s, a third of `make check`
@pytest.mark.skipif(not node_available(), reason="needs node and node_modules (make setup)")
def test_committed_artifact_is_what_the_source_compiles_to() -> None:
    r = subprocess.run(["node", "anchors/contracts/build.mjs", "--check"], cwd=REPO,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def v1(chain) -> Registry:
    """A format-1 registry, deployed (as laas did before format 2) next to the chain's own,
    with anvil's unlocked first account as its admin and committer."""
    w3 = chain.registry.w3
    dev = Sender(unlocked=w3.eth.accounts[0])
    address, block = Registry.deploy(w3, dev)
    return Registry(w3, address, dev, deploy_block=block)


def test_commit_is_stored_once_and_client_commit_is_idempotent(v1) -> None:
    reg: Registry = v1
    m = manifest("r-once")
    cp = reg.commit(m, "file:///m.json")
    assert cp.checkpoint_id == checkpoint_id(m.dataset_id, m.run_id, "raw")
    assert reg.w3.eth.get_transaction_receipt(cp.tx_hash)["status"] == 1
    block = reg.block_number()
    again = reg.commit(m, "file:///m.json")
    assert again == cp and reg.block_number() == block  # no second transaction
    # The contract itself refuses a second commit of the same id.
    call = reg.contract.functions.commit((
        from_hex(m.dataset_id), from_hex(m.run_id), "raw", from_hex(m.shards_root), 3,
        from_hex(m.manifest_hash), "file:///other.json", bytes(32), True, []))
    with pytest.raises(AnchorReverted, match="CheckpointExists"):
        reg._send(call, "second commit")
    assert len([c for c in reg.checkpoints(m.dataset_id) if c.run_id == m.run_id]) == 1


def test_resuming_with_a_different_manifest_is_refused(v1) -> None:
    from laas.errors import AnchorError

    reg: Registry = v1
    reg.commit(manifest("r-diff"), "file:///a.json")
    with pytest.raises(AnchorError, match="another manifest"):
        reg.commit(manifest("r-diff", n=4), "file:///b.json")


def test_parents_must_exist_and_are_stored(v1) -> None:
    reg: Registry = v1
    raw = reg.commit(manifest("r-parents"), "file:///raw.json")
    norm = reg.commit(manifest("r-parents", "normalized", (raw.checkpoint_id,)), "file:///n.json")
    assert reg.stored(norm.checkpoint_id).parents == (raw.checkpoint_id,)
    with pytest.raises(AnchorReverted, match="UnknownCheckpoint"):
        reg.commit(manifest("r-orphan", "normalized", (to_hex(b"\x07" * 32),)), "file:///o.json")


def test_account_without_committer_role_is_refused_and_roles_are_managed(v1) -> None:
    reg: Registry = v1
    outsider = reg.w3.eth.accounts[1]
    as_outsider = Registry(reg.w3, reg.address, Sender(unlocked=outsider))
    with pytest.raises(AnchorReverted, match="AccessControlUnauthorizedAccount"):
        as_outsider.commit(manifest("r-outsider"), "file:///x.json")
    reg.grant_committer(outsider)
    assert as_outsider.commit(manifest("r-granted"), "file:///x.json").committer == outsider
    reg.revoke_committer(outsider)
    with pytest.raises(AnchorReverted, match="AccessControlUnauthorizedAccount"):
        as_outsider.commit(manifest("r-revoked"), "file:///x.json")


def test_a_private_key_signs_commits(v1) -> None:
    reg: Registry = v1
    acct = Account.create()
    reg.w3.provider.make_request("anvil_setBalance", [acct.address, hex(10**18)])
    reg.grant_committer(acct.address)
    signed = Registry(reg.w3, reg.address, Sender(account=acct))
    cp = signed.commit(manifest("r-key"), "file:///k.json")
    assert cp.committer == acct.address
    assert acct.key.hex() not in repr(signed.sender)


def test_contract_verifies_our_proofs_and_rejects_tampered_ones(v1) -> None:
    reg: Registry = v1
    m = manifest("r-proof", n=13)
    cp = reg.commit(m, "file:///p.json")
    tree = m.tree()
    for s in m.shards:
        leaf = from_hex(s.leaf)
        proof = tree.proof(leaf)
        assert reg.verify_leaf(cp.checkpoint_id, proof, leaf)
        assert reg.contract.functions.verifyShard(
            from_hex(cp.checkpoint_id), proof, s.key, from_hex(s.content_hash), s.byte_size,
            s.rows).call()
        assert not reg.contract.functions.verifyShard(
            from_hex(cp.checkpoint_id), proof, s.key, from_hex(s.content_hash), s.byte_size,
            s.rows + 1).call()
    leaf = from_hex(m.shards[0].leaf)
    proof = tree.proof(leaf)
    assert not reg.verify_leaf(cp.checkpoint_id, [proof[0][::-1], *proof[1:]], leaf)


def test_contract_leaf_and_vectors_agree(v1) -> None:
    """The contract's shardLeaf equals @openzeppelin/merkle-tree's leaf for the pinned values."""
    fn = v1.contract.functions.shardLeaf
    for case in VECTORS["cases"][:4]:
        for (k, h, s, r), expected in zip(case["values"], case["leaves"], strict=True):
            assert to_hex(fn(k, from_hex(h), int(s), int(r)).call()) == expected
            assert to_hex(leaf_hash(k, from_hex(h), int(s), int(r))) == expected
    assert MerkleTree.build([]).root != bytes(32)
