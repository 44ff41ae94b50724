"""How final a checkpoint's block is. An optimistic rollup has three heads: the sequencer's
(`latest`, what confirmations count from), `safe` (its data is on L1) and `finalized` (that L1
block is final). Nodes name the last two with block tags; a node that does not know a tag
cannot tell, and then a demand for it is an error, never a silent allow. Pure apart from the
registry port it is given."""

from __future__ import annotations

from typing import Any

from laas.errors import ConfigError
from laas.networks import Finality


def tag_head(registry: Any, tag: Finality) -> int:
    """The block the node calls `tag`, or ConfigError saying the node cannot answer it."""
    block = registry.block_at(tag)
    if block is None:
        raise ConfigError(
            f"finality '{tag}': the chain's RPC does not answer the '{tag}' block tag, so "
            f"nothing can be shown to be {tag} there; use --finality latest with "
            "--min-confirmations N (LAAS_FINALITY=latest) on this chain, or another RPC")
    return block


def finality_problem(registry: Any, block: int, finality: Finality) -> str | None:
    """Why a checkpoint mined in `block` does not meet `finality` yet, or None if it does."""
    if finality == "latest":
        return None
    head = tag_head(registry, finality)
    if block <= head:
        return None
    return (f"its checkpoint (block {block}) is not {finality} yet: the {finality} head is "
            f"block {head}, {block - head} block(s) behind; wait, or gate with a weaker "
            "--finality")


def stage_status(block: int | None, safe: int | None, final: int | None) -> str | None:
    """pending / safe / final for a mined block, by the node's tags (None: not known)."""
    if block is None:
        return None
    if final is not None and block <= final:
        return "final"
    if safe is not None and block <= safe:
        return "safe"
    return "pending" if safe is not None or final is not None else None
