"""Lineage answers: a shard's path through the stages of a run, from the index, with
confirmations read from the chain when it is reachable."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from laas.anchors.adapters.chainview import ChainView
from laas.anchors.core.finality import stage_status
from laas.anchors.core.models import TRAINING
from laas.anchors.ports import IndexReader
from laas.anchors.ports import RegistryReader as Registry
from laas.errors import AnchorError, LaasError, LineageNotFound

if TYPE_CHECKING:
    from laas.anchors.adapters.index import LineageIndex


class Rebuilt(NamedTuple):
    indexed: int  # checkpoints (re)indexed by this call
    from_block: int  # where this call started reading
    through_block: int  # the last block read


# A resumed rebuild rereads this many blocks before where the last one stopped, so a
# checkpoint that a shallow reorganisation moved there is not skipped (recording is idempotent).
REORG_MARGIN = 64


def rebuild_index(registry: Registry, index: LineageIndex, full: bool = False) -> Rebuilt:
    """Refill the lineage index from the chain's events and the manifests they point to, each
    manifest checked against its committed hash. The scan goes page by page and records each
    page's last block in the index, so a rebuild goes on from where the last one stopped
    (the whole chain with full=True, or when the index is new)."""
    from laas.anchors.adapters.artifacts import read_manifest

    key = f"{registry.chain_id()}:{registry.address}"
    done = None if full else index.scanned_through(key)
    start = registry.deploy_block if done is None else \
        max(registry.deploy_block, done + 1 - REORG_MARGIN)
    count, last = 0, start - 1
    for last, cps in registry.scan(start):
        for cp in cps:
            index.record(cp, read_manifest(cp.manifest_uri, expected_hash=cp.manifest_hash))
            count += 1
        index.set_scanned_through(key, last)
    return Rebuilt(count, start, last)


MAX_DEPTH = 32  # derived datasets nest; a cycle is impossible on chain, a bound is cheap


def shard_lineage(index: IndexReader, open_chain: Callable[[], ChainView], ref: str,
                  run: str | None = None) -> dict[str, Any]:
    """A shard's path through every stage of its run and, for a derived dataset, on through
    the parent datasets' shards it came from, back to raw sources. open_chain is called once,
    if the shard is found; when it fails, the answer has no confirmations."""
    matches = index.find_shard(ref, run)
    if not matches:
        raise LineageNotFound(
            f"no shard matching {ref!r}{' in run ' + run if run else ''} in the lineage index "
            f"({index.where}): give a shard path, URI, key or content hash "
            "from a committed run"
        )
    try:
        chain = open_chain()
    except (AnchorError, LaasError):
        chain = None  # chain down: lineage still answers, confirmations unknown
    # A shard that is one dataset's output and another's input: answer for it as an output.
    exact = {ref, str(Path(ref).resolve())} if "://" not in ref else {ref}
    ingested = [m for m in matches if m["stage"] != TRAINING] or matches
    first = next((m for m in ingested if m["uri"] in exact), ingested[0])
    node = _node(index, first, chain, 0)
    node["other_runs"] = sorted({m["run"] for m in ingested} - {first["run"]})
    # Training jobs that recorded this shard (laas gate --record): model -> data, both ways.
    node["used_by"] = sorted({m["run"] for m in matches if m["stage"] == TRAINING})
    return node


def _node(index: Any, row: dict, chain: ChainView | None, depth: int) -> dict[str, Any]:
    stages = [s for s in index.stages_of(row["dataset"], row["run"], row["key"])
              if s["stage"] != TRAINING]
    if chain is not None:
        chain.lookup([s["tx_hash"] for s in stages])
    for s in stages:
        # The index remembers a transaction; the chain says whether it is still there (a
        # reorganisation can drop it): confirmed only if it is, counted from where it landed.
        block = None if chain is None else chain.block_of(s["tx_hash"])
        s["confirmations"] = None if chain is None else \
            0 if block is None else max(0, chain.head - block + 1)
        s["confirmed"] = None if chain is None else block is not None
        # pending / safe / final by the node's block tags (None: unknown or not on chain)
        tags = (chain.tagged or {}) if chain is not None else {}
        s["finality"] = stage_status(block, tags.get("safe"), tags.get("finalized"))
    parents = []
    source = stages[0]["source_uri"] if stages else row["source_uri"]
    if depth < MAX_DEPTH:
        parents = [_node(index, p, chain, depth + 1) for p in index.find_shard(source)
                   if p["uri"] == source and p["stage"] == "validated"
                   and p["dataset"] != row["dataset"]][:1]
    return {
        "dataset": row["dataset"],
        "run": row["run"],
        "key": row["key"],
        "source_uri": row["source_uri"],
        "stages": [
            {k: s[k] for k in ("stage", "uri", "content_hash", "byte_size", "rows", "leaf",
                               "status", "reason", "checkpoint_id", "shards_root", "passed",
                               "manifest_uri", "tx_hash", "block_number", "confirmations",
                               "confirmed", "finality")}
            for s in stages
        ],
        "derived_from": parents,
    }


def raw_sources(node: dict[str, Any]) -> list[str]:
    """The raw source URIs a lineage tree ends in."""
    if not node["derived_from"]:
        return [node["source_uri"]]
    return [uri for parent in node["derived_from"] for uri in raw_sources(parent)]
