"""eth_getLogs over a long chain, in windows a hosted provider accepts. Providers cap a query's
block range (Alchemy, Infura, QuickNode, public L2 nodes: 500 to 10,000 blocks) and its result
count (10,000), and refuse with a JSON-RPC error rather than a partial answer; a scan from the
registry's deploy block to the head in one request fails as soon as the chain is long."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from laas.anchors.adapters.jsonrpc import node_errors

# What providers say when a query is too wide (geth, erigon, Alchemy, Infura, QuickNode, Ankr,
# Blast, dRPC, Metis/OP nodes); any of them means "ask for fewer blocks", nothing else does.
_TOO_WIDE = (
    "block range", "range is too large", "range too large", "more than", "too many",
    "exceed maximum", "exceeds maximum", "exceeds the range", "limit exceeded",
    "response size", "query timeout", "max results",
)


def too_wide(e: BaseException) -> bool:
    """True when a provider refused an eth_getLogs for its range or its result count."""
    if not isinstance(e, node_errors()):
        return False
    text = str(getattr(e, "rpc_response", None) or e).lower()
    return any(phrase in text for phrase in _TOO_WIDE)


Fetch = Callable[[int, int], list[Any]]


PROBE_EVERY = 16  # accepted pages before the window may grow past the largest size accepted


class LogPager:
    """Walks [start, end] in windows: `window` blocks at first, halved each time the provider
    refuses. After a refusal it grows back by a quarter per accepted page (a range refused
    because a few blocks were busy should not slow the rest of a long scan) up to the largest
    window the provider ever accepted; past that it probes once every PROBE_EVERY pages, and
    a refused probe goes straight back to that size (a provider's hard range cap should not
    cost a refusal every few pages). Every request advances the scan or shrinks the window,
    so a scan is bounded; a refusal at one block is raised."""

    def __init__(self, window: int = 2000):
        self.max_window = max(1, window)
        self.window = self.max_window
        self.cap = 0  # the largest window the provider accepted
        self.streak = 0  # pages accepted since the last refusal

    def pages(self, fetch: Fetch, start: int, end: int) -> Iterator[tuple[int, list[Any]]]:
        """(last block of the page, its logs) for consecutive pages from start to end."""
        lo = start
        while lo <= end:
            hi = min(end, lo + self.window - 1)
            size = hi - lo + 1
            try:
                logs = fetch(lo, hi)
            except node_errors() as e:
                if not too_wide(e) or size == 1:
                    raise
                self.window = self.cap if 0 < self.cap < size else max(1, size // 2)
                self.streak = 0
                continue
            yield hi, logs
            lo = hi + 1
            self._grow(size)

    def _grow(self, accepted: int) -> None:
        self.cap = max(self.cap, accepted)
        self.streak += 1
        target = min(self.max_window, self.window + max(1, self.window // 4))
        if target > self.cap and self.streak % PROBE_EVERY:
            target = max(self.window, self.cap)
        self.window = target


def one_each(logs: list[Any], lo: int, hi: int) -> list[Any]:
    """The logs of blocks lo..hi, each once: a log is one (transaction, log index), and
    providers have served copies (overlapping shards of their index) and logs of blocks not
    asked for (which the next page, asking for them, serves again). A log whose place cannot
    be read is kept as it is, for the decoder to refuse."""
    seen: set[tuple[Any, Any]] = set()
    out = []
    for log in logs:
        try:
            block = int(log["blockNumber"], 16)
            place = (log["transactionHash"], int(log["logIndex"], 16))
        except (KeyError, TypeError, ValueError):
            out.append(log)
            continue
        if lo <= block <= hi and place not in seen:
            seen.add(place)
            out.append(log)
    return out
