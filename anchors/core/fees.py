"""What a transaction bids, and what a run may spend. Pure: the node's fee history in, numbers
out (laas.anchors.adapters.wallet asks the node and signs).

Bids (EIP-1559): the priority fee is a percentile of what recent blocks' transactions tipped
(eth_feeHistory), so a quiet chain is not overpaid and a busy one is met; maxFeePerGas is the
next block's base fee times a headroom plus that tip. A base fee rises at most 12.5% a block,
so a headroom of 2 keeps a transaction valid through about six full blocks in a row; what is
not used of maxFeePerGas is never charged.

The cap (LAAS_MAX_FEE_PER_RUN): a transaction is sent only if its worst case (gas limit x
maxFeePerGas) fits in what is left of the cap, counting what earlier transactions paid and
what those still unmined may pay. A refusal is AnchorPending: the run keeps its manifests and
`laas anchor --resume` sends later, with the cap raised or fees lower."""

from __future__ import annotations

import threading
from decimal import Decimal
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict

from laas.errors import AnchorPending

WEI = Decimal(10) ** 18
GWEI = 10**9
MIN_TIP = 1  # wei: a quiet chain's history tips nothing; some nodes refuse a zero tip


class FeeCapExceeded(AnchorPending):
    """A transaction was not sent: its worst-case fee would pass LAAS_MAX_FEE_PER_RUN."""


class Bid(BaseModel):
    model_config = ConfigDict(frozen=True)

    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    base_fee: int  # the next block's, when the bid was made

    def fields(self) -> dict[str, int]:
        return {"maxFeePerGas": self.max_fee_per_gas,
                "maxPriorityFeePerGas": self.max_priority_fee_per_gas}


def recent_tips(history: Any) -> list[int]:
    """The asked percentile's tip of each block in an eth_feeHistory answer, sorted."""
    return sorted(int(r[0]) for r in (history.get("reward") or []) if r)


def bid(history: Any, *, headroom: float, max_fee_wei: int | None = None,
        quiet_tip: int = MIN_TIP) -> Bid:
    """A bid from an eth_feeHistory answer (one reward percentile asked): the median over the
    blocks of that percentile's tip, and the last base fee (the next block's) x headroom.
    quiet_tip: the tip when recent blocks tipped nothing (a quiet chain: the node's own
    suggestion, since a node may refuse less). max_fee_wei (LAAS_MAX_FEE_GWEI) caps
    maxFeePerGas; the tip never exceeds it."""
    base = int(history["baseFeePerGas"][-1])
    tips = recent_tips(history)
    tip = tips[len(tips) // 2] if tips else 0
    tip = max(MIN_TIP, tip or quiet_tip)
    top = int(base * Decimal(str(headroom))) + tip
    if max_fee_wei is not None:
        top = min(top, max_fee_wei)
    return Bid(max_fee_per_gas=top, max_priority_fee_per_gas=min(tip, top), base_fee=base)


def worst_case(tx: dict[str, Any]) -> int:
    """The most a transaction can cost: its gas limit at its highest price per gas."""
    return int(tx["gas"]) * int(tx.get("maxFeePerGas") or tx.get("gasPrice") or 0)


def amount(wei: int, currency: str) -> str:
    """Wei as a decimal amount of the chain's currency, e.g. '0.000532 ETH'."""
    value = (Decimal(wei) / WEI).normalize()
    return f"{value:f} {currency}"


class FeeBudget:
    """What one run may spend on fees in all. Thread-safe: a run's stages may commit from
    several threads. Each transaction (by nonce) holds a reservation of its worst case until
    its receipt says what it paid; a fee-bumped resend of the same nonce replaces it."""

    def __init__(self, cap_wei: int, currency: str = "ETH", setting: str = ""):
        self.cap = cap_wei
        self.currency = currency
        self.setting = setting or f"LAAS_MAX_FEE_PER_RUN={amount(cap_wei, currency)}"
        self.spent = 0
        self._held: dict[int, int] = {}
        self._lock = threading.Lock()
        self.refusal: str | None = None  # the last refusal's message, for the run's summary

    def left(self) -> int:
        with self._lock:
            return self.cap - self.spent - sum(self._held.values())

    def fits(self, nonce: int, tx: dict[str, Any]) -> bool:
        """Reserve the transaction's worst case if it fits (replacing the nonce's earlier
        reservation), else leave everything as it was."""
        worst = worst_case(tx)
        with self._lock:
            left = self.cap - self.spent - sum(v for k, v in self._held.items() if k != nonce)
            if worst > left:
                return False
            self._held[nonce] = worst
            return True

    def reserve(self, nonce: int, tx: dict[str, Any]) -> None:
        """fits(), or FeeCapExceeded with a one-line message saying what to do."""
        if self.fits(nonce, tx):
            return
        gas, price = int(tx["gas"]), int(tx.get("maxFeePerGas") or tx.get("gasPrice") or 0)
        message = (
            f"fee cap: a transaction of up to {gas:,} gas at up to "
            f"{Decimal(price) / GWEI:f} gwei could cost {amount(worst_case(tx), self.currency)}"
            f", more than the {amount(max(0, self.left()), self.currency)} left of "
            f"{self.setting} for this run; not sent: raise the cap or wait for lower fees, "
            "then `laas anchor --resume`")
        self.refusal = message
        raise FeeCapExceeded(message)

    def paid(self, nonce: int, receipt: Any) -> None:
        """The nonce's transaction was mined: what it paid replaces its reservation."""
        price = receipt.get("effectiveGasPrice")
        with self._lock:
            held = self._held.pop(nonce, 0)
            self.spent += int(receipt["gasUsed"]) * int(price) if price is not None else held


@lru_cache(maxsize=4)
def run_budget(cap: Decimal, currency: str) -> FeeBudget:
    """The one budget of this process for a cap: every commit attempt opens its own registry
    and Sender, and they must all draw on it. A process runs one `laas run`, or one `laas
    anchor --resume`, so the cap counts what that process sends."""
    return FeeBudget(int(cap * WEI), currency, f"LAAS_MAX_FEE_PER_RUN={cap}")
