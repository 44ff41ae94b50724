"""The gate as a Prefect flow, for training flows to wait on: it fails (GateDenied) unless the
dataset may be used, and returns the verified shard URIs when it may."""

from __future__ import annotations

from prefect import flow

from laas.anchors.gate import GateVerdict, check
from laas.anchors.ledger import open_registry
from laas.settings import get_settings


@flow(name="gate")
def gate(dataset: str, run: str | None = None, min_confirmations: int | None = None) -> GateVerdict:
    settings = get_settings()
    verdict = check(
        open_registry(settings, start_local=False), dataset, run=run,
        min_confirmations=settings.min_confirmations if min_confirmations is None
        else min_confirmations,
    )
    return verdict.require()
