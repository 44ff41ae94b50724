"""Incremental runs in the pipeline: after the raw stage (every source's bytes hashed: the
floor of a run's cost), the plan of which shards reuse the results of the dataset's previous
passed run. That run is found and proven from the chain (each manifest's hash from its
checkpoint, each stage following from its parent), never from the store's word alone; the
files of each shard to reuse are read back and hashed on the Dask workers, and a shard whose
file no longer matches its leaf is processed again as new (the plan says so)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from laas.anchors.core.canonical import gc_paused
from laas.anchors.core.listing import SHOWN, first_of, visible
from laas.anchors.core.models import ShardEntry, StageManifest
from laas.anchors.core.reuse import (
    Reused,
    ReusedColumns,
    ReusePlan,
    confirm,
    keeps_filtered,
    nothing,
    plan_reuse,
    reused_side,
)
from laas.anchors.core.shard_columns import column, values
from laas.anchors.services.anchoring import trusted_signers
from laas.anchors.services.provenance import Proven, prove_checkpoint, prove_lineage
from laas.anchors.services.versions import previous_version
from laas.errors import AnchorError, HashMismatch, LaasError
from laas.tasks.compute import return_freed
from laas.tasks.context import StageContext
from laas.tasks.dataset_spec import DatasetSpec
from laas.tasks.key_files import KeyFiles, verified_text_keys
from laas.tasks.read_errors import describe_error
from laas.tasks.reuse_checks import reuse_problems
from laas.tasks.reuse_work import (
    REUSED_KEYS,
    pipeline_hash,
)
from laas.tasks.stage_files import fresh_dir


def keys_needed(spec: DatasetSpec) -> bool:
    """Whether the validated stage keeps the rows' duplicate keys (dataset-wide checks)."""
    suite = spec.suite
    return bool(suite.text_hash_of) and (
        spec.on_failure == "drop_rows" or suite.max_dataset_duplicate_rate is not None)


Previous = tuple[StageManifest, StageManifest, StageManifest] | str  # proven, or why not


def prove_previous(ctx: StageContext, spec: DatasetSpec, run: str, enabled: bool = True
                   ) -> Future[Previous]:
    """The previous passed run's three manifests, found and proven from the chain (or why
    not), in a thread from now: nothing in it depends on this run's shards, so it is done
    while the raw stage's workers hash them (the flow process mostly waits then) instead of
    after (a few seconds at 100,000 shards: three big manifests read and their roots
    rebuilt). reuse_plan takes the answer."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="laas-previous")
    try:
        return pool.submit(_proven_quietly, ctx, spec, run, enabled)
    finally:
        pool.shutdown(wait=False)


def _proven_quietly(ctx: StageContext, spec: DatasetSpec, run: str, enabled: bool
                    ) -> Previous:
    try:
        with gc_paused():  # three manifests parsed and proven: no cycles
            return _previous(ctx, spec, run, enabled)
    finally:
        # the parse's buffers were in this thread's glibc arena, which no other thread
        # allocates from: ~110 MB freed but held at 100,000 shards, through the rest of the run
        return_freed()


@task(name="reuse-plan", cache_policy=NO_CACHE)
def reuse_plan(ctx: StageContext, spec: DatasetSpec, run: str, raw: StageManifest,
               enabled: bool = True, previous: Future[Previous] | None = None) -> ReusePlan:
    """Which shards of this run reuse the previous passed run's results (see module doc).
    `previous`: prove_previous's answer, if the flow began it."""
    from prefect.logging import get_run_logger

    started = time.perf_counter()
    with gc_paused():  # three manifests parsed and proven, a plan of every shard: no cycles
        prev = previous.result() if previous is not None else _previous(ctx, spec, run,
                                                                         enabled)
        ok = raw.accepted_count  # from the status column: raw is parked by now
        plan = nothing(prev, ok) if isinstance(prev, str) else plan_reuse(
            raw, prev, pipeline_hash(spec))
    proven = time.perf_counter() - started
    if plan.reused:
        store = ctx.ledger.store
        store.check_links(spec.name, run)
        keys_dir = fresh_dir(f"{store.stage_dir(spec.name, run, 'validated')}/{REUSED_KEYS}") \
            if keys_needed(spec) else None
        check = {"whole_batch": True, "address": ctx.address, "batch_size": ctx.batch_size,
                 "label": "reuse check"}
        bad = reuse_problems(plan, spec, store.stage_dir(spec.name, plan.from_run, "validated"),
                             keys_dir, check)
        plan = confirm(plan, bad)
    logger = get_run_logger()
    logger.info("reuse: %d shard(s) from run %s, %d new, %d processed again%s; previous run "
                "proven and planned in %.2f s, reused files checked in %.2f s", len(plan.reused),
                plan.from_run or "-", plan.new, len(plan.not_reused),
                f" ({plan.note})" if plan.note else "", proven,
                time.perf_counter() - started - proven)
    for line in first_of([f"reuse: {key} not reused: {why}" for key, why in
                          plan.not_reused.items()], SHOWN,
                         lambda n: f"reuse: and {n} more not reused (processed again)"):
        logger.info("%s", visible(line))
    plan.park()  # the run holds its plan to its end
    return plan


