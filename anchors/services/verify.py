"""Prove one shard file on its own: hash it, find the checkpoint that committed that hash, and
check, against the chain, the leaf, its Merkle proof (locally and by the contract's view), the
manifest, and the provenance path: every parent checkpoint back to the raw stage is on chain,
belongs to the same dataset and run, and its manifest (checked against its on-chain hash)
carries the same shard. The local index only says where to start; nothing is taken from it.
The result is a bundle of proofs anyone can re-check. Imports neither Prefect, Dask nor GX."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from pydantic import BaseModel, ConfigDict

from laas.anchors.adapters.files import open_uri, rehash_parquet_at
from laas.anchors.adapters.index import LineageIndex
from laas.anchors.core.canonical import from_hex, name_id, to_hex
from laas.anchors.core.entries import ShardEntry
from laas.anchors.core.hashing import hash_stream
from laas.anchors.core.merkle import verify
from laas.anchors.core.models import STAGE_ORDER, checkpoint_id
from laas.anchors.ports import RegistryReader as Registry
from laas.anchors.services.provenance import Proven, prove_checkpoint, prove_lineage
from laas.errors import HashMismatch, LineageNotFound


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
    contributor: str | None = None  # in the leaf (v2) when the source named one


class ShardProof(BaseModel):
    model_config = ConfigDict(frozen=True)

    file: str
    content_hash: str
    dataset: str
    run: str
    key: str
    stages: tuple[StageProof, ...]  # the shard's stage first, then its parents back to raw
    validated_run: str | None = None  # the run whose validated checkpoint is in the path
    passed: bool | None = None  # that checkpoint's verdict (None: no validated stage in it)
    rederived: bool | None = None  # rows dropped: the validated shard was rebuilt and matched
    left_out: int | None = None  # records reading left out; their file is the committed set


def file_hashes(path: str) -> list[str]:
    """What the file may have been committed as: laas-table-v1 if it is Parquet (a normalized
    or validated shard), and laas-bytes-v1 of its bytes (a raw shard)."""
    found = []
    with suppress(OSError, ValueError):  # not Parquet: only its bytes can match
        found.append(to_hex(rehash_parquet_at(path)[0]))
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
    # The index only says where to start; everything below is proven from the chain.
    # The newest row of the highest stage that accepted it: the same bytes set aside by an
    # older run (a quarantined shard keeps its hash) must not hide a later run's proof.
    start = max(rows, key=lambda r: (r["status"] == "ok", STAGE_ORDER.index(r["stage"])))
    key = start["key"]
    registry.locate(name_id(start["dataset"]), name_id(start["run"]))
    chain = prove_lineage(registry, prove_checkpoint(registry, start["checkpoint_id"]))
    proofs = [_prove_stage(registry, p, key, digest if n == 0 else None)
              for n, p in enumerate(chain)]
    validated = next((p for p in chain if p.stage == "validated"), None) \
        or _validated_after(registry, chain[0], key)
    normalized = next((p for p in chain if p.stage == "normalized"), None)
    kept = next((s for s in validated.manifest.shards if s.key == key), None) \
        if validated else None
    if kept is not None and kept.derived and chain[0].stage in ("raw", "normalized"):
        raise HashMismatch(f"shard {key}: this {chain[0].stage} file still holds the rows "
                           f"validation dropped ({kept.reason}); what was validated is "
                           f"{kept.uri}: verify and train on that")
    rederived = rederive(validated, normalized, key) if validated and normalized else None
    return ShardProof(rederived=rederived, left_out=_left_out(normalized, key),
                      file=str(path), content_hash=digest,
                      dataset=chain[0].manifest.dataset,
                      run=chain[0].manifest.run, key=key, stages=tuple(proofs),
                      validated_run=validated.manifest.run if validated else None,
                      passed=bool(validated.stored.passed) if validated else None)


def rederive(validated: Proven, normalized: Proven, key: str) -> bool | None:
    """For a shard whose failing rows were dropped: rebuild it from the normalized shard
    (checked against its committed hash) minus the committed set of dropped row numbers, and
    check it hashes to the validated leaf's content hash. None if nothing was dropped."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from laas.anchors.adapters.drop_files import ROW_DROPS
    from laas.anchors.adapters.sized import parquet_limit, read_at_most
    from laas.anchors.core.hashing import hash_table

    entry = next((s for s in validated.manifest.shards if s.key == key), None)
    if entry is None or not entry.derived:
        return None
    parent = next(s for s in normalized.manifest.shards if s.key == key)
    rows = _committed_rows(entry, key, ROW_DROPS)
    try:
        if (data := read_at_most(parent.uri, parquet_limit(parent.byte_size))) is None:
            raise HashMismatch(f"shard {key}: the normalized shard changed since it was "
                               "committed (larger than it can be)")
        table = pq.read_table(pa.BufferReader(pa.py_buffer(data)))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise HashMismatch(f"shard {key}: cannot re-derive its validated rows ({e})") from None
    if to_hex(hash_table(table)) != parent.content_hash:
        raise HashMismatch(f"shard {key}: the normalized shard changed since it was committed")
    keep = np.ones(table.num_rows, bool)
    keep[rows.astype(np.int64)] = False
    if to_hex(hash_table(table.filter(pa.array(keep)))) != entry.content_hash:
        raise HashMismatch(f"shard {key}: the normalized rows minus the dropped ones do not "
                           "hash to the validated shard")
    # the file shows the rows it names as the normalized shard holds them (else it could show
    # anyone's text as what was dropped, under the right numbers)
    try:
        if (data := read_at_most(entry.dropped_uri, parquet_limit(parent.byte_size))) is None:
            raise ValueError("larger than it can be")
        gone = pq.read_table(pa.BufferReader(pa.py_buffer(data)), columns=table.column_names)
        same = hash_table(gone.cast(table.schema)) == hash_table(table.take(rows))
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as e:
        raise HashMismatch(f"shard {key}: cannot read {ROW_DROPS} ({e})") from None
    if not same:
        raise HashMismatch(f"shard {key}: {ROW_DROPS} does not hold the normalized rows it "
                           "names")
    return True


