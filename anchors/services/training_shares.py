"""A training record's contributor shares, proven from the chain: what a contributor hands a
reward contract (anchors/contracts/ContributorRewards.sol) to claim theirs, and what `laas
gate --record` and `laas contributors --training` show.

Nothing here is taken from the store on its word: the record and every stage before it are
proven back to raw (services.provenance), and the shares rebuilt from its shards must give
the result hash the record committed (laas.anchors.core.record_shares). Imports neither
Prefect, Dask nor GX."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from laas.anchors.core.canonical import from_hex, to_hex
from laas.anchors.core.commitments import committed_struct
from laas.anchors.core.entries import Record
from laas.anchors.core.models import Checkpoint
from laas.anchors.core.record_shares import SharesCommitment, record_shares, result_hash_of
from laas.anchors.core.shares import shares_tree
from laas.anchors.ports import RegistryReader
from laas.anchors.services.contributors import find_checkpoint
from laas.anchors.services.provenance import prove_checkpoint, prove_lineage
from laas.errors import HashMismatch, LineageNotFound


class ShareProof(Record):
    """One contributor's share of a training record, with its path to the shares root."""

    contributor: str
    rows: int
    bytes: int
    shards: int
    leaf: str
    proof: tuple[str, ...]


class TrainingShares(BaseModel):
    """A training record's shares, each with its proof, and where the record is anchored."""

    model_config = ConfigDict(frozen=True)

    dataset: str
    record: str
    checkpoint: Checkpoint
    commitment: SharesCommitment | None  # None: no shard of the record names a contributor
    shares: tuple[ShareProof, ...]
    anchor_key: str | None = None  # format 2: the run key the record is anchored under
    anchor_proof: tuple[str, ...] = ()  # from the record's commitment (leafOf) to that anchor

    def share(self, contributor: str) -> ShareProof:
        for s in self.shares:
            if s.contributor.lower() == contributor.lower():
                return s
        raise LineageNotFound(f"{contributor} has no share in training record {self.record} "
                              f"of {self.dataset}")

    def claim_args(self, contributor: str) -> tuple:
        """The arguments `contributor` (who must send it) gives ContributorRewards: `claim`'s
        on a format-2 registry (the record and its path to the run's anchor), `claimStored`'s
        on a format-1 one (the record's checkpoint id; the contract reads the rest)."""
        s = self.share(contributor)
        assert self.commitment is not None  # a share implies a commitment
        share = (self.commitment.contract_struct(), s.rows, s.bytes,
                 [from_hex(p) for p in s.proof])
        if self.anchor_key is None:
            return (from_hex(self.checkpoint.checkpoint_id), *share)
        return (committed_struct(self.checkpoint), [from_hex(p) for p in self.anchor_proof],
                *share)


def training_shares(registry: RegistryReader, dataset: str, record: str,
                    contributor: str | None = None) -> TrainingShares:
    """The shares of training record `record` of `dataset` (only `contributor`'s, if named),
    each with its Merkle proof, once the record's manifest and shares are checked against the
    chain. LineageNotFound if there is no such record or share; HashMismatch if the store's
    manifest or the shares do not match what the chain holds."""
    cid = find_checkpoint(registry, dataset, training=record)
    # Back to raw, as `laas verify` proves a record: each shard as validated, with the
    # contributor the validated stage named (a committer cannot re-attribute rows here).
    try:
        top = prove_lineage(registry, prove_checkpoint(registry, cid))[0]
    except HashMismatch as e:
        raise HashMismatch(f"training record {record} of {dataset}: {e}") from None
    cp = top.checkpoint
    shares, commitment = record_shares(top.manifest.shards)
    if result_hash_of(commitment) != cp.result_hash:
        raise HashMismatch(f"training record {record} of {dataset}: the result hash on chain "
                           f"({cp.result_hash[:18]}…) does not commit its shards' contributor "
                           "shares")
    tree = shares_tree(shares)
    proofs = tree.proofs()
    out = tuple(ShareProof(contributor=s.contributor, rows=s.rows, bytes=s.bytes,
                           shards=s.shards, leaf=to_hex(s.leaf),
                           proof=tuple(to_hex(p) for p in proofs[s.leaf])) for s in shares)
    anchor: dict = {}
    if (path := getattr(registry, "anchor_path", None)) is not None:  # format 2
        _, key, anchor_proof = path(cid)
        anchor = {"anchor_key": key, "anchor_proof": tuple(to_hex(p) for p in anchor_proof)}
    found = TrainingShares(dataset=dataset, record=record, checkpoint=cp, commitment=commitment,
                           shares=out, **anchor)
    if contributor is not None:
        found = found.model_copy(update={"shares": (found.share(contributor),)})
    return found
