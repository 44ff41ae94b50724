"""Shard leaves v2 (with a contributor) pinned to @openzeppelin/merkle-tree's
(tests/vectors/leaf_v2.json), v1 unchanged beside them, and the contributor's EIP-712
signature (laas-contribution-v1) pinned to eth_account's encoding and recovery."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from laas.anchors.core.canonical import from_hex, to_hex
from laas.anchors.core.contribution import (
    address_problem,
    checksummed,
    contribution_digest,
    typed_data,
)
from laas.anchors.core.entries import ShardEntry
from laas.anchors.core.merkle import MerkleTree, encode_leaf, leaf_hash

VECTORS = json.loads((Path(__file__).parent / "vectors" / "leaf_v2.json").read_text())
V1 = json.loads((Path(__file__).parent / "vectors" / "merkle.json").read_text())


def _leaf(values: list) -> bytes:
    k, h, s, r, *who = values
    return leaf_hash(k, from_hex(h), int(s), int(r), who[0] if who else None)


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: f"n={c['n']}")
def test_leaf_v2_roots_and_proofs_match_openzeppelin(case: dict) -> None:
    leaves = [_leaf(v) for v in case["values"]]
    assert [to_hex(x) for x in leaves] == case["leaves"]
    tree = MerkleTree.build(leaves)
    assert to_hex(tree.root) == case["root"]
    for leaf, proof in zip(leaves, case["proofs"], strict=True):
        assert [to_hex(p) for p in tree.proof(leaf)] == proof


def test_a_stage_mixing_v1_and_v2_leaves_matches_openzeppelin() -> None:
    mixed = VECTORS["mixed"]
    leaves = [_leaf(v) for v in mixed["values"]]
    assert [to_hex(x) for x in leaves] == mixed["leaves"]
    tree = MerkleTree.build(leaves)
    assert to_hex(tree.root) == mixed["root"]
    assert [[to_hex(p) for p in tree.proof(x)] for x in leaves] == mixed["proofs"]


def test_v1_leaves_are_unchanged_and_the_contributor_changes_the_leaf() -> None:
    values = V1["cases"][-1]["values"][3]
    assert to_hex(_leaf(values)) == V1["cases"][-1]["leaves"][3]
    k, h, s, r = values
    entry = ShardEntry(key=k, uri="u", source_uri="u", content_hash=h, byte_size=int(s),
                       rows=int(r))
    assert entry.leaf == V1["cases"][-1]["leaves"][3]  # no contributor: v1 exactly
    alice, bob = "0x" + "a1" * 20, "0x" + "b2" * 20
    signed = entry.model_copy(update={"contributor": alice})
    assert signed.leaf == to_hex(leaf_hash(k, from_hex(h), int(s), int(r), alice))
    assert signed.leaf not in (entry.leaf, entry.model_copy(update={"contributor": bob}).leaf)
    # the same contributor in either case is the same leaf (the address, not its spelling)
    assert signed.leaf == signed.model_copy(update={"contributor": checksummed(alice)}).leaf


def test_leaf_v2_encoding_is_abi_encode() -> None:
    from eth_abi import encode

    h, who = bytes(range(32)), "0x" + "c3" * 20
    for key in ("", "x" * 33, "données/a.jsonl"):
        assert encode_leaf(key, h, 7, 2**64, who) == encode(
            ["string", "bytes32", "uint256", "uint256", "address"], [key, h, 7, 2**64, who])


def test_contribution_digest_and_recovery_match_eth_account() -> None:
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    from laas.anchors.adapters.keys import recover

    acct = Account.create()
    raw = "0x" + "5e" * 32
    data = typed_data("crawl", "part-1.jsonl", raw)
    signable = encode_typed_data(full_message=data)
    digest = contribution_digest("crawl", "part-1.jsonl", raw)
    assert b"\x19" + signable.version + signable.header + signable.body == b"\x19\x01" + \
        digest[:0] + signable.header + signable.body
    signed = Account.sign_message(signable, acct.key)
    assert signed.message_hash == digest  # eth_account's hash of the typed data is ours
    assert recover(digest, signed.signature.hex()) == acct.address
    # the same signature says nothing of another shard, dataset or bytes
    for other in (contribution_digest("crawl", "part-2.jsonl", raw),
                  contribution_digest("crawl-b", "part-1.jsonl", raw),
                  contribution_digest("crawl", "part-1.jsonl", "0x" + "5f" * 32)):
        assert recover(other, signed.signature.hex()) != acct.address
    with pytest.raises(ValueError):
        recover(digest, "0x" + "00" * 65)


def test_addresses_are_checked_with_their_checksum() -> None:
    from eth_utils import to_checksum_address

    good = to_checksum_address("0x" + "ab" * 20)
    assert checksummed(good.lower()) == good and address_problem(good) is None
    assert address_problem(good.lower()) is None  # one case throughout: no checksum claimed
    assert address_problem("0x" + good[2:].upper()) is None
    n = next(i for i, c in enumerate(good) if i > 1 and c.isalpha())
    typo = good[:n] + good[n].swapcase() + good[n + 1:]
    assert "checksum" in str(address_problem(typo))
    assert "20 bytes" in str(address_problem("0x1234"))


def test_a_stage_that_names_another_contributor_than_its_parent_does_not_follow() -> None:
    from laas.anchors.core.models import new_manifest
    from laas.anchors.core.trust import stage_problem

    alice, bob = "0x" + "a1" * 20, "0x" + "b2" * 20
    raw = ShardEntry(key="a", uri="s3://b/a", source_uri="s3://b/a", byte_size=9,
                     content_hash="0x" + "11" * 32, contributor=alice)
    parent = new_manifest("d", "r", "raw", "laas-bytes-v1", [raw], passed=True)
    norm = raw.model_copy(update={"uri": "n/a.parquet", "content_hash": "0x" + "22" * 32})
    child = new_manifest("d", "r", "normalized", "laas-table-v1", [norm], passed=True,
                         parents=(parent.checkpoint_id,))
    assert parent.version == child.version == "laas-manifest-v4"
    assert stage_problem(parent, child) is None
    moved = new_manifest("d", "r", "normalized", "laas-table-v1",
                         [norm.model_copy(update={"contributor": bob})], passed=True,
                         parents=(parent.checkpoint_id,))
    assert f"shard a names contributor {bob}, the raw stage {alice}" in str(
        stage_problem(parent, moved))
    unsigned = new_manifest("d", "r", "normalized", "laas-table-v1",
                            [norm.model_copy(update={"contributor_signature": "0x" + "5" * 130})],
                            passed=True, parents=(parent.checkpoint_id,))
    assert "shard a names contributor signature 0x555" in str(stage_problem(parent, unsigned))
