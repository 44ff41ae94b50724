"""Versions of a dataset from the chain: which runs passed, in the order the chain committed
them; what changed between two (laas.anchors.core.versions), from validated manifests each
checked against its checkpoint (services.provenance, the path the gate, verify and the reader
share) and against its committed root, never from the store's word alone; and whether an
append-only dataset's version keeps its claim (the gate, and every commit, check it)."""

from __future__ import annotations

from laas.anchors.adapters.artifacts import named_hash, read_manifest
from laas.anchors.core.canonical import name_id
from laas.anchors.core.models import Checkpoint, StageManifest, checkpoint_id
from laas.anchors.core.versions import VersionDiff, VersionRef, append_problem, diff_manifests
from laas.anchors.ports import RegistryReader as Registry
from laas.anchors.ports import Store
from laas.anchors.services.provenance import Proven, prove_rooted
from laas.anchors.services.runs import run_name
from laas.errors import HashMismatch, LaasError, LineageNotFound, NotAppendOnly


def passed_versions(registry: Registry, dataset: str) -> list[Checkpoint]:
    """The dataset's passed validated checkpoints, oldest first, in the chain's order (the
    block, then the log within it): an event scan, as `laas runs` does."""
    found = [c for c in registry.checkpoints(name_id(dataset))
             if c.stage == "validated" and c.passed]
    return sorted(found, key=lambda c: c.block_number)  # stable: log order within a block


def previous_version(registry: Registry, dataset: str, run: str | None = None
                     ) -> Checkpoint | None:
    """The dataset's latest passed version on chain other than run `run`: on a format-2
    registry one contract read when its latest run passed, else a scan."""
    rid = name_id(run) if run is not None else None
    if getattr(registry, "version", 1) >= 2:
        cp = registry.latest(name_id(dataset))
        if cp is not None and cp.passed and cp.run_id != rid:
            return cp
    found = [c for c in passed_versions(registry, dataset) if c.run_id != rid]
    return found[-1] if found else None


def prove_version(registry: Registry, cid: str, label: str, parked: bool = False) -> Proven:
    """A validated checkpoint and its manifest, checked against the chain (its hash) and its
    committed root; HashMismatch naming the version otherwise. parked: its shards held as
    columns (read_manifest's)."""
    try:
        return prove_rooted(registry, cid, parked=parked)
    except HashMismatch as e:
        raise HashMismatch(f"version {label}: {e}") from None


def version_of(registry: Registry, dataset: str, run: str) -> Proven:
    """Run `run` of the dataset, as a version (see prove_version)."""
    did, rid = name_id(dataset), name_id(run)
    registry.locate(did, rid)
    cid = checkpoint_id(did, rid, "validated")
    if registry.stored_or_none(cid) is None:
        raise LineageNotFound(f"dataset {dataset} has no validated checkpoint on chain for run "
                              f"{run}: `laas versions {dataset}` lists its passed ones")
    return prove_version(registry, cid, run)


def ref(p: Proven) -> VersionRef:
    m, cp = p.manifest, p.checkpoint
    return VersionRef(run=m.run, checkpoint_id=cp.checkpoint_id,
                      shards_root=p.stored.shards_root,
                      manifest_hash=p.stored.manifest_hash, block_number=cp.block_number,
                      passed=bool(p.stored.passed), shards=m.accepted_count,
                      appends_to=m.appends_to)


def pick_versions(registry: Registry, dataset: str, old: str | None = None,
                  new: str | None = None) -> tuple[Proven, Proven]:
    """The two versions asked for, proven: by default the latest passed one, and the passed
    one before it (in the chain's order)."""
    versions = passed_versions(registry, dataset) if old is None or new is None else []
    if new is not None:
        newer = version_of(registry, dataset, new)
    elif versions:
        newer = prove_version(registry, versions[-1].checkpoint_id, "latest")
    else:
        raise LineageNotFound(f"dataset {dataset} has no passed version on chain")
    if old is not None:
        return version_of(registry, dataset, old), newer
    ids = [c.checkpoint_id for c in versions]
    cid, block = newer.checkpoint.checkpoint_id, newer.checkpoint.block_number
    before = versions[:ids.index(cid)] if cid in ids else \
        [c for c in versions if c.block_number < block]
    if not before:
        raise LineageNotFound(f"run {newer.manifest.run} is the first passed version of "
                              f"{dataset}: nothing to compare it with; name two runs")
    return prove_version(registry, before[-1].checkpoint_id, "previous"), newer


