"""The gate as a Prefect flow, for training flows to wait on: it fails (GateDenied) unless the
dataset may be used, and returns the verdict as JSON data (`shards`: the verified URIs,
`keys`, `hashes`, `checkpoint`, ...) when it may. With `record`, the allowed shard set is
committed as that training record (with its contributors' shares) and the shares published
as an artifact, as `laas gate --record` does."""

from __future__ import annotations

from typing import Any

from prefect import flow

from laas.api import gate_dataset
from laas.networks import Finality


@flow(name="gate")
def gate(dataset: str, run: str | None = None, min_confirmations: int | None = None,
         finality: Finality | None = None, record: str | None = None) -> dict[str, Any]:
    """finality: latest, safe or finalized (default LAAS_FINALITY or the network's). Not the
    GateVerdict itself: Prefect reads a returned model as a mapping, and the verdict's `keys`
    field is not the method that needs (every allowed run of this flow failed so)."""
    verdict = gate_dataset(dataset, run=run, min_confirmations=min_confirmations,
                           finality=finality).require()
    if record:  # signs: the committer key is read only for this
        from prefect.utilities.annotations import quote

        from laas.settings import get_settings
        from laas.tasks.training import record_training_set
        from laas.wiring import ledger

        # quoted: Prefect would take the verdict apart as a mapping (it has a `keys` field)
        record_training_set(quote(ledger(get_settings(), start_local=False)), quote(verdict),
                            record)
    return verdict.model_dump(mode="json")
