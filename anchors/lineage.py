"""Lineage answers: a shard's path through the stages of a run, from the index, with
confirmations read from the chain when it is reachable."""

from __future__ import annotations

from typing import Any

from laas.anchors.ledger import head_block, open_index, open_registry
from laas.errors import AnchorError, LaasError, LineageNotFound
from laas.settings import Settings


def rebuild_index(settings: Settings) -> int:
    """Refill the lineage index from the chain's events and the manifests they point to, each
    manifest checked against its committed hash; returns the number of checkpoints indexed."""
    from laas.anchors.store import read_manifest

    registry = open_registry(settings, start_local=False)
    index = open_index(settings)
    count = 0
    for cp in registry.checkpoints():
        index.record(cp, read_manifest(cp.manifest_uri, expected_hash=cp.manifest_hash))
        count += 1
    return count


def shard_lineage(settings: Settings, ref: str, run: str | None = None) -> dict[str, Any]:
    index = open_index(settings)
    matches = index.find_shard(ref, run)
    if not matches:
        raise LineageNotFound(
            f"no shard matching {ref!r}{' in run ' + run if run else ''} in the lineage index "
            f"({settings.effective_index_url}): give a shard path, URI, key or content hash "
            "from a committed run"
        )
    first = matches[0]
    stages = index.stages_of(first["dataset"], first["run"], first["key"])
    try:
        head = head_block(settings)
    except (AnchorError, LaasError):
        head = None  # chain down: lineage still answers, confirmations unknown
    for s in stages:
        s["confirmations"] = None if head is None else max(0, head - s["block_number"] + 1)
    other_runs = sorted({m["run"] for m in matches} - {first["run"]})
    return {
        "dataset": first["dataset"],
        "run": first["run"],
        "key": first["key"],
        "source_uri": first["source_uri"],
        "stages": [
            {k: s[k] for k in ("stage", "uri", "content_hash", "byte_size", "rows", "leaf",
                               "status", "reason", "checkpoint_id", "shards_root", "passed",
                               "manifest_uri", "tx_hash", "block_number", "confirmations")}
            for s in stages
        ],
        "other_runs": other_runs,
    }
