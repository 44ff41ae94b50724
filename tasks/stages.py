"""Prefect tasks: one per stage (its shards run on Dask in batches) and one commit per run, each
thin over plain functions, each resuming from what an earlier attempt of the run stored."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import numpy as np
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from laas.anchors.adapters.files import redact
from laas.anchors.core.listing import SHOWN, first_of, visible
from laas.anchors.core.models import Checkpoint, ShardEntry, StageManifest
from laas.anchors.core.reuse import reused_side
from laas.anchors.core.shard_columns import derived, picked
from laas.anchors.services.anchoring import reusable_manifest, store_manifest
from laas.errors import AnchorPending, AnchorTimeout, ConfigError, LaasError
from laas.tasks import fused
from laas.tasks.attributed import raw_work
from laas.tasks.compute import map_shards, warm_workers
from laas.tasks.context import WORKER_WARM, StageContext
from laas.tasks.dataset_spec import DatasetSpec, load_spec
from laas.tasks.incremental import ReusePlan, all_text_keys, refilter, reusable
from laas.tasks.manifests import build_manifest, publish_artifacts, result_of
from laas.tasks.parents import derived_sources
from laas.tasks.raw_hashing import discover, hash_sources
from laas.tasks.rows import distinct_rows, filter_shard, later_duplicates
from laas.tasks.stage_files import clear_stage_dir, fresh_dir, name_clashes, set_aside
from laas.validators.suites import dropped_rows_outcome, duplicate_rate_outcome

RETRY_DELAYS = [2, 10, 30]


def _transient(task: object, task_run: object, state: Any) -> bool:
    """Retry what may pass next time (network, storage, a slow chain), not a bad spec, a
    revert or a refused key: those fail the same way again."""
    exc = state.data if isinstance(state.data, BaseException) else None
    return not isinstance(exc, LaasError) or isinstance(exc, AnchorTimeout)


# NO_CACHE: laas resumes from its own manifests; Prefect's default policy would hash every
# input (a whole manifest) on each call to compute a cache key nobody reads.
RETRY = {"retries": 2, "retry_delay_seconds": RETRY_DELAYS, "retry_condition_fn": _transient,
         "cache_policy": NO_CACHE}


def _bad_status(spec: DatasetSpec) -> str:
    return "failed" if spec.on_failure == "fail_stage" else "quarantined"


def _batching(ctx: StageContext, todo: list[ShardEntry]) -> dict[str, Any]:
    """Shards per Dask task, weighted by the bytes the previous stage saw."""
    return {"batch_size": ctx.batch_size, "batch_bytes": ctx.batch_bytes,
            "weights": [s.byte_size for s in todo]}


def _resume(ctx: StageContext, spec: DatasetSpec, run: str, stage: str) -> StageManifest | None:
    """What an earlier attempt of this run computed for the stage, if it can be trusted (its
    hash on chain, or attested by a trusted committer); anything else found is ignored."""
    found, notes = reusable_manifest(ctx.ledger, spec.name, run, stage)
    logger = get_run_logger()
    for note in notes:
        logger.warning("%s: %s", stage, note)
    if found is not None:
        logger.info("%s: resuming from the stored manifest %s", stage, found.manifest_hash)
    return found


def _begin(ctx: StageContext, spec: DatasetSpec, run: str, stage: str,
           parent: StageManifest | None = None, since: datetime | None = None
           ) -> tuple[StageManifest | None, str]:
    """Every stage starts here: an earlier attempt's trusted manifest of it (then nothing is
    recomputed), or else the stage's folder, the run's folders checked for planted links.
    Never an earlier attempt's once `parent` was made again (after `since`): it came from
    bytes this parent may not have hashed (a source changed, its manifest deleted)."""
    if (done := _resume(ctx, spec, run, stage)) is not None:
        if parent is None or since is None or parent.created_at < since:
            return done, ""
        get_run_logger().warning("%s: not resuming from %s: its parent stage was computed "
                                 "again by this run; recomputing", stage, done.manifest_hash)
    ctx.ledger.store.check_links(spec.name, run)
    return None, ctx.ledger.store.stage_dir(spec.name, run, stage)


@task(name="load-spec", cache_policy=NO_CACHE)
def load_spec_task(dataset: str, datasets_dirs: tuple = ()) -> DatasetSpec:
    return load_spec(dataset, list(datasets_dirs) or None)


@task(name="raw-stage", **RETRY)
def raw_stage(ctx: StageContext, spec: DatasetSpec, run: str) -> StageManifest:
    done, _ = _begin(ctx, spec, run, "raw")
    if done is not None:
        return done
    found, parents = derived_sources(ctx, spec) if spec.parents else (discover(spec), ())
    if not found:
        raise ConfigError(f"dataset {spec.name}: no shard matches {spec.source_uri}")
    hash_fn, items, extra = raw_work(spec, found)  # with attribution, if the spec has it
    warm_workers(ctx.address, WORKER_WARM)  # ready for the validate stage
    entries = hash_sources(hash_fn, items, extra, address=ctx.address,
                           batch_size=ctx.batch_size, bad_status=_bad_status(spec))
    return _log(ctx, build_manifest(spec, run, "raw", entries, parents))


@task(name="normalize-stage", **RETRY)
def normalize_stage(ctx: StageContext, spec: DatasetSpec, run: str, raw: StageManifest,
                    parent: str, plan: ReusePlan | None = None, since: datetime | None = None
                    ) -> StageManifest:
    """With a plan (incremental run), the shards it reuses keep the previous run's file."""
    done, out_dir = _begin(ctx, spec, run, "normalized", raw, since)
    if done is not None:
        return done
    clear_stage_dir(out_dir)
    clashes = name_clashes(raw.shards)
    kept = {e.key: e for e in reused_side(plan, "normalized") if e.key not in clashes}
    todo = [set_aside(e, clashes[e.key], _bad_status(spec)) if e.key in clashes else e
            for e in picked(raw.shards, lambda k: k not in kept)]
    # drop_rows: a source record no reader can take is left out, kept beside the stage
    dropped_dir = fresh_dir(f"{out_dir}-dropped") if spec.on_failure == "drop_rows" else None
    # each shard validated as it is normalized (read once); the validate stage takes those
    entries = fused.normalize_map(ctx, spec, run, todo, out_dir, _bad_status(spec), dropped_dir,
                                  **_batching(ctx, todo))
    del todo  # the raw entries made again from their columns: not held through the build
    m = _log(ctx, build_manifest(spec, run, "normalized", entries + [*kept.values()], (parent,)))
    fused.done(spec, run, m)
    return m


