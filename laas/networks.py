"""Network profiles (LAAS_NETWORK): what laas needs to know about a chain it commits to, in one
place. Each value is only a default: an explicit LAAS_* setting overrides it.

The public URLs and explorers were taken from public chain lists and projects' configurations
that name them; nothing here contacts these networks (tests run on loopback), so the README
marks them as not checked from here. The finality defaults and log ranges are laas's choices,
not the networks' documented limits."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Finality = Literal["latest", "safe", "finalized"]
FINALITY_ORDER: tuple[Finality, ...] = ("latest", "safe", "finalized")


class NetworkProfile(BaseModel):
    model_config = ConfigDict(frozen=True)

    chain_id: int
    rpc_url: str | None  # None: the local anvil laas starts
    explorer_tx_url: str | None  # the transaction's hash is appended
    finality: Finality
    log_range: int
    currency: str


NETWORKS: dict[str, NetworkProfile] = {
    "hyperion-testnet": NetworkProfile(
        chain_id=133717, rpc_url="https://hyperion-testnet.metisdevops.link",
        explorer_tx_url="https://hyperion-testnet-explorer.metisdevops.link/tx/",
        finality="safe", log_range=1000, currency="tMETIS"),
    "lazai-testnet": NetworkProfile(
        chain_id=133718, rpc_url="https://testnet.lazai.network",
        explorer_tx_url="https://testnet-explorer.lazai.network/tx/",
        finality="safe", log_range=1000, currency="LAZAI"),
    "metis-andromeda": NetworkProfile(
        chain_id=1088, rpc_url="https://andromeda.metis.io/?owner=1088",
        explorer_tx_url="https://andromeda-explorer.metis.io/tx/",
        finality="finalized", log_range=1000, currency="METIS"),
    "local": NetworkProfile(
        chain_id=31337, rpc_url=None, explorer_tx_url=None, finality="latest",
        log_range=2000, currency="ETH"),
}


def stricter(a: Finality, b: Finality) -> Finality:
    """The more demanding of two finality levels (a policy can only add to the default)."""
    return max(a, b, key=FINALITY_ORDER.index)
