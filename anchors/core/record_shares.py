"""What a training record commits about its contributors (format `laas-training-shares-v1`).

A training record's checkpoint has a `resultHash` no other part of it uses (a stage's is its
validation report's hash). When the shards it read name contributors, laas puts there

    keccak256(abi.encode(keccak256("laas-training-shares-v1"), bytes32 sharesRoot,
                         uint256 contributors, uint256 rows, uint256 bytes))

where `sharesRoot` is the root of laas.anchors.core.shares' tree of (contributor, rows,
bytes), and `rows` and `bytes` are the whole record's (attributed or not), so a reward
contract can pay a share as a fraction of what the training read. The result hash is a field
of the manifest (its hash covers it) and of the checkpoint's commitment on chain, so a
contract checks the shares root through the registry alone (anchors/contracts/
ContributorRewards.sol), and no registry contract changed. A record without contributors
keeps the zero result hash it always had: its manifest and checkpoint are byte for byte as
before. Why tagged, not the bare root: the tag names the format, so a later layout is a new
tag, and a stage's report hash can never be read as a shares commitment.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import Field

from laas.anchors.core.canonical import from_hex, keccak256, to_hex
from laas.anchors.core.entries import Record, ShardEntry
from laas.anchors.core.merkle import abi_word
from laas.anchors.core.shares import Share, contributor_shares, shares_tree

TRAINING_SHARES_FORMAT = "laas-training-shares-v1"
SHARES_TAG = keccak256(TRAINING_SHARES_FORMAT.encode())
NO_SHARES = to_hex(bytes(32))  # a training record's result hash when no shard names anyone


class SharesCommitment(Record):
    """What a training record's result hash commits to (the contract's `Shares` struct)."""

    format: str = TRAINING_SHARES_FORMAT
    root: str = Field(description="root of the shares tree, 0x hex")
    contributors: int = Field(ge=1, description="leaves of the shares tree")
    rows: int = Field(ge=0, description="rows of the whole training record")
    bytes: int = Field(ge=0, description="bytes of the whole training record")

    @property
    def result_hash(self) -> str:
        return to_hex(keccak256(SHARES_TAG + from_hex(self.root) + abi_word(self.contributors)
                                + abi_word(self.rows) + abi_word(self.bytes)))

    def contract_struct(self) -> tuple:
        """ContributorRewards.Shares, as web3 takes it."""
        return (from_hex(self.root), self.contributors, self.rows, self.bytes)


def record_shares(entries: Iterable[ShardEntry]
                  ) -> tuple[tuple[Share, ...], SharesCommitment | None]:
    """The shares of a training record's shards and their commitment (None: no shard names a
    contributor). Rows and bytes are what each accepted shard kept."""
    accepted = [s for s in entries if s.status == "ok"]
    shares = contributor_shares(accepted)
    if not shares:
        return shares, None
    return shares, SharesCommitment(
        root=to_hex(shares_tree(shares).root), contributors=len(shares),
        rows=sum(s.rows for s in accepted), bytes=sum(s.byte_size for s in accepted))


def result_hash_of(commitment: SharesCommitment | None) -> str:
    """The result hash a training record carries for this commitment (none: zero)."""
    return NO_SHARES if commitment is None else commitment.result_hash


def training_result_hash(entries: Iterable[ShardEntry]) -> str:
    """The result hash a training record over these shards must carry."""
    return result_hash_of(record_shares(entries)[1])
