"""The gate as a Prefect flow, for training flows to wait on: it fails (GateDenied) unless the
dataset may be used, and returns the verified shard URIs when it may."""

from __future__ import annotations

from prefect import flow

from laas.api import GateVerdict, gate_dataset


@flow(name="gate")
def gate(dataset: str, run: str | None = None, min_confirmations: int | None = None) -> GateVerdict:
    return gate_dataset(dataset, run=run, min_confirmations=min_confirmations).require()
