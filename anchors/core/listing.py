"""Per-shard lines, bounded: the first few, then a count of the rest. A corpus whose every
shard is set aside (17,619 man pages) otherwise makes a terminal, a log, a Prefect artifact or
a gate's one line as long as its every reason."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")  # a line: text, or text with colours (the CLI's)
SHOWN = 20  # per-shard lines shown one by one (printed, logged, listed) before the count


def first_of(lines: Sequence[T], limit: int, more: Callable[[int], T]) -> list[T]:
    """The first `limit` lines, then `more(how many were left)` if any were."""
    return [*lines[:limit], *([more(len(lines) - limit)] if len(lines) > limit else [])]


# Control characters but tab: ESC would let a key from the bucket move the cursor and
# overwrite a terminal's DENY with a forged ALLOW, and a newline or carriage return would start
# a line of the key's own ("…\nALLOW …") under laas's. What laas prints or logs through this is
# one line each. Each shows as one U+FFFD, so the text keeps its length (and a styled line its
# spans).
_UNSEEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def visible(text: str) -> str:
    """`text` with its control characters shown as U+FFFD: safe to print or log."""
    return _UNSEEN.sub("\ufffd", text)