def _previous(ctx: StageContext, spec: DatasetSpec, run: str, enabled: bool) -> Previous:
    if not enabled:
        return "reuse switched off (--no-reuse, or `reuse: false` in the spec)"
    try:
        registry = ctx.ledger.open_registry()
        prev = previous_version(registry, spec.name, run)
    except AnchorError as e:  # a chain that is down holds up the commits, not the work
        return f"the chain cannot be read to find a previous run ({e})"
    if prev is None:
        return "no passed run of the dataset on chain to reuse"
    try:
        # parked as proven: the three are held through this run's raw stage and its plan.
        # Its leaves are taken on its committer's word (one this machine trusts, below), as
        # its results are, so its root is not rebuilt (~1.1 CPU-s at 100,000 shards, in
        # the thread the raw stage's hashing waits on): this run's roots are built from
        # this run's entries. Its manifest must still name the root the chain holds.
        top = prove_checkpoint(registry, prev.checkpoint_id, parked=True)
        if top.stage != "validated":  # what a lying RPC endpoint named the latest version
            raise HashMismatch(f"its latest checkpoint is the {top.stage} stage, not validated")
        if top.manifest.shards_root != top.stored.shards_root:
            raise HashMismatch("its validated manifest names another root than its checkpoint")
        chain = prove_lineage(registry, top, park=True)
    except LaasError as e:  # the store lost or altered it: a full run, never its word
        return f"the previous passed run cannot be proven against the chain ({e})"
    except Exception as e:  # the store's own errors (botocore and the like): the same
        return (f"the previous passed run ({prev.checkpoint_id[:18]}…) cannot be read "
                f"from the store ({describe_error(e)}): every shard processed")
    if problem := _untrusted(ctx, registry, chain):
        return f"run {chain[0].manifest.run} {problem}: every shard processed"
    validated, normalized, old_raw = (p.manifest for p in chain)
    return old_raw, normalized, validated


def _untrusted(ctx: StageContext, registry: Any, chain: list[Proven]) -> str | None:
    """Why the previous run's results may not be taken, if they may not. Reuse takes its rows
    and results on its producer's word (nothing re-derives a reused file from the source), so
    only from keys this machine resumes from (its own, LAAS_TRUSTED_COMMITTERS with the
    role): each stage committed by one, and its manifest attested by one, a signature checked
    here, so an RPC endpoint that lies about a committer cannot make a run trusted."""
    signers = trusted_signers(ctx.ledger, registry)
    for p in chain:
        if p.stored.committer.lower() not in signers:
            return (f"was committed by {p.stored.committer}, not a committer this machine "
                    "trusts (LAAS_TRUSTED_COMMITTERS, holding the role)")
        # its hash as proven (its bytes' keccak256 is the chain's): not dumped again
        signer = ctx.ledger.store.attested_by(p.manifest, p.stored.manifest_hash)
        if signer is None or signer.lower() not in signers:
            return (f"has a {p.stage} manifest not attested by a committer this machine "
                    f"trusts (signed by {signer or 'nobody'})")
    return None


