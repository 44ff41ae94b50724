"""A checkpoint as the contract stores it: what checks that must not trust the event log read
(format 1 stores the struct; format 2 stores a commitment that proves the same fields)."""

from __future__ import annotations

from laas.anchors.core.canonical import keccak256, to_hex
from laas.anchors.core.models import Checkpoint, Record


class StoredCheckpoint(Record):
    dataset_id: str
    run_id: str
    stage_hash: str
    shards_root: str
    manifest_hash: str
    result_hash: str
    shard_count: int
    block_number: int
    passed: bool
    committer: str
    parents: tuple[str, ...]


def stored_of(cp: Checkpoint) -> StoredCheckpoint:
    """What a registry that stores the struct would hold for this checkpoint."""
    return StoredCheckpoint(
        stage_hash=to_hex(keccak256(cp.stage.encode())),
        **cp.model_dump(include=set(StoredCheckpoint.model_fields) - {"stage_hash"}))
