"""eth_getLogs over a long chain, in windows a hosted provider accepts. Providers cap a query's
block range (Alchemy, Infura, QuickNode, public L2 nodes: 500 to 10,000 blocks) and its result
count (10,000), and refuse with a JSON-RPC error rather than a partial answer; a scan from the
registry's deploy block to the head in one request fails as soon as the chain is long."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from web3.exceptions import Web3RPCError

# What providers say when a query is too wide (geth, erigon, Alchemy, Infura, QuickNode, Ankr,
# Blast, dRPC, Metis/OP nodes); any of them means "ask for fewer blocks", nothing else does.
_TOO_WIDE = (
    "block range", "range is too large", "range too large", "more than", "too many",
    "exceed maximum", "exceeds maximum", "exceeds the range", "limit exceeded",
    "response size", "query timeout", "max results",
)


def too_wide(e: BaseException) -> bool:
    """True when a provider refused an eth_getLogs for its range or its result count."""
    if not isinstance(e, Web3RPCError):
        return False
    text = str(getattr(e, "rpc_response", None) or e).lower()
    return any(phrase in text for phrase in _TOO_WIDE)


Fetch = Callable[[int, int], list[Any]]


class LogPager:
    """Walks [start, end] in windows: `window` blocks at first, halved each time the provider
    refuses, grown back by a quarter after each page it accepts (a range refused once because
    a few blocks were busy should not slow the rest of a long scan). Every request either
    advances the scan or halves the window, so a scan makes at most
    pages + log2(window) requests; a refusal at a one-block window is raised."""

    def __init__(self, window: int = 2000):
        self.max_window = max(1, window)
        self.window = self.max_window

    def pages(self, fetch: Fetch, start: int, end: int) -> Iterator[tuple[int, list[Any]]]:
        """(last block of the page, its logs) for consecutive pages from start to end."""
        lo = start
        while lo <= end:
            hi = min(end, lo + self.window - 1)
            try:
                logs = fetch(lo, hi)
            except Web3RPCError as e:
                if not too_wide(e) or hi == lo:
                    raise
                self.window = max(1, (hi - lo + 1) // 2)
                continue
            yield hi, logs
            lo = hi + 1
            self.window = min(self.max_window, self.window + max(1, self.window // 4))
