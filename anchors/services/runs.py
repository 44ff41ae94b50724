"""Which run of a dataset is "the latest": the newest by creation time (its raw manifest's
`created_at`), not the block its last commit landed in (a run resumed after the chain was down
commits late). A newer run that failed, waits for the chain, or was reorganised away makes the
default gate deny with that reason instead of silently falling back to an older run."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from laas.anchors.adapters.artifacts import named_hash, read_manifest
from laas.anchors.adapters.files import open_uri
from laas.anchors.core.canonical import name_id
from laas.anchors.core.models import STAGES, Checkpoint, checkpoint_id
from laas.anchors.ports import RegistryReader as Registry
from laas.errors import LaasError

# Canonical JSON sorts keys, so created_at is the first field: its head is enough to order runs.
_CREATED = re.compile(rb'^\{"created_at":"([^"]{10,40})"')
_NEVER = datetime.min.replace(tzinfo=UTC)
CLOCK_SKEW = timedelta(minutes=10)  # between the machine that ran and the chain's clock


def _created_at(uri: str) -> datetime:
    try:
        with open_uri(uri) as f:
            head = f.read(128)
        return datetime.fromisoformat(_CREATED.match(head).group(1).decode())
    except (OSError, ValueError, AttributeError):  # unreadable: cannot claim to be newer
        return _NEVER


def latest_run(registry: Registry, dataset: str, store: Any = None
               ) -> tuple[Checkpoint | None, str | None]:
    """(the latest run's validated checkpoint, None), or (None, why the gate must deny)."""
    if getattr(registry, "version", 1) >= 2:
        return _latest_by_pointer(registry, dataset, store)
    runs: dict[str, dict[str, Checkpoint]] = {}
    for c in registry.checkpoints(name_id(dataset)):
        if c.stage in STAGES:
            runs.setdefault(c.run_id, {})[c.stage] = c
    if not runs:
        return None, f"no validated checkpoint on chain for dataset {dataset}"
    first = {rid: stages.get("raw") or min(stages.values(), key=lambda c: c.block_number)
             for rid, stages in runs.items()}
    created = {rid: _created_at(cp.manifest_uri) for rid, cp in first.items()}
    checked: set[str] = set()
    while True:  # a run cannot be created after its first commit landed: check the claim
        newest = max(runs, key=lambda rid: (created[rid], first[rid].block_number))
        if newest in checked:
            break
        checked.add(newest)
        landed = _block_time(registry, first[newest].block_number)
        if landed is not None and created[newest] > landed + CLOCK_SKEW:
            created[newest] = landed
    # A run committed later that claims an earlier creation must prove it (its raw manifest
    # must hash to what the chain holds), or nobody can tell which run is the latest.
    for cp in first.values():
        if cp.block_number > first[newest].block_number:
            try:
                read_manifest(cp.manifest_uri, expected_hash=cp.manifest_hash)
            except LaasError as e:
                return None, f"cannot tell which run of {dataset} is the latest: {e}"
    stages = runs[newest]
    name = run_name(first[newest])
    when = created[newest].strftime("%Y-%m-%d %H:%M:%S UTC")
    if store is not None and (pending := _newer_pending(registry, store, dataset,
                                                         created[newest], runs)):
        return None, pending
    if "validated" not in stages:
        have = ", ".join(s for s in STAGES if s in stages)
        return None, (f"the latest run {name} (created {when}) has only {have} on chain: it "
                      f"waits for the chain or was interrupted; `laas anchor --resume "
                      f"{dataset} --run {name}` or `laas run {dataset} --run {name}` "
                      "finishes it, or gate an older run with --run")
    return stages["validated"], None


def _latest_by_pointer(registry: Any, dataset: str, store: Any
                       ) -> tuple[Checkpoint | None, str | None]:
    """Format 2: the contract keeps each dataset's latest run with a validated stage, so this
    is one contract read and one block's log, however many runs the dataset had."""
    cp = registry.latest(name_id(dataset))
    if cp is None:
        return None, f"no validated checkpoint on chain for dataset {dataset}"
    than = _created_at(cp.manifest_uri)
    landed = _block_time(registry, cp.block_number)
    if landed is not None and than > landed + CLOCK_SKEW:
        than = landed  # a run cannot be created after it landed
    if store is not None and (pending := _newer_pending(registry, store, dataset, than,
                                                         {cp.run_id: cp})):
        return None, pending
    return cp, None


def _block_time(registry: Registry, block: int) -> datetime | None:
    try:
        return registry.block_time(block)
    except (LaasError, ValueError, KeyError, TypeError):  # away, or an answer that is not one
        return None


def run_name(cp: Checkpoint) -> str:
    """A run's name from its manifest's folder (run ids on chain are hashes)."""
    parts = cp.manifest_uri.rsplit("/", 3)
    return parts[1] if len(parts) == 4 and name_id(parts[1]) == cp.run_id else cp.run_id[:18]


def _newer_pending(registry: Registry, store: Any, dataset: str, than: datetime,
                   on_chain: dict[str, Any]) -> str | None:
    """A run in the store that a committer attested, created after `than`, with no checkpoint
    on chain (waiting for it, or reorganised away). Unattested runs are ignored: anyone with
    write access to the store could plant them."""
    for run in store.runs(dataset):
        if name_id(run) in on_chain:
            continue
        for uri in store.find_manifests(dataset, run, "raw"):
            if _created_at(uri) <= than:
                continue
            registry.locate(name_id(dataset), name_id(run))
            if registry.stored_or_none(checkpoint_id(name_id(dataset), name_id(run), "raw")):
                continue  # on chain (format 2 lists no runs but the latest validated one)
            try:
                m = read_manifest(uri, expected_hash=named_hash(uri))
            except LaasError:
                continue
            if (m.dataset, m.run, m.stage) != (dataset, run, "raw"):
                continue  # another run's manifest copied here proves nothing about this one
            signer = store.attested_by(m)
            if signer is not None and registry.is_committer(signer):
                from laas.anchors.services.versions import refuted_run  # (imports this)

                if refuted_run(registry, store, dataset, run):
                    continue  # refused as not append-only: it will never be on chain
                return (f"a newer run {run} (created {m.created_at:%Y-%m-%d %H:%M:%S} UTC) "
                        f"is not on chain (pending anchor, or reorganised away): `laas anchor "
                        f"--resume {dataset} --run {run}` commits it; or gate an older run "
                        "with --run")
    return None