def _committed_rows(entry: ShardEntry, key: str, what: str) -> Any:
    """The row (or record) numbers in a shard's dropped-rows file, which must be what its
    manifest commits to (laas-manifest-v7: the file whole, the bytes and reasons too)."""
    from laas.anchors.adapters.drop_files import DropsChanged, DropsFile, committed_numbers

    try:
        return committed_numbers(DropsFile.of(entry, what))
    except DropsChanged as e:
        raise HashMismatch(f"shard {key}: {e}") from None


def _left_out(normalized: Proven | None, key: str) -> int | None:
    """For a shard whose reading left unreadable records out (drop_rows): how many, once the
    file of them is checked to be what its manifest commits to. None if none was."""
    from laas.anchors.adapters.drop_files import READ_DROPS

    entry = next((s for s in normalized.manifest.shards if s.key == key), None) \
        if normalized else None
    if entry is None or not entry.derived:
        return None
    return len(_committed_rows(entry, key, READ_DROPS))


def _validated_after(registry: Registry, start: Proven, key: str) -> Proven | None:
    """For a raw or normalized file: its run's validated checkpoint (ids are derived, so it is
    found on chain, not in the index), which must accept the shard; None if there is none."""
    m = start.manifest
    registry.locate(m.dataset_id, m.run_id)
    cid = checkpoint_id(m.dataset_id, m.run_id, "validated")
    if registry.stored_or_none(cid) is None:
        return None
    validated = prove_checkpoint(registry, cid)
    prove_lineage(registry, validated)
    entry = next((s for s in validated.manifest.shards if s.key == key), None)
    if entry is None or entry.leaf is None:
        why = f": {entry.reason}" if entry is not None and entry.reason else ""
        raise HashMismatch(f"shard {key} was set aside at the validated stage of run "
                           f"{m.run}{why}")
    return validated


def _prove_stage(registry: Registry, p: Proven, key: str, want_hash: str | None) -> StageProof:
    m, stored, cp = p.manifest, p.stored, p.checkpoint
    entry = next((s for s in m.shards if s.key == key), None)
    if entry is None or entry.leaf is None:
        raise HashMismatch(f"shard {key} is not accepted in the {cp.stage} checkpoint")
    if want_hash is not None and entry.content_hash != want_hash:
        raise HashMismatch(f"shard {key}: the {cp.stage} manifest commits to "
                           f"{entry.content_hash[:18]}…, the file hashes to {want_hash[:18]}…")
    leaf = from_hex(entry.leaf)
    proof = m.tree().proof(leaf)
    root = from_hex(stored.shards_root)
    if not verify(proof, root, leaf) or not registry.verify_leaf(cp.checkpoint_id, proof, leaf):
        raise HashMismatch(f"shard {key}: its proof does not reach the {cp.stage} root on chain")
    return StageProof(stage=cp.stage, checkpoint_id=cp.checkpoint_id, tx_hash=cp.tx_hash,
                      block_number=cp.block_number, shards_root=stored.shards_root,
                      manifest_uri=cp.manifest_uri, manifest_hash=stored.manifest_hash,
                      uri=entry.uri, content_hash=entry.content_hash, leaf=entry.leaf,
                      proof=tuple(to_hex(p) for p in proof), contributor=entry.contributor)
