"""The OpenLineage events of laas.tasks.openlineage, built and sent with the OpenLineage client:
imported only when LAAS_OPENLINEAGE_URL is set."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import attr
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import RunFacet, error_message_run

from laas.tasks.dataset_spec import DatasetSpec
from laas.tasks.openlineage import PRODUCER, run_id

log = logging.getLogger(__name__)


@attr.define
class LaasRunFacet(RunFacet):
    """laas's checkpoints of this run, as committed on chain."""

    dataset: str
    run: str
    checkpoints: list[dict]


def client_for(url: str) -> Any:
    from openlineage.client import OpenLineageClient

    if url.startswith(("http://", "https://")):
        from openlineage.client.transport.http import HttpConfig, HttpTransport

        return OpenLineageClient(transport=HttpTransport(HttpConfig(url=url, timeout=5.0)))
    from openlineage.client.transport.file import FileConfig, FileTransport

    path = url.removeprefix("file://")
    return OpenLineageClient(transport=FileTransport(FileConfig(log_file_path=path, append=True)))


def emit(client: Any, namespace: str, state: str, spec: DatasetSpec, run: str,
         checkpoints: tuple = (), error: str | None = None) -> None:
    inputs = [InputDataset(namespace=namespace, name=p) for p in spec.parents] or \
        [InputDataset(namespace=_namespace_of(spec.source_uri), name=spec.source_uri)]
    facets: dict[str, Any] = {"laas": LaasRunFacet(dataset=spec.name, run=run, checkpoints=[
        {"stage": c.stage, "checkpoint_id": c.checkpoint_id, "shards_root": c.shards_root,
         "shard_count": c.shard_count, "passed": c.passed, "tx_hash": c.tx_hash,
         "block_number": c.block_number, "manifest_uri": c.manifest_uri} for c in checkpoints])}
    if error:
        facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=error, programmingLanguage="python")
    event = RunEvent(
        eventType=RunState[state], eventTime=datetime.now(UTC).isoformat(), producer=PRODUCER,
        run=Run(runId=run_id(spec.name, run), facets=facets),
        job=Job(namespace=namespace, name=f"ingest.{spec.name}"),
        inputs=inputs, outputs=[OutputDataset(namespace=namespace, name=spec.name)])
    try:
        client.emit(event)
    except Exception as e:  # lineage is a copy for other tools: never worth failing a run
        log.warning("OpenLineage %s event for %s not delivered: %s", state, spec.name, e)


def _namespace_of(uri: str) -> str:
    if "://" not in uri:
        return "file"
    scheme, rest = uri.split("://", 1)
    return f"{scheme}://{rest.split('/', 1)[0]}"
