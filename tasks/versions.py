"""Versions in the pipeline: an append-only dataset's run claims, in its validated manifest,
the version it extends (the dataset's latest passed version on chain when the run starts;
none for its first). The commit checks the claim against the chain before anything is sent
(laas.anchors.services.versions.require_append_only), and so does the gate."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from laas.anchors.services.versions import previous_version
from laas.tasks.context import StageContext
from laas.tasks.dataset_spec import DatasetSpec


@task(name="version-claim", cache_policy=NO_CACHE)
def version_claim(ctx: StageContext, spec: DatasetSpec, run: str) -> dict | None:
    """The validated manifest's versioning fields (None for a mutable dataset). Needs the
    chain: an append-only run cannot tell what it extends without it."""
    if spec.versioning != "append_only":
        return None
    prev = previous_version(ctx.ledger.open_registry(), spec.name, run)
    return {"versioning": "append_only",
            "appends_to": prev.checkpoint_id if prev is not None else None}
