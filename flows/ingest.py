"""The ingest flow: raw -> normalized -> validated, one checkpoint per stage, each the parent
of the next, committed together at the end of the run. Reads like the recipe it is; the work
is in laas.tasks."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from prefect import flow
from prefect.runtime import flow_run
from prefect.utilities.annotations import quote
from pydantic import BaseModel, ConfigDict

from laas.anchors.core.canonical import full_collections_deferred
from laas.anchors.core.models import STAGES, Checkpoint, ShardEntry, name_problem
from laas.errors import ConfigError, LaasError
from laas.settings import get_settings
from laas.tasks import openlineage
from laas.tasks.compute import dask_cluster
from laas.tasks.dataset_spec import spec_name
from laas.tasks.incremental import prove_previous, reuse_plan, reuse_summary
from laas.tasks.manifests import rows_dropped
from laas.tasks.run_names import new_run_name
from laas.tasks.run_process import claim_this_run
from laas.tasks.shares_artifact import publish_shares
from laas.tasks.stages import (
    commit_run_task,
    load_spec_task,
    normalize_stage,
    raw_stage,
    validate_stage,
)
from laas.tasks.versions import publish_version, version_claim
from laas.wiring import datasets_dirs, stage_context, use_storage


class RunSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    dataset: str
    run: str
    checkpoints: tuple[Checkpoint, ...]  # those on chain, in stage order
    pending: tuple[str, ...] = ()  # stages whose manifests wait for the chain (anchor --resume)
    set_aside: tuple[ShardEntry, ...]  # failed or quarantined, with reasons
    rows_dropped: dict[str, str] = {}  # drop_rows: shard key -> what was dropped from it
    dataset_checks: tuple[dict, ...] = ()  # checks over all accepted shards at once
    passed: bool
    seconds: dict[str, float] = {}  # wall time per stage and per commit
    reuse: dict = {}  # incremental run: shards reused from which run, and why any was not


class _Laps:
    """Wall time since the previous lap, by name."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self._last = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.times[name] = round(now - self._last, 3)
        self._last = now


def _run_name() -> str:
    """DATASET-RUN, by the spec's name when the flow was given its file (`laas runs DATASET`
    finds runs by it); a spec that does not load keeps what was given, the flow says why."""
    p = flow_run.parameters
    try:
        name = spec_name(p["dataset"], list(datasets_dirs(get_settings())))
    except LaasError:
        name = p["dataset"]
    return f"{name}-{p.get('run') or 'new'}"


@flow(name="ingest", flow_run_name=_run_name, log_prints=True)
def ingest(dataset: str, run: str | None = None, dask_address: str | None = None,
           reuse: bool = True) -> RunSummary:
    settings = get_settings()
    use_storage(settings)  # the flow's entry is its composition root
    for gone in claim_this_run():  # a killed run shows Crashed, not Running for good
        print(f"marked Crashed: flow run {gone} (its process is gone)")
    run = run or new_run_name()
    if problem := name_problem("run", run):  # a deployment's parameter is user input too
        raise ConfigError(problem)
    spec = load_spec_task(dataset, datasets_dirs(settings))
    lap = _Laps()
    # the run holds its manifests and its previous run's: full collections would walk them
    with full_collections_deferred(), openlineage.run_events(spec, run, settings.openlineage_url,
                                settings.openlineage_namespace) as events, dask_cluster(
            dask_address or settings.dask_address, settings.dask_workers,
            settings.dask_cluster) as address:
        lap("cluster")
        # A stage's parent is its predecessor's checkpoint id, known before that commits, so
        # the run's stages go on chain together at its end (one transaction on a format-2
        # registry); a chain that is down holds up the commit (pending anchor), not the work.
        # Manifests go in quote(): Prefect would otherwise walk every shard entry of every
        # argument looking for futures (seconds per thousand shards).
        context = stage_context(settings, address)
        ctx = quote(context)
        claim = version_claim(ctx, spec, run)  # append-only: the version this run extends
        # Incremental: unchanged shards keep the previous passed run's results (proven, in
        # a thread while the raw stage runs)
        previous = prove_previous(context, spec, run, reuse and spec.reuse)
        since = datetime.now(UTC)  # a stage manifest made after this was not resumed
        raw = raw_stage(ctx, spec, run)
        lap("raw")
        plan = reuse_plan(ctx, spec, run, quote(raw), reuse and spec.reuse, quote(previous))
        del previous  # the previous run's manifests: what of them is reused, the plan holds
        lap("reuse")
        normalized = normalize_stage(ctx, spec, run, quote(raw), raw.checkpoint_id, quote(plan),
                                     since)
        lap("normalized")
        validated = validate_stage(ctx, spec, run, quote(normalized), normalized.checkpoint_id,
                                   claim, quote(plan), since)
        lap("validated")
        cps = commit_run_task(ctx, quote([raw, normalized, validated]))
        lap("commit")
        stages = dict(zip(STAGES, [*cps, None, None, None], strict=False))
        if stages["validated"] is not None:
            publish_version(ctx, quote(validated))  # append-only: what this version added
            publish_shares(quote(validated))  # contributors, if the source names them
        events.checkpoints = tuple(cp for cp in stages.values() if cp is not None)
    return RunSummary(
        dataset=spec.name,
        run=run,
        checkpoints=events.checkpoints,
        pending=tuple(stage for stage, cp in stages.items() if cp is None),
        set_aside=tuple(validated.quarantined),
        rows_dropped=rows_dropped(normalized, validated),
        dataset_checks=tuple((validated.validation or {}).get("dataset", ())),
        passed=validated.passed,
        seconds=lap.times,
        reuse=reuse_summary(plan, validated),
    )
