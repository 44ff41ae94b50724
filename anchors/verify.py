"""Prove one shard file on its own: hash it, find the checkpoint that committed that hash, and
check, against the chain, the leaf, its Merkle proof (locally and by the contract's view), the
manifest, and the provenance path: every parent checkpoint back to the raw stage is on chain,
belongs to the same dataset and run, and its manifest (checked against its on-chain hash)
carries the same shard. The local index only says where to start; nothing is taken from it.
The result is a bundle of proofs anyone can re-check. Imports neither Prefect, Dask nor GX."""

from __future__ import annotations

from contextlib import suppress

from pydantic import BaseModel, ConfigDict

from laas.anchors.canonical import from_hex, to_hex
from laas.anchors.hashing import hash_stream, rehash_parquet
from laas.anchors.index import LineageIndex
from laas.anchors.merkle import verify
from laas.anchors.models import STAGE_ORDER, TRAINING
from laas.anchors.registry import Registry
from laas.anchors.storage import open_uri
from laas.anchors.store import read_manifest
from laas.errors import HashMismatch, LaasError, LineageNotFound


class StageProof(BaseModel):
    model_config = ConfigDict(frozen=True)

    stage: str
    checkpoint_id: str
    tx_hash: str
    block_number: int
    shards_root: str  # as stored on chain
    manifest_uri: str
    manifest_hash: str  # as stored on chain; the manifest was checked against it
    uri: str
    content_hash: str
    leaf: str
    proof: tuple[str, ...]  # sibling hashes, leaf to root (OpenZeppelin MerkleProof order)


class ShardProof(BaseModel):
    model_config = ConfigDict(frozen=True)

    file: str
    content_hash: str
    dataset: str
    run: str
    key: str
    stages: tuple[StageProof, ...]  # the shard's stage first, then its parents back to raw


def file_hashes(path: str) -> list[str]:
    """What the file may have been committed as: laas-table-v1 if it is Parquet (a normalized
    or validated shard), and laas-bytes-v1 of its bytes (a raw shard)."""
    found = []
    with suppress(OSError, ValueError):  # not Parquet: only its bytes can match
        found.append(to_hex(rehash_parquet(path)[0]))
    with open_uri(path) as f:
        found.append(to_hex(hash_stream(f)[0]))
    return found


def verify_shard(registry: Registry, index: LineageIndex, path: str) -> ShardProof:
    """The shard's proof bundle, or HashMismatch (one line, naming what failed)."""
    rows: list[dict] = []
    for digest in file_hashes(path):
        if rows := index.find_shard(digest):
            break
    if not rows:
        where = index.find_shard(path)
        if where:
            raise HashMismatch(f"{path} hashes to {digest[:18]}…, but the index knows this path "
                               f"with hash {where[0]['content_hash'][:18]}…: the file changed")
        raise LineageNotFound(f"no committed shard hashes to {digest[:18]}… ({path}); if it "
                              "was committed, rebuild the index with `laas index rebuild`")
    start = max(rows, key=lambda r: STAGE_ORDER.index(r["stage"]))
    cid, key = start["checkpoint_id"], start["key"]
    child = registry.get(cid)
    if child is None:
        raise HashMismatch(f"checkpoint {cid[:18]}… named by the index is not on chain")
    proofs = []
    want_hash: str | None = digest
    while True:
        proof = _prove_stage(registry, cid, key, want_hash)
        proofs.append(proof)
        parents = registry.stored(cid)["parents"]
        if proof.stage == STAGE_ORDER[0]:
            break
        expected = STAGE_ORDER[STAGE_ORDER.index(proof.stage) - 1]
        if len(parents) != 1:
            raise HashMismatch(f"checkpoint {cid[:18]}… does not name one {expected} parent")
        cid, want_hash = parents[0], None
        if (parent := registry.get(cid)) is None:
            raise HashMismatch(f"parent checkpoint {cid[:18]}… of {proof.stage} is not on chain")
        # A training record may name any run's validated stage; ingest stages their own run's.
        same_run = child.stage == TRAINING or parent.run_id == child.run_id
        if parent.stage != expected or parent.dataset_id != child.dataset_id or not same_run:
            raise HashMismatch(f"parent {cid[:18]}… is not this run's {expected} stage")
        child = parent
    return ShardProof(file=str(path), content_hash=digest, dataset=start["dataset"],
                      run=start["run"], key=key, stages=tuple(proofs))


def _prove_stage(registry: Registry, cid: str, key: str, want_hash: str | None) -> StageProof:
    cp = registry.get(cid)
    if cp is None:
        raise HashMismatch(f"checkpoint {cid[:18]}… is not on chain")
    stored = registry.stored(cid)
    try:
        m = read_manifest(cp.manifest_uri, expected_hash=stored["manifest_hash"])
    except LaasError as e:
        raise HashMismatch(f"{cp.stage} manifest: {e}") from None
    entry = next((s for s in m.shards if s.key == key), None)
    if entry is None or entry.leaf is None:
        raise HashMismatch(f"shard {key} is not accepted in the {cp.stage} checkpoint")
    if want_hash is not None and entry.content_hash != want_hash:
        raise HashMismatch(f"shard {key}: the {cp.stage} manifest commits to "
                           f"{entry.content_hash[:18]}…, the file hashes to {want_hash[:18]}…")
    leaf = from_hex(entry.leaf)
    proof = m.tree().proof(leaf)
    root = from_hex(stored["shards_root"])
    if not verify(proof, root, leaf) or not registry.verify_leaf(cid, proof, leaf):
        raise HashMismatch(f"shard {key}: its proof does not reach the {cp.stage} root on chain")
    return StageProof(stage=cp.stage, checkpoint_id=cid, tx_hash=cp.tx_hash,
                      block_number=cp.block_number, shards_root=stored["shards_root"],
                      manifest_uri=cp.manifest_uri, manifest_hash=stored["manifest_hash"],
                      uri=entry.uri, content_hash=entry.content_hash, leaf=entry.leaf,
                      proof=tuple(to_hex(p) for p in proof))