def diff_versions(registry: Registry, dataset: str, old: str | None = None,
                  new: str | None = None) -> VersionDiff:
    """What changed from version `old` to `new` (see pick_versions for the defaults)."""
    a, b = pick_versions(registry, dataset, old, new)
    added, removed, changed, unchanged = diff_manifests(a.manifest, b.manifest)
    return VersionDiff(dataset=dataset, old=ref(a), new=ref(b), added=added, removed=removed,
                       changed=changed, unchanged=unchanged,
                       append_problem=append_problem(a.manifest, b.manifest))


def claim_problem(registry: Registry, m: StageManifest) -> str | None:
    """Why an append-only version's claim does not hold: the version it names is not a
    passed version of the dataset on chain, or a shard of it is missing from `m` or
    replaced (one line, naming the shard). None when it holds or `m` makes no claim."""
    if m.versioning is None or m.appends_to is None:
        return None
    try:
        old = prove_version(registry, m.appends_to, f"{m.appends_to[:18]}…")
    except HashMismatch as e:
        return f"{m.dataset} run {m.run} appends to a version that cannot be proven ({e})"
    if old.manifest.dataset_id != m.dataset_id or not old.stored.passed:
        return (f"{m.dataset} run {m.run} appends to {old.manifest.dataset} run "
                f"{old.manifest.run}, which is not a passed version of this dataset")
    return append_problem(old.manifest, m)


def append_only_problem(registry: Registry, m: StageManifest) -> str | None:
    """Why an append-only version must not be committed: it does not extend the dataset's
    latest passed version on chain, or does not contain it whole (one line, naming the
    shard). None for a version that makes no claim, or is on chain already."""
    if m.versioning is None:
        return None
    registry.locate(m.dataset_id, m.run_id)
    if (on := registry.stored_or_none(m.checkpoint_id)) and on.manifest_hash == m.manifest_hash:
        return None  # committed already (a rerun): it was checked then, and later versions follow
    prev = previous_version(registry, m.dataset, m.run)
    want = prev.checkpoint_id if prev is not None else None
    if m.appends_to != want:
        return (f"{m.dataset} run {m.run} appends to {_label(m.appends_to)}, but the "
                f"dataset's latest passed version on chain is {_label(want)} (committed since "
                "the run began): run it again with a new --run")
    return claim_problem(registry, m)


def require_append_only(registry: Registry, m: StageManifest) -> None:
    """Before a version is committed: NotAppendOnly if append_only_problem finds one."""
    if problem := append_only_problem(registry, m):
        raise NotAppendOnly(problem)


def _label(cid: str | None) -> str:
    return f"checkpoint {cid[:18]}…" if cid else "no version (its first)"


def refuted_run(registry: Registry, store: Store, dataset: str, run: str) -> bool:
    """Whether a run that is not on chain can never be committed: every validated manifest
    the store holds of it, attested by a committer, makes a versioning claim the chain
    refutes (a run `laas run` refused as not append-only). Such a run is no newer version
    waiting for the chain."""
    found = []
    for uri in store.find_manifests(dataset, run, "validated"):
        try:
            m = read_manifest(uri, expected_hash=named_hash(uri))
        except LaasError:
            continue
        signer = store.attested_by(m)
        if (m.dataset, m.run) == (dataset, run) and signer and registry.is_committer(signer):
            found.append(m)
    return bool(found) and all(claim_problem(registry, m) is not None for m in found)


def list_versions(registry: Registry, dataset: str) -> list[tuple[str, Checkpoint]]:
    """(run name, validated checkpoint) of each passed version, oldest first, from the chain
    alone: the name is read from the manifest's folder and checked against the run id."""
    return [(run_name(c), c) for c in passed_versions(registry, dataset)]
