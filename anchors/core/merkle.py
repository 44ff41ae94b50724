"""Merkle trees compatible with OpenZeppelin's StandardMerkleTree (v1) and MerkleProof.verify.

A shard leaf (laas-leaf-v1) is keccak256(keccak256(abi.encode(string key, bytes32 contentHash,
uint256 byteSize, uint256 rows))); a shard that names its contributor has a laas-leaf-v2 leaf,
the same with `address contributor` appended. The double hash is OpenZeppelin's defence against
second-preimage attacks. Leaves are sorted, pairs are hashed in sorted order, and the tree is
laid out as an array with the root at index 0, exactly as @openzeppelin/merkle-tree does, so
roots and proofs match the JS library and the contract's verify view.
"""

from __future__ import annotations

import contextlib
from functools import cached_property

from pydantic import BaseModel, ConfigDict

from laas.anchors.core.canonical import keccak256

LEAF_TYPES = ("string", "bytes32", "uint256", "uint256")  # laas-leaf-v1
LEAF_V2_TYPES = (*LEAF_TYPES, "address")  # laas-leaf-v2: a shard with a contributor
EMPTY_ROOT = keccak256(b"")  # a stage with no accepted shard; never a real tree's root


def abi_word(n: int) -> bytes:
    if not 0 <= n < 2**256:
        raise ValueError(f"uint256 out of range: {n}")
    return n.to_bytes(32, "big")


def encode_leaf(key: str, content_hash: bytes, byte_size: int, rows: int,
                contributor: str | None = None) -> bytes:
    """abi.encode(string, bytes32, uint256, uint256[, address]), written out so the core
    needs no web3: the key's offset, the static words, then the key's length and bytes."""
    if len(content_hash) != 32:
        raise ValueError("content hash must be 32 bytes")
    data = key.encode()
    padded = data + b"\0" * (-len(data) % 32)
    words = [content_hash, abi_word(byte_size), abi_word(rows)]
    if contributor is not None:
        words.append(address_word(contributor))
    head = abi_word(32 * (len(words) + 1)) + b"".join(words)
    return head + abi_word(len(data)) + padded


def address_word(address: str) -> bytes:
    """An address as abi.encode writes it: 20 bytes right-aligned in a word."""
    raw = bytes.fromhex(address.removeprefix("0x")) if address.startswith("0x") else b""
    if len(raw) != 20:
        raise ValueError(f"{address!r} is not a 0x address of 20 bytes")
    return bytes(12) + raw


def leaf_hash(key: str, content_hash: bytes, byte_size: int, rows: int,
              contributor: str | None = None) -> bytes:
    """A shard's leaf, the one function every check recomputes leaves with: laas-leaf-v1
    without a contributor (what was committed before still verifies), laas-leaf-v2 with one."""
    return keccak256(keccak256(encode_leaf(key, content_hash, byte_size, rows, contributor)))


def hash_pair(a: bytes, b: bytes) -> bytes:
    return keccak256(a + b if a < b else b + a)


class MerkleTree(BaseModel):
    """An immutable tree over leaf hashes; `leaves` keeps the caller's order."""

    model_config = ConfigDict(frozen=True)

    leaves: tuple[bytes, ...]
    nodes: tuple[bytes, ...]  # OpenZeppelin array layout; empty for an empty tree

    @classmethod
    def build(cls, leaves: list[bytes] | tuple[bytes, ...]) -> MerkleTree:
        if not leaves:
            return cls(leaves=(), nodes=())
        ordered = sorted(leaves)
        n = len(ordered)
        nodes: list[bytes] = [b""] * (2 * n - 1)
        for i, leaf in enumerate(ordered):
            nodes[len(nodes) - 1 - i] = leaf
        for i in range(len(nodes) - 1 - n, -1, -1):
            nodes[i] = hash_pair(nodes[2 * i + 1], nodes[2 * i + 2])
        return cls(leaves=tuple(leaves), nodes=tuple(nodes))

    @property
    def root(self) -> bytes:
        return self.nodes[0] if self.nodes else EMPTY_ROOT

    @cached_property
    def _positions(self) -> dict[bytes, int]:
        """Leaf -> array index, built once so each proof costs O(log n)."""
        n = len(self.leaves)
        return {self.nodes[i]: i for i in range(len(self.nodes) - n, len(self.nodes))}

    def proof(self, leaf: bytes) -> list[bytes]:
        """Sibling hashes from the leaf up to the root."""
        index = self._positions.get(leaf)
        if index is None:
            raise KeyError("leaf is not in the tree")
        return self._proof_at(index)

    def proofs(self) -> dict[bytes, list[bytes]]:
        """Every leaf's proof at once (one position map, not one per leaf)."""
        return {leaf: self._proof_at(i) for leaf, i in self._positions.items()}

    def _proof_at(self, index: int) -> list[bytes]:
        path = []
        while index > 0:
            sibling = index + 1 if index % 2 == 1 else index - 1
            path.append(self.nodes[sibling])
            index = (index - 1) // 2
        return path


_ROOTS: dict[bytes, bytes] = {}  # root_of's last roots, by the SHA-256 of the leaves given
_ROOTS_HELD = 4


def root_of(leaves: list[bytes] | tuple[bytes, ...]) -> bytes:
    """MerkleTree.build(leaves).root, remembered for the last few leaf lists (32 bytes each,
    not their trees): a run's normalized and validated stages have the same leaves unless rows
    were dropped, n keccak256 pairs each time (~0.3 s at 100,000 shards)."""
    import hashlib

    seen = hashlib.sha256(b"".join(leaves)).digest() + len(leaves).to_bytes(8, "big")
    if (root := _ROOTS.get(seen)) is None:
        root = _ROOTS[seen] = MerkleTree.build(leaves).root
        with contextlib.suppress(KeyError, RuntimeError):  # another thread trimmed it
            while len(_ROOTS) > _ROOTS_HELD:
                del _ROOTS[next(iter(_ROOTS))]
    return root


def verify(proof: list[bytes], root: bytes, leaf: bytes) -> bool:
    """MerkleProof.verify: fold the proof over the leaf and compare with the root."""
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node == root
