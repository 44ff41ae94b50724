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


def test_a_hash_of_plain_json_in_pieces_is_the_record_hash() -> None:
    """hash_plain (a big report hashed without its whole text in memory) gives hash_record's
    hash, whatever the nesting, key order, unicode or numbers."""
    from laas.anchors.core.canonical import hash_plain, hash_record

    for obj in ({}, [], {"b": [1, 2.5, None, {"z": "é", "a": [True]}], "a": "x\u2028"},
                [{"k": ("t", 1e-05)}, [], "s"], {"shards": [{"key": "a", "o": [{}]}] * 3},
                "plain", {1: "int keys go whole"}):
        for depth in (0, 1, 2, 5):
            assert hash_plain(obj, depth) == hash_record(obj), (obj, depth)


def test_a_manifest_encoded_in_groups_of_entries_has_the_bytes_of_each_entrys_dump() -> None:
    """A manifest's entries are encoded a group at a time from ShardEntry.plain(): the bytes
    (and so every committed manifest hash) are those of each entry's model_dump, whatever
    fields an entry sets, unicode included, across group boundaries."""
    from laas.anchors.core.canonical import canonical_json, hash_chunks
    from laas.anchors.core.models import ShardEntry, new_manifest

    h = "0x" + "ab" * 32
    kinds = [dict(), dict(reason="bad   é", status="quarantined", content_hash=None),
             dict(licenses=("mit", "cc-by"), sha256="f" * 64, contributor="0x" + "1" * 40),
             dict(parent_hash=h, rows_in=9, dropped={"z": 1, "a": 2}, dropped_uri="d"),
             dict(validation={"success": True, "outcomes": [{"x": 1.5}]}, docs_uri="doc")]
    entries = [ShardEntry(**{"key": f"k{i:04}", "uri": f"/s/{i}", "source_uri": f"/r/{i}",
                             "byte_size": i, "rows": 1, "content_hash": h,
                             **kinds[i % len(kinds)]}) for i in range(1100)]
    for e in entries:
        assert e.plain() == e.model_dump(mode="json")
    m = new_manifest("d", "r", "validated", "s", entries, passed=True,
                     version="laas-manifest-v4")
    assert b"".join(m.chunks()) == canonical_json(m)
    assert m.manifest_hash == hash_chunks([canonical_json(m)])


def test_full_collections_come_back_when_the_last_deferring_block_ends() -> None:
    """A run defers Python's full collections (its manifests are millions of objects); a
    process that runs flows (a served deployment, the tests) must get them back after, also
    when blocks overlap (flows in threads) and when a run fails."""
    import gc

    from laas.anchors.core.canonical import full_collections_deferred, gc_paused

    before = gc.get_threshold()
    outer = full_collections_deferred()
    outer.__enter__()
    with gc_paused():  # a manifest parsed in the run: frozen, not walked by young collections
        made = [{"n": n} for n in range(1000)]
    assert gc.get_freeze_count() >= len(made)
    with pytest.raises(RuntimeError), full_collections_deferred():
        assert gc.get_threshold()[2] > 1_000_000 and gc.get_threshold()[:2] == before[:2]
        raise RuntimeError("the run failed")
    assert gc.get_threshold()[2] > 1_000_000  # the other block still runs
    outer.__exit__(None, None, None)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_the_fast_keccak_gives_pycryptodomes_digests_at_every_length_and_in_threads() -> None:
    """keccak_fast calls pycryptodome's C keccak with a state per thread, reset between
    inputs: every length (across the 136-byte rate), and threads hashing at once, must give
    what pycryptodome's own hash object gives. Here it must load (it is what runs)."""
    from concurrent.futures import ThreadPoolExecutor

    from Crypto.Hash import keccak

    from laas.anchors.core import keccak_fast
    from laas.anchors.core.canonical import keccak256

    fast = keccak_fast.load()
    assert fast is not None
    inputs = bytes(range(256)) * 2

    def check(offset: int) -> bool:
        return all(fast(inputs[offset:offset + n]) ==
                   keccak.new(digest_bits=256, data=inputs[offset:offset + n]).digest()
                   for n in range(0, 300))

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(check, range(0, 200, 7)))
    assert keccak256(b"abc").hex().startswith("4e03657aea45a94f")
