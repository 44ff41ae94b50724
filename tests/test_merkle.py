"""The Merkle tree against vectors made by @openzeppelin/merkle-tree (tests/vectors)."""

import json
from pathlib import Path

import pytest

from laas.anchors.core.canonical import from_hex, to_hex
from laas.anchors.core.merkle import EMPTY_ROOT, MerkleTree, encode_leaf, leaf_hash, verify

VECTORS = json.loads((Path(__file__).parent / "vectors" / "merkle.json").read_text())


def _leaves(case: dict) -> list[bytes]:
    return [leaf_hash(k, from_hex(h), int(s), int(r)) for k, h, s, r in case["values"]]


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: f"n={c['n']}")
def test_roots_leaves_and_proofs_match_openzeppelin(case: dict) -> None:
    leaves = _leaves(case)
    assert [to_hex(x) for x in leaves] == case["leaves"]
    tree = MerkleTree.build(leaves)
    assert to_hex(tree.root) == case["root"]
    proofs = tree.proofs()
    for leaf, expected in zip(leaves, case["proofs"], strict=True):
        assert [to_hex(p) for p in tree.proof(leaf)] == expected
        assert proofs[leaf] == tree.proof(leaf)
        assert verify(tree.proof(leaf), tree.root, leaf)


def test_tampered_leaf_or_proof_does_not_verify() -> None:
    case = VECTORS["cases"][-1]
    leaves = _leaves(case)
    tree = MerkleTree.build(leaves)
    proof = tree.proof(leaves[3])
    k, h, s, r = case["values"][3]
    assert not verify(proof, tree.root, leaf_hash(k, from_hex(h), int(s) + 1, int(r)))
    bad = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
    assert not verify(bad, tree.root, leaves[3])


def test_tree_is_independent_of_input_order_and_keeps_it() -> None:
    leaves = _leaves(VECTORS["cases"][5])
    a, b = MerkleTree.build(leaves), MerkleTree.build(list(reversed(leaves)))
    assert a.root == b.root
    assert b.leaves == tuple(reversed(leaves))


def test_empty_tree_has_the_reserved_root() -> None:
    assert MerkleTree.build([]).root == EMPTY_ROOT != bytes(32)


def test_leaf_encoding_is_abi_encode() -> None:
    from eth_abi import encode

    h = bytes(range(32))
    for key in ("", "a", "x" * 32, "données/shard-3.jsonl.gz"):
        assert encode_leaf(key, h, 7, 2**64) == encode(
            ["string", "bytes32", "uint256", "uint256"], [key, h, 7, 2**64])
