"""Contributor shares: rows and bytes kept per contributor, and the Merkle tree a training
record commits over them, laid out as OpenZeppelin's StandardMerkleTree of
["address", "uint256", "uint256"] so a contract can check a share with MerkleProof.verify.

A share's leaf is keccak256(keccak256(abi.encode(address contributor, uint256 rows,
uint256 bytes))), written out here so the core needs no web3. Shares count only the rows a
validated shard kept (its `rows`, after drop_rows), never the rows validation dropped.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import Field, field_validator

from laas.anchors.core.canonical import keccak256
from laas.anchors.core.contribution import address_problem
from laas.anchors.core.entries import Record, ShardEntry
from laas.anchors.core.merkle import MerkleTree, abi_word, address_word

SHARES_FORMAT = "laas-shares-v1"  # the leaf encoding below; a change is a new version
SHARE_TYPES = ("address", "uint256", "uint256")


class Share(Record):
    """What one contributor gave to a dataset or a training record."""

    contributor: str = Field(description="0x address, as the shards carry it")
    rows: int = Field(ge=0)
    bytes: int = Field(ge=0)
    shards: int = Field(0, ge=0, description="how many shards; not part of the leaf")

    @field_validator("contributor")
    @classmethod
    def _address(cls, v: str) -> str:
        if problem := address_problem(v):
            raise ValueError(f"contributor {problem}")
        return v

    @property
    def leaf(self) -> bytes:
        return share_leaf(self.contributor, self.rows, self.bytes)


def share_leaf(contributor: str, rows: int, size: int) -> bytes:
    """abi.encode(address, uint256, uint256), double-hashed as StandardMerkleTree leaves."""
    return keccak256(keccak256(address_word(contributor) + abi_word(rows) + abi_word(size)))


def contributor_shares(entries: Iterable[ShardEntry]) -> tuple[Share, ...]:
    """The shares of the accepted shards that name a contributor, one per contributor
    (addresses compared without case), ordered by address; rows and bytes are what each
    shard kept."""
    totals: dict[str, list[int]] = {}
    names: dict[str, str] = {}
    for s in entries:
        if s.status != "ok" or s.contributor is None:
            continue
        key = s.contributor.lower()
        names.setdefault(key, s.contributor)
        t = totals.setdefault(key, [0, 0, 0])
        t[0], t[1], t[2] = t[0] + s.rows, t[1] + s.byte_size, t[2] + 1
    return tuple(Share(contributor=names[k], rows=r, bytes=b, shards=n)
                 for k, (r, b, n) in sorted(totals.items()))


def shares_tree(shares: Iterable[Share]) -> MerkleTree:
    """The tree a training record commits; its root is EMPTY_ROOT when no shard named a
    contributor."""
    return MerkleTree.build([s.leaf for s in shares])
