"""Batched anchoring (registry format 2): many runs, of many datasets, in one transaction. The
chain keeps the batch's root and the event its leaves (each a checkpoint commitment,
laas.anchors.core.commitments); each checkpoint's record and its Merkle path to the root are kept as
a proof file next to its manifest in the artifact store. The store is not trusted: a reader
admits a checkpoint only if its record hashes to a leaf whose path reaches a root the contract
holds. The price of the gas: the contract cannot tell that a checkpoint id was batched before,
so the committer refuses to batch one that is on chain already (as a run, or in a batch whose
proof it finds in the store)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from laas.anchors.adapters.artifacts import write_replacing
from laas.anchors.adapters.files import url_to_fs
from laas.anchors.core.canonical import from_hex, to_hex
from laas.anchors.core.commitments import (
    FORMAT_VERSION,
    fold,
    leaf_of,
    matches,
    pair_proof,
    pair_root,
)
from laas.anchors.core.models import Checkpoint, StageManifest
from laas.errors import AnchorError, HashMismatch

if TYPE_CHECKING:  # the signing client loads web3; the readers here must not
    from laas.anchors.adapters.registry_v2 import RegistryV2
    from laas.anchors.adapters.registry_v2_read import RegistryV2Read


class BatchProof(BaseModel):
    """Where one checkpoint of a batch is anchored, and the path that proves it."""

    model_config = ConfigDict(frozen=True)

    format: int = FORMAT_VERSION
    root: str
    proof: tuple[str, ...]
    checkpoint: Checkpoint


def _record(m: StageManifest, uri: str, committer: str) -> Checkpoint:
    return Checkpoint(
        checkpoint_id=m.checkpoint_id, dataset_id=m.dataset_id, run_id=m.run_id,
        stage=m.stage, shards_root=m.shards_root, shard_count=m.accepted_count,
        manifest_hash=m.manifest_hash, manifest_uri=uri, result_hash=m.result_hash,
        passed=m.passed, parents=m.parents, committer=committer, tx_hash="", block_number=0)


def anchor_batch(registry: RegistryV2, stages: Sequence[tuple[StageManifest, str]]
                 ) -> list[BatchProof]:
    """Anchor the stages (of any runs and datasets) as one root; their proofs, in order.
    Parents must be on chain or in the batch (a reader checks lineage as for any run)."""
    if registry.sender is None:
        raise AnchorError("anchor a batch: this client is read-only")
    for m, _ in stages:
        if registry.get(m.checkpoint_id) is not None:
            raise AnchorError(f"{m.dataset}/{m.run}/{m.stage} is on chain already: leave it "
                              "out of the batch (a checkpoint id commits once)")
    records = [_record(m, uri, registry.sender.address) for m, uri in stages]
    leaves = [leaf_of(r) for r in records]
    receipt = registry._send(registry.contract.functions.anchorBatch(leaves),
                             f"anchor a batch of {len(records)} checkpoints")
    root = to_hex(pair_root(leaves))
    share = receipt["gasUsed"] // len(records)
    landed = {"tx_hash": to_hex(bytes(receipt["transactionHash"])),
              "block_number": receipt["blockNumber"], "gas_used": share}
    return [BatchProof(root=root, proof=tuple(to_hex(p) for p in pair_proof(leaves, i)),
                       checkpoint=r.model_copy(update=landed))
            for i, r in enumerate(records)]


def admit(registry: RegistryV2Read, proof: BatchProof) -> Checkpoint:
    """The checkpoint, once its record is proven to reach a batch root on chain; from then on
    the registry's reads (get, stored, verify_leaf) answer for it. HashMismatch if not."""
    cp = proof.checkpoint
    block, stored = registry.anchor_of(proof.root)
    leaf = leaf_of(cp)
    steps = [from_hex(p) for p in proof.proof]
    if block == 0 or not matches(from_hex(proof.root), stored):
        raise HashMismatch(f"batch root {proof.root[:18]}… is not anchored on chain")
    if fold(steps, leaf) != from_hex(proof.root):
        raise HashMismatch(f"checkpoint {cp.dataset_id[:10]}…/{cp.stage}: its record does not "
                           "reach the batch root (tampered proof or record)")
    cp = cp.model_copy(update={"block_number": block})
    registry.admit_batched(cp, proof.root, steps)
    return cp


def write_proofs(store: object, stages: Sequence[tuple[StageManifest, str]],
                 proofs: Sequence[BatchProof]) -> None:
    """Each proof next to its manifest (the reader checks it; the store is not trusted)."""
    for (m, _), p in zip(stages, proofs, strict=True):
        d = store.stage_dir(m.dataset, m.run, m.stage)  # type: ignore[attr-defined]
        fs, path = url_to_fs(f"{d}/batch-{p.root}.json")
        write_replacing(fs, path, p.model_dump_json().encode())


def admit_stored(registry: RegistryV2Read, store: object, dataset: str, run: str) -> int:
    """Admit every stored batch proof of a run's stages that holds; how many did."""
    admitted = 0
    for stage in ("raw", "normalized", "validated", "training"):
        d = store.stage_dir(dataset, run, stage)  # type: ignore[attr-defined]
        fs, path = url_to_fs(d)
        for p in sorted(fs.glob(f"{path}/batch-*.json")) if fs.exists(path) else []:
            try:
                with fs.open(p, "rb") as f:
                    admit(registry, BatchProof.model_validate(json.loads(f.read())))
                admitted += 1
            except (HashMismatch, ValueError):  # a planted or broken file proves nothing
                continue
    return admitted
