"""The ingest flow: raw -> normalized -> validated, one checkpoint per stage, each the parent
of the next. Reads like the recipe it is; the work is in laas.tasks."""

from __future__ import annotations

from prefect import flow
from prefect.runtime import flow_run
from pydantic import BaseModel, ConfigDict

from laas.anchors.models import Checkpoint, ShardEntry
from laas.settings import get_settings
from laas.tasks.compute import dask_cluster
from laas.tasks.manifests import new_run_name
from laas.tasks.stages import (
    commit_stage,
    load_spec_task,
    normalize_stage,
    raw_stage,
    validate_stage,
)


class RunSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    dataset: str
    run: str
    checkpoints: tuple[Checkpoint, ...]
    set_aside: tuple[ShardEntry, ...]  # failed or quarantined, with reasons
    dataset_checks: tuple[dict, ...] = ()  # checks over all accepted shards at once
    passed: bool


def _run_name() -> str:
    p = flow_run.parameters
    return f"{p['dataset']}-{p.get('run') or 'new'}"


@flow(name="ingest", flow_run_name=_run_name, log_prints=True)
def ingest(dataset: str, run: str | None = None, dask_address: str | None = None) -> RunSummary:
    settings = get_settings()
    run = run or new_run_name()
    spec = load_spec_task(dataset)
    with dask_cluster(dask_address or settings.dask_address, settings.dask_workers) as address:
        raw = raw_stage(spec, run, address)
        raw_cp = commit_stage(raw)
        normalized = normalize_stage(spec, run, raw, raw_cp.checkpoint_id, address)
        normalized_cp = commit_stage(normalized)
        validated = validate_stage(spec, run, normalized, normalized_cp.checkpoint_id, address)
        validated_cp = commit_stage(validated)
    return RunSummary(
        dataset=spec.name,
        run=run,
        checkpoints=(raw_cp, normalized_cp, validated_cp),
        set_aside=tuple(validated.quarantined),
        dataset_checks=tuple((validated.validation or {}).get("dataset", ())),
        passed=validated.passed,
    )