def reusable(plan: ReusePlan | None, normalized: StageManifest
             ) -> dict[str, tuple[Reused, dict]]:
    """The planned shards whose normalized entry in this run is the reused one (a resumed
    run's normalized stage may have been made under another plan), with their results."""
    if plan is None:
        return {}
    # compared by their field values (what entries compare), no entry made: both are parked
    mine = dict(zip(column(normalized.shards, "key"), values(normalized.shards), strict=True))
    planned = reused_side(plan, "normalized")
    same = [i for i, (k, row) in enumerate(zip(column(planned, "key"), values(planned),
                                               strict=True)) if mine.get(k) == row]
    reused = plan.reused  # a parked plan's entries made in bulk, only those taken
    made = reused.at(same) if isinstance(reused, ReusedColumns) else [reused[i] for i in same]
    return {r.key: (r, plan.results[r.key]) for r in made}


def all_text_keys(hashes_dir: str | KeyFiles, stage_dir: str, entries: list[ShardEntry],
                  reuse: dict[str, tuple[Reused, dict]]) -> tuple[dict, dict[str, str]]:
    """verified_text_keys over the shards validated now (in hashes_dir) and the reused ones
    (their keys, recomputed by the reuse check, in the stage's REUSED_KEYS folder)."""
    keys, bad = verified_text_keys(hashes_dir, [e for e in entries if e.key not in reuse])
    if reuse:
        more, worse = verified_text_keys(f"{stage_dir}/{REUSED_KEYS}",
                                         [r.validated for r, _ in reuse.values()])
        keys, bad = keys | more, bad | worse
    return keys, bad


def refilter(entries: list[ShardEntry], reuse: dict[str, tuple[Reused, dict]], dups: dict,
             suite: Any) -> tuple[list[ShardEntry], list[ShardEntry]]:
    """drop_rows: (the reused shards whose validated file still holds, the shards to filter
    now): a reused shard whose dataset-wide duplicates may have changed is filtered again from
    its verified normalized rows and its committed results (core.reuse.keeps_filtered)."""
    from laas.validators.row_filter import dedupe_label

    label = dedupe_label(suite)
    kept, todo = [], []
    for e in entries:
        r, result = reuse.get(e.key, (None, None))
        if r is None or e.status != "ok":
            todo.append(e)
        elif keeps_filtered(r, len(dups.get(e.key, ())), label):
            kept.append(e)
        else:
            todo.append(r.prefilter(result))
    return kept, todo


def reuse_summary(plan: ReusePlan | None, validated: StageManifest) -> dict:
    """The plan as the run's summary says it: a reused shard whose rows were filtered again
    (its dataset-wide duplicates changed) counts as processed, with why."""
    if plan is None:
        return {}
    # by columns: (uri, content hash, status) of each shard, this run's and the reused entry's
    final = dict(zip(column(validated.shards, "key"), _files(validated.shards), strict=True))
    before = reused_side(plan, "validated")
    refiltered = {k: _refiltered(final.get(k), was) for k, was in zip(
        column(before, "key"), _files(before), strict=True) if final.get(k) != was}
    return confirm(plan, refiltered).summary()


def _files(shards: Sequence[ShardEntry]) -> Iterator[tuple]:
    return zip(*(column(shards, f) for f in ("uri", "content_hash", "status")), strict=True)


def _refiltered(now: tuple | None, before: tuple) -> str:
    if now is not None and now[1:] == before[1:]:  # the same content hash and status
        # it had duplicates dropped, so it was filtered again: to the same rows
        return "its dataset-wide duplicates were checked again: the same rows kept"
    return "its rows' duplicates across the dataset changed: rows filtered again"
