"""Contributor shares and their tree, pinned to vectors made by OpenZeppelin's own
@openzeppelin/merkle-tree (tests/vectors/shares.json, `npm run merkle-vectors`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from laas.anchors.core.canonical import from_hex, to_hex
from laas.anchors.core.entries import ShardEntry
from laas.anchors.core.merkle import verify
from laas.anchors.core.shares import Share, contributor_shares, shares_tree

VECTORS = json.loads((Path(__file__).parent / "vectors" / "shares.json").read_text())
ALICE, BOB = "0x" + "a1" * 20, "0x" + "B0" * 20


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: f"n={c['n']}")
def test_shares_tree_matches_openzeppelin(case: dict) -> None:
    shares = [Share(contributor=a, rows=int(r), bytes=int(b)) for a, r, b in case["values"]]
    tree = shares_tree(shares)
    assert to_hex(tree.root) == case["root"]
    for share, leaf, proof in zip(shares, case["leaves"], case["proofs"], strict=True):
        assert to_hex(share.leaf) == leaf
        assert [to_hex(p) for p in tree.proof(share.leaf)] == proof
        assert verify([from_hex(p) for p in proof], tree.root, share.leaf)


def shard(key: str, who: str | None, rows: int, size: int, status: str = "ok") -> ShardEntry:
    return ShardEntry(key=key, uri=f"mem://{key}", source_uri=f"mem://src/{key}", rows=rows,
                      byte_size=size, content_hash="0x" + "11" * 32, status=status,
                      contributor=who)


def test_shares_sum_kept_rows_per_contributor_and_skip_the_rest() -> None:
    shares = contributor_shares([
        shard("a", ALICE, 10, 100), shard("b", BOB, 5, 50),
        shard("c", "0x" + ALICE[2:].upper(), 1, 7),
        shard("d", None, 99, 999), shard("e", BOB, 40, 400, status="quarantined")])
    assert [(s.contributor, s.rows, s.bytes, s.shards) for s in shares] == [
        (ALICE, 11, 107, 2), (BOB, 5, 50, 1)]
    assert shares_tree(()).root == shares_tree([]).root  # no contributor: the empty root


def test_a_share_refuses_what_is_not_an_address() -> None:
    with pytest.raises(ValueError, match="not a 0x address"):
        Share(contributor="0x1234", rows=1, bytes=1)
    with pytest.raises(ValueError):
        Share(contributor=ALICE, rows=-1, bytes=1)
