"""The one verification path the gate, `laas verify` and the reader share: a checkpoint read
from the chain with its manifest checked against the committed hash, then its parents walked
back to raw, each stage checked to follow from its parent (laas.anchors.core.trust.stage_problem),
and, when asked, each committer checked against a pinned list or the role it holds now."""

from __future__ import annotations

from collections.abc import Collection

from pydantic import BaseModel, ConfigDict

from laas.anchors.adapters.artifacts import read_manifest
from laas.anchors.core.canonical import keccak256, to_hex
from laas.anchors.core.models import Checkpoint, StageManifest
from laas.anchors.core.stored import StoredCheckpoint
from laas.anchors.core.trust import expected_parent_stage, stage_problem
from laas.anchors.ports import RegistryReader as Registry
from laas.errors import HashMismatch, LaasError

MAX_DEPTH = 8  # training -> validated -> normalized -> raw; a bound is cheap


class Proven(BaseModel):
    """A checkpoint as the contract stores it, with the manifest that hashes to it."""

    model_config = ConfigDict(frozen=True)

    checkpoint: Checkpoint
    stored: StoredCheckpoint
    manifest: StageManifest

    @property
    def stage(self) -> str:
        return self.manifest.stage


def prove_checkpoint(registry: Registry, cid: str, parked: bool = False) -> Proven:
    """The checkpoint and its manifest, or HashMismatch (one line) if either cannot be had.
    parked: the manifest's shards held as columns (read_manifest's)."""
    cp = registry.get(cid)
    if cp is None:
        raise HashMismatch(f"checkpoint {cid[:18]}… is not on chain")
    stored = registry.stored(cid)
    try:
        m = read_manifest(cp.manifest_uri, expected_hash=stored.manifest_hash, parked=parked)
    except LaasError as e:
        raise HashMismatch(f"{cp.stage} manifest: {e}") from None
    if (m.dataset_id, m.run_id, m.parents) != (stored.dataset_id, stored.run_id,
                                               stored.parents) \
            or to_hex(keccak256(m.stage.encode())) != stored.stage_hash:
        raise HashMismatch("manifest belongs to another dataset, run or stage than its "
                           "checkpoint")
    return Proven(checkpoint=cp, stored=stored, manifest=m)


def prove_rooted(registry: Registry, cid: str, stages: Collection[str] = ("validated",),
                 needs: str = "", parked: bool = False) -> Proven:
    """prove_checkpoint of a checkpoint of one of `stages`, whose manifest's leaves rebuild
    the root the chain committed: what a shard's proof is then checked against. HashMismatch
    otherwise (`needs` says why the stage matters, after the stage found)."""
    top = prove_checkpoint(registry, cid, parked)
    if top.stage not in stages:
        raise HashMismatch(f"checkpoint {cid[:18]}… is the {top.stage} stage"
                           f"{needs or ', not ' + ' or '.join(stages)}")
    if to_hex(top.manifest.tree().root) != top.stored.shards_root:
        raise HashMismatch(f"{top.stage} manifest's leaves do not rebuild the committed root")
    return top


def derived_parents_problem(registry: Registry, parents: Collection[str]) -> str | None:
    """Why a raw stage's parents (a derived dataset's: other datasets' validated stages) are
    not passed validated checkpoints on chain, if they are not."""
    for source in parents:
        stored = registry.stored_or_none(source)
        if stored is None or stored.stage_hash != to_hex(keccak256(b"validated")) \
                or not stored.passed:
            return (f"raw stage's parent {source[:18]}… is not a passed validated checkpoint "
                    "on chain")
    return None


def prove_lineage(registry: Registry, top: Proven, *, committers: Collection[str] = (),
                  require_active: bool = False, park: bool = False) -> list[Proven]:
    """`top` and every stage before it back to raw, each proven and following from its
    parent; a derived dataset's raw stage must name passed validated checkpoints. Raises
    HashMismatch naming the first link that fails. With `park`, each manifest's entries are
    held as columns once checked (StageManifest.park): one whole at a time, for a caller that
    keeps the chain and reads little of it."""
    chain = [top]
    if park:
        top.manifest.park()
    while (want := expected_parent_stage(chain[-1].stage)) is not None:
        child = chain[-1]
        parents = child.stored.parents
        if len(parents) != 1 or len(chain) > MAX_DEPTH:
            raise HashMismatch(f"checkpoint {child.checkpoint.checkpoint_id[:18]}… does not "
                               f"name one {want} parent")
        parent = prove_checkpoint(registry, parents[0], park)
        if parent.stage != want:
            raise HashMismatch(f"parent {parents[0][:18]}… is not this run's {want} stage")
        if problem := stage_problem(parent.manifest, child.manifest):
            raise HashMismatch(problem)
        if park:
            parent.manifest.park()
        chain.append(parent)
    if problem := derived_parents_problem(registry, chain[-1].stored.parents):
        raise HashMismatch(problem)
    pinned = {c.lower() for c in committers}
    for p in chain:
        who = p.stored.committer
        if pinned and who.lower() not in pinned:
            raise HashMismatch(f"{p.stage} checkpoint was committed by {who}, not by a "
                               "committer the policy trusts")
        if require_active and not registry.is_committer(who):
            raise HashMismatch(f"{p.stage} checkpoint's committer {who} no longer holds the "
                               "committer role (revoked)")
    return chain
