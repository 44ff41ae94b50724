"""Validation outcomes as the frozen records that are committed: values shortened and made
plain JSON, a shard's verdict from its `error` expectations, and batches merged per shard."""

from __future__ import annotations

from typing import Any

from laas.validators.report import ExpectationOutcome, ShardValidation

EXAMPLES = 3  # unexpected values kept per expectation
_MAX_TEXT = 60


def plain(v: Any) -> Any:
    if isinstance(v, str):
        return v if len(v) <= _MAX_TEXT else v[:_MAX_TEXT] + "…"
    if v is None or isinstance(v, bool | int | float):
        return v
    if isinstance(v, list | tuple):
        return [plain(x) for x in v]
    if hasattr(v, "item"):  # numpy scalar
        return plain(v.item())
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    return plain(str(v))


def outcome(e: Any, success: bool, count: int | None, examples: list,
            observed: Any = None) -> ExpectationOutcome:
    return ExpectationOutcome(
        type=e.type,
        column=e.kwargs.get("column") or ",".join(e.kwargs.get("column_list", [])) or None,
        severity=e.severity, success=success, unexpected_count=count,
        examples=tuple(plain(x) for x in examples[:EXAMPLES]), observed=plain(observed))


def shard_result(key: str, outcomes: list[ExpectationOutcome]) -> ShardValidation:
    success = all(o.success for o in outcomes if o.severity == "error")
    return ShardValidation(key=key, success=success, outcomes=tuple(outcomes))


def merge(parts: list[ShardValidation]) -> ShardValidation:
    """One shard's result from its batches: counts add up, examples come from the first
    batches that have them, an expectation holds only if it held in every batch."""
    if len(parts) == 1:
        return parts[0]
    outcomes = []
    for per_batch in zip(*(p.outcomes for p in parts), strict=True):
        first = per_batch[0]
        counts = [o.unexpected_count for o in per_batch if o.unexpected_count is not None]
        examples = [x for o in per_batch for x in o.examples][:EXAMPLES]
        outcomes.append(first.model_copy(update={
            "success": all(o.success for o in per_batch),
            "unexpected_count": sum(counts) if counts else None,
            "examples": tuple(examples),
        }))
    return shard_result(parts[0].key, outcomes)


def share_outcomes(validations: list[dict[str, Any] | None]) -> list[dict[str, Any] | None]:
    """Shards' validation dicts (ShardValidation dumps) in which equal outcomes without
    examples (most of them: an expectation that held) are one dict object, not one per
    shard: what a manifest of 100,000 shards holds in memory, and its JSON unchanged. Pickle
    keeps the sharing within one Dask result. The dicts are read, never changed."""
    seen: dict[tuple, dict[str, Any]] = {}
    out: list[dict[str, Any] | None] = []
    for v in validations:
        if v is None:
            out.append(None)
            continue
        outcomes = []
        for o in v["outcomes"]:
            if o.get("examples") or o.get("observed") is not None:
                outcomes.append(o)
                continue
            k = tuple(sorted((name, x if not isinstance(x, list) else tuple(x))
                             for name, x in o.items()))
            outcomes.append(seen.setdefault(k, o))
        out.append({**v, "outcomes": outcomes})
    return out
