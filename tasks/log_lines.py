"""Per-shard log lines, bounded: each is a record Prefect's client sends to its server, and a
run over 17,619 man pages logged 15,998 of them per stage (no one reads past the first)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

LOGGED = 20  # lines logged one by one before the rest are counted


def log_some(logger: Any, level: int, lines: Sequence[str], more: str) -> None:
    """The first LOGGED of `lines`, then one line: `more` formatted with how many were left."""
    for line in lines[:LOGGED]:
        logger.log(level, "%s", line)
    if len(lines) > LOGGED:
        logger.log(level, more, len(lines) - LOGGED)
