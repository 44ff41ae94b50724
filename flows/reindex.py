"""Rebuild the lineage index from the chain and the manifests (the index is only a cache)."""

from __future__ import annotations

from prefect import flow, task

from laas.anchors.services.lineage import rebuild_index
from laas.settings import get_settings
from laas.wiring import open_index, open_reader


@task(name="rebuild-index", retries=2, retry_delay_seconds=[5, 30])
def rebuild() -> int:
    settings = get_settings()
    return rebuild_index(open_reader(settings), open_index(settings)).indexed


@flow(name="reindex")
def reindex() -> int:
    return rebuild()
