"""A read-only look at the chain without a contract or a key: its head, and where
transactions landed (if they still are on chain after a reorganisation)."""

from __future__ import annotations

from laas.anchors.adapters.jsonrpc import Rpc, answered


class ChainView:
    """A read-only look at the chain (no key, no contract): the head, and where transactions
    landed, if they still are on chain after a reorganisation. One JSON-RPC batch per
    question, so a lineage answer costs two round trips whatever its depth."""

    TAGS = ("safe", "finalized")

    def __init__(self, rpc: Rpc):
        self.rpc = rpc
        with answered(rpc.urls):
            self.head = int(rpc.request("eth_blockNumber", []), 16)
        self._blocks: dict[str, int | None] = {}
        # The safe and finalized heads (None: the node does not know the tag), read with the
        # first receipts, in the same batch.
        self.tagged: dict[str, int | None] | None = None

    def lookup(self, tx_hashes: list[str]) -> None:
        todo = sorted(set(tx_hashes) - self._blocks.keys())
        tags = self.TAGS if self.tagged is None else ()
        if not todo and not tags:
            return
        # Raw batch: a missing receipt is a null result here, not an exception for the lot.
        with answered(self.rpc.urls):
            answers = self.rpc.batch([("eth_getTransactionReceipt", [h]) for h in todo]
                                     + [("eth_getBlockByNumber", [t, False]) for t in tags])
            for h, a in zip(todo, answers, strict=False):
                receipt = a.get("result")
                self._blocks[h] = int(receipt["blockNumber"], 16) if receipt else None
            if tags:
                blocks = [a.get("result") for a in answers[len(todo):]]
                self.tagged = {t: int(b["number"], 16) if isinstance(b, dict) else None
                               for t, b in zip(tags, blocks, strict=True)}

    def block_of(self, tx_hash: str) -> int | None:
        self.lookup([tx_hash])
        return self._blocks[tx_hash]
