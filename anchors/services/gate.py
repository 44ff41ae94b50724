"""The training gate: may a training job read this dataset? Everything is checked against the
chain, nothing is taken from the local index or the store's word: the run is the dataset's
latest (by creation time; a newer run that failed or waits for the chain denies), its validated
checkpoint passed and has enough confirmations, its manifest is the one committed, every shard
it accepts re-hashes to its leaf and the leaf's proof reaches the on-chain root, and each shard
is the normalized stage's shard of the same key and hash, which is a raw shard of the same run
(services.provenance). Read-only: no key, never deploys. Imports neither Prefect, Dask nor Great
Expectations."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from laas.anchors.adapters.files import rehash_parquet_at
from laas.anchors.adapters.sized import parquet_limit
from laas.anchors.core.canonical import from_hex, hash_plain, name_id, to_hex
from laas.anchors.core.finality import finality_problem
from laas.anchors.core.hashing import TABLE_SCHEME
from laas.anchors.core.licenses import license_problem
from laas.anchors.core.listing import first_of
from laas.anchors.core.merkle import leaf_hash, verify
from laas.anchors.core.models import Checkpoint, StageManifest, checkpoint_id
from laas.anchors.core.results import results_of
from laas.anchors.core.stored import StoredCheckpoint
from laas.anchors.ports import RegistryReader as Registry
from laas.anchors.services.provenance import prove_checkpoint, prove_lineage
from laas.anchors.services.runs import latest_run
from laas.anchors.services.versions import claim_problem
from laas.errors import (
    ConfigError,
    GateDenied,
    HashMismatch,
    LaasError,
    dotted,
    first_problem,
)
from laas.networks import Finality, stricter

GateMode = Literal["proof", "sample", "full"]


class GatePolicy(BaseModel):
    """What one consumer of a dataset demands beyond a passed, proven checkpoint (a YAML file
    given to `laas gate --policy`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    suites: tuple[str, ...] = ()  # suite names or hashes one of which must be the one run
    tolerate: tuple[Literal["warn", "error"], ...] = ("warn",)  # failed severities allowed
    max_set_aside: float = Field(1.0, ge=0, le=1)  # most quarantined/failed shards, a fraction
    committers: tuple[str, ...] = ()  # if given, every stage must be committed by one of these
    require_active_committer: bool = False  # and its committer must still hold the role
    finality: Finality | None = None  # at least this final (the stricter of this and the CLI's)
    licenses: tuple[str, ...] | None = None  # if given, every shard's licenses among these

    @field_validator("committers")
    @classmethod
    def _addresses(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [a for a in v if not (isinstance(a, str) and len(a) == 42 and a[:2] == "0x")]
        if bad:
            raise ValueError(f"{bad[0]!r} is not an address (0x and 40 hex digits)")
        return v

    def violation(self, m: StageManifest) -> str | None:
        if self.licenses is not None and (problem := license_problem(m, self.licenses)):
            return problem
        report = m.validation or {}
        if self.suites and not {report.get("suite"), report.get("suite_hash")} & set(self.suites):
            return (f"suite {report.get('suite')} ({str(report.get('suite_hash'))[:18]}…) is not "
                    f"one the policy accepts ({', '.join(self.suites)})")
        results = results_of(m)  # whatever the manifest's version
        for s in m.accepted:
            outcomes = (results.get(s.key) or {}).get("outcomes", [])
            for o in outcomes:
                if _dropped_all(s, o):
                    continue  # its failing rows were dropped: what is left meets it
                if not o["success"] and o["severity"] not in self.tolerate:
                    return (f"shard {s.key}: {o['type']}({o['column'] or ''}) failed "
                            f"[{o['severity']}], which the policy does not tolerate")
        if m.shards and len(m.quarantined) / len(m.shards) > self.max_set_aside:
            return (f"{len(m.quarantined)} of {len(m.shards)} shards were set aside; the "
                    f"policy allows at most {self.max_set_aside:.0%}")
        return None

    @classmethod
    def load(cls, path: str) -> GatePolicy:
        import yaml

        try:
            return cls.model_validate(yaml.safe_load(Path(path).read_text()) or {})
        except ValidationError as e:
            loc, msg = first_problem(e)
            raise ConfigError(f"gate policy {path}: {dotted(loc)}: {msg}") from None
        except (OSError, yaml.YAMLError, ValueError) as e:
            raise ConfigError(f"gate policy {path}: {str(e).splitlines()[0]}") from None


def _dropped_all(s: object, o: dict) -> bool:
    """Whether every row that failed `o` on shard `s` was dropped (duplicates: each copy but
    the first, which is what is left, so any drop for them settles the outcome)."""
    label = f"{o['type']}({o['column'] or ''})"
    dropped = (s.dropped or {}).get(label)  # type: ignore[attr-defined]
    if not dropped:
        return False
    # Rows are dropped for uniqueness only as duplicates of the dataset's text keys.
    return o["type"] == "expect_column_values_to_be_unique" or dropped == o["unexpected_count"]


class GateVerdict(BaseModel):
    model_config = ConfigDict(frozen=True)

    allowed: bool
    dataset: str
    run: str | None = None
    reason: str
    checkpoint: Checkpoint | None = None
    confirmations: int = 0
    shards: tuple[str, ...] = ()  # URIs of the shards a training job may read
    keys: tuple[str, ...] = ()  # their names within the dataset, in the same order
    hashes: tuple[str, ...] = ()  # their proven laas-table-v1 hashes, in the same order
    sizes: tuple[int, ...] = ()  # their proven canonical sizes (in their leaves), too
    licenses: tuple[tuple[str, ...] | None, ...] = ()  # their licenses (None: unknown), too
    contributors: tuple[str | None, ...] = ()  # who contributed each (in its leaf v2), or None
    mode: GateMode = "full"
    rehashed: int = 0  # shards whose bytes were read and re-hashed
    finality: Finality = "latest"  # what was demanded of the checkpoint's block

    def require(self) -> GateVerdict:
        if not self.allowed:
            raise GateDenied(f"gate denied {self.dataset}: {self.reason}")
        return self


def check(registry: Registry, dataset: str, *, run: str | None = None,
          min_confirmations: int = 1, mode: GateMode = "full", sample: int = 8,
          policy: GatePolicy | None = None, store: object = None,
          finality: Finality = "latest") -> GateVerdict:
    """mode: `proof` checks the manifest and every shard's proof against the on-chain root
    without reading data; `sample` also re-hashes `sample` shards picked at random (by the OS's
    randomness, so nobody can predict which); `full` re-hashes every shard. Without `run`, the
    dataset's latest run (laas.anchors.services.runs) is the one gated, and `store` (if given) is
    searched for newer runs that wait for the chain."""
    def deny(reason: str, **kw: object) -> GateVerdict:
        return GateVerdict(allowed=False, dataset=dataset, reason=reason, **kw)

    policy = policy or GatePolicy()  # the defaults hold for every consumer, the reader too
    finality = stricter(finality, policy.finality or "latest")
    if run is not None:  # found by its id: one contract read and one block's log, no scan
        registry.locate(name_id(dataset), name_id(run))
        cp = registry.get(checkpoint_id(name_id(dataset), name_id(run), "validated"))
        if cp is None and store is not None and getattr(registry, "version", 1) >= 2:
            from laas.anchors.services.batch import admit_stored  # anchored in a batch, perhaps

            if admit_stored(registry, store, dataset, run):
                cp = registry.get(checkpoint_id(name_id(dataset), name_id(run), "validated"))
        if cp is None:
            return deny(f"no validated checkpoint on chain for dataset {dataset} run {run}")
    else:
        cp, problem = latest_run(registry, dataset, store)
        if problem is not None:
            return deny(problem)
    try:
        top = prove_checkpoint(registry, cp.checkpoint_id)
    except LaasError as e:
        return deny(str(e), checkpoint=cp)
    manifest, stored = top.manifest, top.stored
    ctx: dict = {"checkpoint": cp, "run": manifest.run, "mode": mode, "finality": finality}
    confirmations = registry.confirmations(stored.block_number)
    ctx["confirmations"] = confirmations
    if not stored.passed:
        problems = [f"dataset check {c['type']} failed ({c['observed']})"
                    for c in (manifest.validation or {}).get("dataset", []) if not c["success"]]
        problems += first_of([f"{s.key}: {s.reason}" for s in manifest.quarantined], 3,
                             lambda n: f"and {n} more shard(s) set aside")  # a line to read
        failed = "; ".join(problems) or "see manifest"
        return deny(f"run {manifest.run} did not pass validation ({failed})", **ctx)
    if confirmations < min_confirmations:
        return deny(f"checkpoint has {confirmations} confirmation(s), "
                    f"{min_confirmations} required; wait for more blocks", **ctx)
    # Its parents were mined in this block or before: they are at least as final.
    if problem := finality_problem(registry, stored.block_number, finality):
        return deny(problem, **ctx)
    problem = _check_manifest(manifest, stored)
    if problem is None and policy is not None:
        problem = policy.violation(manifest)
    if problem is None:
        try:
            prove_lineage(registry, top, committers=policy.committers if policy else (),
                          require_active=bool(policy and policy.require_active_committer))
        except HashMismatch as e:
            problem = str(e)
    if problem is None:  # an append-only version: the one it extends is in it, whole
        problem = claim_problem(registry, manifest)
    accepted = manifest.accepted
    picked = accepted if mode == "full" else [] if mode == "proof" else \
        random.SystemRandom().sample(accepted, min(sample, len(accepted)))
    if problem is None:
        problem = _check_shards(manifest, stored.shards_root, picked)
    if problem is not None:
        return deny(problem, **ctx)
    return GateVerdict(
        allowed=True, dataset=dataset, shards=tuple(s.uri for s in accepted),
        keys=tuple(s.key for s in accepted),
        hashes=tuple(s.content_hash or "" for s in accepted), rehashed=len(picked),
        sizes=tuple(s.byte_size for s in accepted),
        licenses=tuple(s.licenses for s in accepted),
        contributors=tuple(s.contributor for s in accepted),
        reason=(f"run {manifest.run}: {len(accepted)} shard(s) proven against root "
                f"{stored.shards_root[:18]}… and back to raw, {len(picked)} re-hashed "
                f"({mode}); {confirmations} confirmation(s)"
                f"{'' if finality == 'latest' else ', ' + finality}"), **ctx)


def _check_manifest(m: StageManifest, stored: StoredCheckpoint) -> str | None:
    if (m.dataset_id, m.run_id) != (stored.dataset_id, stored.run_id) \
            or m.stage != "validated":
        return "manifest belongs to another dataset, run or stage than its checkpoint"
    if m.validation is None or hash_plain(m.validation) != stored.result_hash:
        return "manifest's validation report does not hash to the committed result hash"
    if m.shards_root != stored.shards_root or to_hex(m.tree().root) != stored.shards_root:
        return "manifest's shard leaves do not rebuild the committed Merkle root"
    if m.hash_scheme != TABLE_SCHEME:
        return f"unsupported hash scheme {m.hash_scheme}"
    return None


def _check_shards(m: StageManifest, root_hex: str, rehash: list) -> str | None:
    """Every accepted shard's proof reaches the root; the shards in `rehash` are read back
    and must hash to their leaves."""
    root = from_hex(root_hex)
    tree = m.tree()
    for s in m.accepted:
        leaf = from_hex(s.leaf)
        if not verify(tree.proof(leaf), root, leaf):
            return f"shard {s.key}: its proof does not reach the committed root"
    for s in rehash:
        try:
            digest, size, rows = rehash_parquet_at(s.uri, parquet_limit(s.byte_size))
        except (OSError, ValueError) as e:
            return f"shard {s.key} ({s.uri}) cannot be re-read: {type(e).__name__}: {e}"
        leaf = leaf_hash(s.key, digest, size, rows, s.contributor)
        if to_hex(digest) != s.content_hash or to_hex(leaf) != s.leaf:
            return (f"shard {s.key} ({s.uri}) does not match its committed hash: "
                    "it changed after validation")
    return None