@task(name="validate-stage", **RETRY)
def validate_stage(ctx: StageContext, spec: DatasetSpec, run: str, normalized: StageManifest,
                   parent: str, claim: dict | None = None, plan: ReusePlan | None = None,
                   since: datetime | None = None) -> StageManifest:
    early = fused.take(spec, run)  # taken whatever follows: an attempt after this makes its own
    done, stage_dir = _begin(ctx, spec, run, "validated", normalized, since)
    if done is not None:
        return done
    suite = spec.suite
    drop = spec.on_failure == "drop_rows"
    dataset_check = suite.max_dataset_duplicate_rate is not None and bool(suite.text_hash_of)
    reuse = reusable(plan, normalized)
    todo = [e.as_parent() for e in picked(normalized.shards, lambda k: k not in reuse)]
    # made with the normalized stage, or else here
    if early is None or (entries := early.entries_for(normalized, todo)) is None:
        early, entries = fused.validate_apart(ctx, spec, stage_dir, todo, _bad_status(spec),
                                              **_batching(ctx, todo))
    shared, keys = early.shared, early.keys
    del todo, early  # the normalized entries made again from their columns: not held from here
    results = shared.results
    entries += [r.validated for r, _ in reuse.values()]
    results.update((key, result) for key, (_, result) in reuse.items())
    text_keys: dict = {}
    if keys is not None:  # the store's copy of the keys, checked against the entries
        text_keys, rewritten = all_text_keys(keys, stage_dir, entries, reuse)
        entries = [e.model_copy(update={"status": _bad_status(spec), "reason": rewritten[e.key]})
                   if e.key in rewritten and e.status == "ok" else e for e in entries]
    from laas.validators.row_filter import dedupe_label

    checks: tuple = ()
    if drop:
        entries = _drop_rows(ctx, spec, entries, results, stage_dir, text_keys, reuse)
        checks = (dropped_rows_outcome(spec.max_dropped_rows, entries, {
            e.key: e.left_out for e in derived(normalized.shards)}),)
    if dataset_check and (not drop or dedupe_label(suite) is None):  # duplicates were kept
        rows, distinct = distinct_rows(text_keys, [e.key for e in entries if e.status == "ok"])
        checks += (duplicate_rate_outcome(suite.max_dataset_duplicate_rate, rows, distinct),)
    text_keys.clear()  # ~1 KB of Arrow per shard, not needed while the manifest is built
    return _log(ctx, build_manifest(spec, run, "validated", entries, (parent,), checks, claim,
                                    results))


