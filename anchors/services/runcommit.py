"""A run's stages onto the chain at the end of the run, in one transaction where the registry
is format 2 (laas.anchors.adapters.registry_v2), one per stage, in order, where it is format 1. The
manifests are in the store (and attested) before anything is sent, and the transaction is
noted next to the run's last manifest before its receipt is awaited; a run whose transaction
did not land is pending as a whole and `resume` commits it once (services.resume)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

from laas.anchors.adapters.files import redact
from laas.anchors.core.models import STAGE_ORDER, STAGES, TRAINING, Checkpoint, StageManifest
from laas.anchors.core.trust import stage_problem
from laas.anchors.ports import Ledger, RegistryWriter
from laas.anchors.services.anchoring import (
    commit_manifest,
    commit_noted,
    parent_problem,
    why_trusted,
    with_backoff,
)
from laas.anchors.services.versions import require_append_only
from laas.errors import AnchorError, AnchorPending, AnchorTimeout, LaasError

if TYPE_CHECKING:
    from laas.anchors.services.resume import Resumed

Stages = Sequence[tuple[StageManifest, str]]  # a run's manifests, in stage order, with URIs


class PartlyPending(AnchorPending):
    """Format 1 only (a transaction per stage): the chain went away after `landed` did."""

    def __init__(self, message: str, landed: list[Checkpoint]):
        super().__init__(message)
        self.landed = landed


def run_problem(registry: object, stages: Stages) -> str | None:
    """Why these stages must not be committed: the first does not follow from what the chain
    holds (a derived dataset's parents), or a later one not from the stage before it."""
    first = stages[0][0]
    if problem := parent_problem(registry, first):  # type: ignore[arg-type]
        return problem
    for (prev, _), (m, _) in zip(stages, stages[1:], strict=False):
        if m.parents != (prev.checkpoint_id,):
            return f"{m.dataset}/{m.run}/{m.stage} does not name the run's {prev.stage} stage"
        if problem := stage_problem(prev, m):
            return problem
    return None


def commit_run(ledger: Ledger, stages: Stages, registry: object = None) -> list[Checkpoint]:
    """Commit the run's stages (idempotently, with backoff while the chain is unreachable),
    then index them. Raises AnchorPending when the chain stays away: nothing of the run is on
    chain then, and its manifests wait in the store."""
    last = stages[-1][0]
    what = f"{last.dataset}/{last.run}"
    reg = registry or with_backoff(ledger.open_registry,  # the chain may be away
                                   attempts=ledger.anchor_attempts,
                                   first_delay=ledger.anchor_backoff, what=what,
                                   sleep=ledger.sleep)
    for m, _ in stages:  # an append-only version must extend the latest one whole: else
        with_backoff(partial(require_append_only, reg, m),  # NotAppendOnly, nothing sent
                     attempts=ledger.anchor_attempts, first_delay=ledger.anchor_backoff,
                     what=what, sleep=ledger.sleep)
    if getattr(reg, "version", 1) < 2:  # format 1: a transaction per stage, parents first
        landed: list[Checkpoint] = []
        for m, uri in stages:
            try:
                landed.append(commit_manifest(ledger, m, uri, reg))  # type: ignore[arg-type]
            except AnchorPending as e:
                raise PartlyPending(str(e), landed) from None
        return landed
    cps = commit_noted(ledger, last, what, lambda r: run_problem(r, stages),
                       lambda r, sent, on_sent: r.commit_run(stages, sent=sent,
                                                             on_sent=on_sent), reg)
    for (m, _), cp in zip(stages, cps, strict=True):
        ledger.index.record(cp, m)
    return cps


def resume_run(ledger: Ledger, registry: object, trusted: dict[str, tuple],
               uris: dict[str, str], *, dry_run: bool) -> list[dict]:
    """Format 2: the run's stored stages (stage -> (manifest, why trusted)) committed at once,
    or found on chain and re-indexed. Only a whole run is sent (a run anchored without its
    validated stage could never get it): a run the store holds in part is left pending."""
    order = [s for s in (*STAGES, TRAINING) if s in trusted]
    manifests = [trusted[s][0] for s in order]
    out = [dict(stage=s, trust=trusted[s][1]) for s in order]
    whole = order == list(STAGES) or order == [TRAINING]
    first = manifests[0]
    registry.locate(first.dataset_id, first.run_id)  # type: ignore[attr-defined]
    try:
        on_chain = [registry.get(m.checkpoint_id) for m in manifests]  # type: ignore[attr-defined]
        if all(cp is not None and cp.manifest_hash == m.manifest_hash
               for cp, m in zip(on_chain, manifests, strict=True)):
            for cp, m in zip(on_chain, manifests, strict=True):
                row = ledger.index.checkpoint(m.checkpoint_id)
                if not dry_run and (row is None or row["tx_hash"] != cp.tx_hash):
                    ledger.index.record(cp, m)
            return [dict(d, action="on chain", checkpoint=cp)
                    for d, cp in zip(out, on_chain, strict=True)]
        if not whole:
            return [dict(d, action="pending", error="the run's stages are not all in the store "
                         f"(has {', '.join(order)}): `laas run {first.dataset} --run "
                         f"{first.run}` finishes it") for d in out]
        if dry_run:
            return [dict(d, action="would commit") for d in out]
        cps = commit_run(ledger, [(m, uris[m.manifest_hash]) for m in manifests], registry)
        return [dict(d, action="committed", checkpoint=cp) for d, cp in zip(out, cps, strict=True)]
    except AnchorTimeout as e:
        raise AnchorPending(f"resume stopped at {first.dataset}/{first.run}: {e}") from None
    except (AnchorError, LaasError) as e:
        return [dict(d, action="failed", error=redact(str(e))) for d in out]


def trusted_stages(store: object, registry: object, signers: set[str],
                   manifests: list[StageManifest]) -> tuple[dict[str, tuple], list[dict]]:
    """Per stage the newest stored manifest this process may trust, and a refusal for each
    stage none of whose manifests can be."""
    by_stage: dict[str, list[StageManifest]] = {}
    for m in manifests:
        by_stage.setdefault(m.stage, []).append(m)
    trusted, refused = {}, []
    for stage, ms in by_stage.items():
        verdicts = [(m, *why_trusted(store, registry, signers, m))  # type: ignore[arg-type]
                    for m in sorted(ms, key=lambda m: m.created_at, reverse=True)]
        ok = [(m, why) for m, good, why in verdicts if good]
        if ok:
            trusted[stage] = ok[0]
        else:
            refused.append(dict(stage=stage, action="refused",
                                trust="; ".join(why for _, _, why in verdicts)))
    return trusted, refused


def resume_whole(ledger: Ledger, registry: RegistryWriter, signers: set[str],
                 manifests: list[StageManifest], uris: dict[str, str], dry_run: bool
                 ) -> list[Resumed]:
    """Format 2: a stored run committed whole, or why not (see resume_run)."""
    from laas.anchors.services.resume import Resumed

    m = manifests[0]
    trusted, refused = trusted_stages(ledger.store, registry, signers, manifests)
    if refused:  # as format 1 reports it: the first stage not trusted, the rest wait on it
        first = min(refused, key=lambda r: STAGE_ORDER.index(r["stage"]))
        waiting = sorted({*trusted, *(r["stage"] for r in refused)} - {first["stage"]},
                         key=STAGE_ORDER.index)
        return [Resumed(dataset=m.dataset, run=m.run, **first)] + [
            Resumed(dataset=m.dataset, run=m.run, stage=s, action="pending",
                    trust=trusted[s][1] if s in trusted else None,
                    error=f"its {first['stage']} stage is not trusted") for s in waiting]
    return [Resumed(dataset=m.dataset, run=m.run, **r)
            for r in resume_run(ledger, registry, trusted, uris, dry_run=dry_run)]
