"""A read-only look at the chain without a contract or a key: its head, and where
transactions landed (if they still are on chain after a reorganisation)."""

from __future__ import annotations

from typing import Any


class ChainView:
    """A read-only look at the chain (no key, no contract): the head, and where transactions
    landed, if they still are on chain after a reorganisation. One JSON-RPC batch per
    question, so a lineage answer costs two round trips whatever its depth."""

    def __init__(self, w3: Any):
        self.w3 = w3
        self.head = w3.eth.block_number
        self._blocks: dict[str, int | None] = {}

    def lookup(self, tx_hashes: list[str]) -> None:
        todo = sorted(set(tx_hashes) - self._blocks.keys())
        if not todo:
            return
        # Raw batch: a missing receipt is a null result here, not an exception for the lot.
        answers = self.w3.provider.make_batch_request(
            [("eth_getTransactionReceipt", [h]) for h in todo])
        for h, a in zip(todo, sorted(answers, key=lambda a: a["id"]), strict=True):
            receipt = a.get("result")
            self._blocks[h] = int(receipt["blockNumber"], 16) if receipt else None

    def block_of(self, tx_hash: str) -> int | None:
        self.lookup([tx_hash])
        return self._blocks[tx_hash]
