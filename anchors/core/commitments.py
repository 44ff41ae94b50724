"""Registry format 2 (CheckpointRegistryV2): what the chain stores of a checkpoint, and how a
reader checks data the RPC hands it against that. Pure, no web3: a checkpoint's commitment is
keccak256(keccak256(abi.encode(id, datasetId, runId, shardsRoot, shardCount, manifestHash,
resultHash, passed, keccak256(parents), committer))), exactly as the contract's `leafOf`; a
run (or a batch of runs) is anchored as the pairwise Merkle root of its commitments, of which
the contract keeps the low 192 bits next to the block number."""

from __future__ import annotations

from typing import Any

from laas.anchors.core.canonical import from_hex, keccak256, to_hex
from laas.anchors.core.merkle import abi_word, hash_pair
from laas.anchors.core.models import checkpoint_id

FORMAT_VERSION = 2
LOW192 = (1 << 192) - 1


def run_key(dataset_id: str, run_id: str) -> str:
    """The anchor key every checkpoint of a run shares: keccak256(abi.encode(dataset, run))."""
    return to_hex(keccak256(from_hex(dataset_id) + from_hex(run_id)))


def parents_hash(parents: tuple[str, ...] | list[str]) -> bytes:
    return keccak256(b"".join(from_hex(p) for p in parents))


def leaf_of(c: Any) -> bytes:
    """The commitment of a checkpoint (a Checkpoint, or anything with its fields). The id is
    derived from dataset, run and stage here, never taken from the record."""
    cid = checkpoint_id(c.dataset_id, c.run_id, c.stage)
    words = (from_hex(cid) + from_hex(c.dataset_id) + from_hex(c.run_id)
             + from_hex(c.shards_root) + abi_word(c.shard_count) + from_hex(c.manifest_hash)
             + from_hex(c.result_hash) + abi_word(int(bool(c.passed)))
             + parents_hash(c.parents) + bytes(12) + from_hex(c.committer))
    return keccak256(keccak256(words))


def committed_struct(c: Any) -> tuple:
    """The contract's `Committed` tuple for a checkpoint, as verifyLeaf takes it."""
    return (from_hex(c.dataset_id), from_hex(c.run_id), c.stage, from_hex(c.shards_root),
            c.shard_count, from_hex(c.manifest_hash), from_hex(c.result_hash), bool(c.passed),
            parents_hash(c.parents), c.committer)


def pair_root(leaves: list[bytes]) -> bytes:
    """Pairs hashed in order (commutatively), an odd last node carried up: the contract's
    `_root`. One leaf is its own root."""
    if not leaves:
        raise ValueError("no leaves")
    nodes = list(leaves)
    while len(nodes) > 1:
        paired = [hash_pair(nodes[i], nodes[i + 1]) for i in range(0, len(nodes) - 1, 2)]
        nodes = paired + ([nodes[-1]] if len(nodes) % 2 else [])
    return nodes[0]


def pair_proof(leaves: list[bytes], index: int) -> list[bytes]:
    """The siblings from leaf `index` up to `pair_root(leaves)`, for MerkleProof.verify."""
    if not 0 <= index < len(leaves):
        raise IndexError(index)
    nodes, proof = list(leaves), []
    while len(nodes) > 1:
        sibling = index ^ 1
        if sibling < len(nodes):
            proof.append(nodes[sibling])
        paired = [hash_pair(nodes[i], nodes[i + 1]) for i in range(0, len(nodes) - 1, 2)]
        nodes = paired + ([nodes[-1]] if len(nodes) % 2 else [])
        index //= 2
    return proof


def fold(proof: list[bytes], leaf: bytes) -> bytes:
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node


def matches(root: bytes, stored: bytes | int) -> bool:
    """Whether a root rebuilt from what a reader was told is the one the chain keeps (its low
    192 bits)."""
    kept = stored if isinstance(stored, int) else int.from_bytes(stored, "big")
    return int.from_bytes(root, "big") & LOW192 == kept & LOW192 and kept != 0
