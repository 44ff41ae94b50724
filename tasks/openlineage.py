"""OpenLineage run events for each ingest run (START, COMPLETE, FAIL), so Marquez, DataHub or
any OpenLineage consumer draws the same graph laas keeps: inputs are the source (or, for a
derived dataset, its parent datasets), the output is the dataset, and a custom `laas` facet
carries each stage's checkpoint id, root, transaction and block. LAAS_OPENLINEAGE_URL picks
the transport: http(s)://host[:port] (POST /api/v1/lineage) or a file path (one JSON event per
line); unset, nothing is emitted. Emitting never fails a run: a lost event is logged."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from laas.tasks.dataset_spec import DatasetSpec

PRODUCER = "https://github.com/laas/laas"


def run_id(dataset: str, run: str) -> str:
    """One id per laas run, the same in every event and on resume."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"laas:{dataset}:{run}"))


class _Events:
    checkpoints: tuple = ()


@contextmanager
def run_events(spec: DatasetSpec, run: str, url: str | None, namespace: str
               ) -> Iterator[_Events]:
    """START now; FAIL with the error if the block raises; COMPLETE with the checkpoints the
    block set on the yielded object otherwise. url None: no events."""
    events = _Events()
    if not url:  # the OpenLineage client is not even imported (~0.15 s of CPU per run)
        yield events
        return
    from laas.tasks.openlineage_events import client_for, emit

    client = client_for(url)
    emit(client, namespace, "START", spec, run)
    try:
        yield events
    except Exception as e:
        emit(client, namespace, "FAIL", spec, run, error=str(e))
        raise
    emit(client, namespace, "COMPLETE", spec, run, events.checkpoints)