def _drop_rows(ctx: StageContext, spec: DatasetSpec, entries: list, results: dict,
               stage_dir: str, text_keys: dict, reuse: dict) -> list:
    """Row-level filtering: the dataset's later duplicates (first kept), then each shard
    written without its failing rows (the worker reads its results from its entry), or set
    aside when rows cannot settle it."""
    from laas.validators.row_filter import set_aside_anyway

    for sub in ("shards", "dropped"):  # nothing left or planted there is written through
        fresh_dir(f"{stage_dir}/{sub}")
    whole = [e.key for e in entries if e.status == "ok" and not set_aside_anyway(
        result_of(e, results), e.rows, spec.suite, spec.max_dropped_rows)]
    dups = later_duplicates(text_keys, whole)
    kept, todo = refilter(entries, reuse, dups, spec.suite)
    todo = [e if e.validation is not None or e.key not in results
            else e.model_copy(update={"validation": results[e.key]}) for e in todo]
    return kept + map_shards(filter_shard, [(e, dups.get(e.key, np.empty(0, int)).tolist())
                                            for e in todo], address=ctx.address,
                             label="drop rows", batch_size=ctx.batch_size, spec=spec,
                             out_dir=stage_dir, bad_status=_bad_status(spec))


@task(name="commit-run", **RETRY)
def commit_run_task(ctx: StageContext, manifests: list[StageManifest]) -> list[Checkpoint]:
    """Commit the run's stages, each its own checkpoint naming its parent, at once: one
    transaction on a format-2 registry (idempotent: a run on chain with these manifests is
    returned). The manifests are attested first, and written again unless the store still
    holds their exact bytes (the store is not trusted to have kept them). Fewer checkpoints
    than stages when the run is pending anchor (the chain stayed unreachable through the
    retries): on a format-2 registry none, and `laas anchor --resume` commits the run whole;
    on format 1 the stages that landed before the chain went away."""
    from laas.anchors.services.runcommit import PartlyPending, commit_run

    stages = [(m, _store(ctx, m)) for m in manifests]
    logger = get_run_logger()
    try:
        cps = commit_run(ctx.ledger, stages)
    except AnchorPending as e:
        logger.warning("%s; manifests kept at %s: `laas anchor --resume` commits the run", e,
                       ", ".join(redact(uri) for _, uri in stages))
        cps = e.landed if isinstance(e, PartlyPending) else []
    for m, cp in zip(manifests, cps, strict=False):
        publish_artifacts(m, cp, ctx.tx_link(cp.tx_hash) if ctx.tx_link else None)
        logger.info("%s: committed %s in block %d (tx %s)", m.stage, cp.checkpoint_id[:18],
                    cp.block_number, cp.tx_hash)
    return cps


def _store(ctx: StageContext, m: StageManifest) -> str:
    """Store (and attest) a manifest, unless the store holds its bytes already; its bytes are
    not kept: the flow holds every stage's manifest until the run commits, and their JSON is
    the largest part of them, then their entries, which are held as columns from here."""
    uri = store_manifest(ctx.ledger, m, rewrite=False)
    m.drop_bytes()
    m.park()  # its entries as columns: the run reads them a few times more at most
    return uri


def _log(ctx: StageContext, m: StageManifest) -> StageManifest:
    """Log the stage, and keep its manifest (with the committer's attestation) in the store
    now: the run commits at its end, and a rerun reuses what is kept."""
    _store(ctx, m)
    logger = get_run_logger()
    logger.info("%s: %d shards, %d accepted, root %s, passed=%s", m.stage, len(m.shards),
                m.accepted_count, m.shards_root[:18], m.passed)
    aside = [f"{m.stage}: shard {s.key} {s.status}: {s.reason}" for s in m.quarantined]
    for line in first_of(aside, SHOWN, lambda n: f"{m.stage}: and {n} more shard(s) set aside "
                         "(its manifest and `laas run --json` list each)"):
        logger.warning("%s", visible(line))
    for check in (m.validation or {}).get("dataset", []):
        logger.log(logging.INFO if check["success"] else logging.WARNING,
                   "%s: dataset check %s held=%s (%s)", m.stage, check["type"], check["success"],
                   check["observed"])
    return m
