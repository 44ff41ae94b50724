"""Per-shard lines, bounded: the first few, then a count of the rest. A corpus whose every
shard is set aside (17,619 man pages) otherwise makes a terminal, a log, a Prefect artifact or
a gate's one line as long as its every reason."""

from __future__ import annotations

from collections.abc import Callable, Sequence

SHOWN = 20  # per-shard lines shown one by one (printed, logged, listed) before the count


def first_of(lines: Sequence[str], limit: int, more: Callable[[int], str]) -> list[str]:
    """The first `limit` lines, then `more(how many were left)` if any were."""
    return [*lines[:limit], *([more(len(lines) - limit)] if len(lines) > limit else [])]
