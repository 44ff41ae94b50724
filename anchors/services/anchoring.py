"""Getting manifests onto the chain (services.resume picks up what could not get there).

A stage's manifest is written to the artifact store before its transaction, and every
transaction is noted next to it before its receipt is awaited. So whatever fails, nothing is
lost and nothing is committed twice:
- the chain cannot be reached (after a bounded backoff): the stage is *pending anchor*, its
  manifest kept; `resume` commits pending manifests later, in stage order, without
  recomputing a hash;
- the process dies after sending: `resume` looks the noted transaction up on chain (and
  rebroadcasts it if the node forgot it) before it would send another;
- a reorganisation drops a checkpoint: its manifest is still in the store, so `resume` commits
  it again and the index follows.
The store is not trusted (laas.anchors.core.trust): a stored manifest is committed or reused only
if its hash is on chain or a trusted committer attested it, and every stage only after it is
checked against its parent's committed manifest.
Prefect, Dask and GX stay out: the CLI resumes without them."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from web3 import Web3

from laas.anchors.adapters.artifacts import ArtifactStore, named_hash, read_manifest
from laas.anchors.adapters.attest import attest
from laas.anchors.adapters.files import redact
from laas.anchors.core.models import (
    STAGE_ORDER,
    TRAINING,
    Checkpoint,
    StageManifest,
    name_problem,
    new_manifest,
)
from laas.anchors.core.record_shares import record_shares
from laas.anchors.core.trust import stage_problem
from laas.anchors.ports import Ledger, OnSent, RegistryWriter
from laas.anchors.ports import RegistryReader as Registry
from laas.anchors.services.provenance import derived_parents_problem
from laas.anchors.services.versions import append_only_problem
from laas.errors import (
    AnchorPending,
    AnchorTimeout,
    ConfigError,
    HashMismatch,
    LaasError,
)

if TYPE_CHECKING:
    from laas.anchors.services.gate import GateVerdict

log = logging.getLogger("laas.anchor")
T = TypeVar("T")


def with_backoff(fn: Callable[[], T], *, attempts: int, first_delay: float, what: str,
                 sleep: Callable[[float], None] = time.sleep) -> T:
    """fn(), retried on AnchorTimeout with delays first_delay, 2x, 4x ... (attempts in all)."""
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except AnchorPending:
            raise  # settled already (the fee cap refused to send): retrying now changes nothing
        except AnchorTimeout as e:
            if attempt == attempts:
                raise AnchorPending(f"{what}: pending anchor after {attempts} attempts ({e})") \
                    from None
            log.warning("%s: attempt %d/%d failed (%s); retrying in %.1fs", what, attempt,
                        attempts, e, delay)
            sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def store_manifest(ledger: Ledger, manifest: StageManifest, rewrite: bool = True) -> str:
    """The manifest's URI in the artifact store, written (again: the store's copy is not
    trusted) with the committer's attestation, so a later process can tell it from a plant.
    With rewrite=False a stored copy that still holds exactly its bytes (read back and hashed
    against its hash: cheaper than dumping a big manifest again, and as sure) is kept."""
    uri = None if rewrite else ledger.store.holds(manifest)
    uri = uri or ledger.store.write_manifest(manifest)
    if ledger.committer is not None:
        ledger.store.write_attestation(manifest, attest(ledger.committer,
                                                        manifest.manifest_hash))
    return uri


def trusted_signers(ledger: Ledger, registry: Registry | None) -> set[str]:
    """Whose attestations this process accepts: its own key's (what it produced itself; the
    chain refuses its commits if the key lost the role) and LAAS_TRUSTED_COMMITTERS', each of
    those only while it holds the committer role (when the chain can be asked)."""
    signers = {a.lower() for a in ledger.trusted_committers}
    if registry is not None:
        signers = {a for a in signers if registry.is_committer(Web3.to_checksum_address(a))}
    if ledger.committer is not None:
        signers.add(ledger.committer.address.lower())
    return signers


def why_trusted(store: ArtifactStore, registry: Registry | None, signers: set[str],
                m: StageManifest) -> tuple[bool, str]:
    """Whether a manifest found in the store may be used, and why (one line)."""
    if registry is not None:
        registry.locate(m.dataset_id, m.run_id)  # format 2: where its run would be anchored
    stored = registry.stored_or_none(m.checkpoint_id) if registry is not None else None
    if stored is not None:
        if stored.manifest_hash == m.manifest_hash:
            return True, f"its hash is on chain (block {stored.block_number})"
        return False, (f"the chain holds another manifest for this stage "
                       f"({stored.manifest_hash[:18]}…)")
    att = store.attestation(m)
    if att is None:
        return False, ("not on chain and not attested by a committer key (planted in the "
                       "store, or left by a laas without attestations)")
    signer = att.signer_for(m.manifest_hash)
    if signer is None:
        return False, "its attestation is malformed or signs another manifest"
    if signer.lower() not in signers:
        return False, (f"attested by {signer}, which is not a trusted committer (set "
                       "LAAS_TRUSTED_COMMITTERS, and grant it the role)")
    return True, f"attested by committer {signer}"


def parent_problem(registry: Registry, m: StageManifest) -> str | None:
    """Why `m` must not be committed on top of what the chain holds: its parent stage is not
    on chain, or `m` does not follow from the parent's committed manifest."""
    if m.stage == STAGE_ORDER[0]:
        return derived_parents_problem(registry, m.parents)
    if len(m.parents) != 1:
        return f"{m.dataset}/{m.run}/{m.stage} does not name one parent"
    parent_cp = registry.get(m.parents[0])
    if parent_cp is None:
        return f"{m.dataset}/{m.run}/{m.stage}: its parent {m.parents[0][:18]}… is not on chain"
    try:
        parent = read_manifest(parent_cp.manifest_uri, expected_hash=parent_cp.manifest_hash)
    except LaasError as e:
        return f"{m.dataset}/{m.run}/{m.stage}: its parent's manifest: {e}"
    return stage_problem(parent, m) or append_only_problem(registry, m)


def commit_manifest(ledger: Ledger, manifest: StageManifest, uri: str,
                    registry: RegistryWriter | None = None) -> Checkpoint:
    """Commit a stored manifest (idempotently, with backoff while the chain is unreachable),
    then index it. Raises AnchorPending when the chain stays away. Without `registry` each
    attempt opens one (the chain may be down when the first is made)."""
    cp = commit_noted(ledger, manifest, f"{manifest.dataset}/{manifest.run}/{manifest.stage}",
                      lambda reg: parent_problem(reg, manifest),
                      lambda reg, sent, on_sent: reg.commit(manifest, uri, sent=sent,
                                                            on_sent=on_sent), registry)
    ledger.index.record(cp, manifest)
    return cp


def commit_noted(ledger: Ledger, noted: StageManifest, what: str,
                 problem: Callable[[RegistryWriter], str | None],
                 send: Callable[[RegistryWriter, list, OnSent], T],
                 registry: RegistryWriter | None) -> T:
    """send(registry, sent, on_sent), with backoff, once `problem` found nothing to refuse;
    every transaction is noted next to the manifest `noted` before its receipt is awaited,
    and the notes an earlier attempt left are handed to `send` to look up first."""
    store = ledger.store
    checked = False

    def attempt() -> T:
        nonlocal checked
        reg = registry or ledger.open_registry()
        if not checked:  # before anything is sent: what is sent must follow from the chain
            if why := problem(reg):
                raise HashMismatch(f"refusing to commit {what}: {why}")
            checked = True
        sent = store.sent(noted)
        if sent:
            log.warning("%s: looking up %d transaction(s) sent earlier (%s) before sending "
                        "another", what, len(sent), ", ".join(tx for tx, _ in sent))
        return send(reg, sent, lambda tx, raw: store.record_sent(noted, tx, raw))

    done = with_backoff(attempt, attempts=ledger.anchor_attempts,
                        first_delay=ledger.anchor_backoff, what=what, sleep=ledger.sleep)
    store.clear_sent(noted)
    return done


def reusable_manifest(ledger: Ledger, dataset: str, run: str, stage: str
                      ) -> tuple[StageManifest | None, list[str]]:
    """The stored manifest of a run's stage that a rerun may reuse instead of recomputing it
    (on chain, or attested by a trusted committer), and a note on each one it ignored."""
    store = ledger.store
    uris = store.find_manifests(dataset, run, stage)
    if not uris:
        return None, []
    try:
        registry: RegistryWriter | None = ledger.open_registry()
    except AnchorTimeout:  # chain away: only our own attestations can be checked
        registry = None
    signers = trusted_signers(ledger, registry)
    notes = []
    for uri in uris:
        try:
            m = read_manifest(uri, expected_hash=named_hash(uri))
        except LaasError as e:
            notes.append(f"ignoring {redact(uri)}: {e}")
            continue
        if (m.dataset, m.run, m.stage) != (dataset, run, stage):
            notes.append(f"ignoring {redact(uri)}: it is a manifest of {m.dataset}/{m.run}/"
                         f"{m.stage}")
            continue
        ok, why = why_trusted(store, registry, signers, m)
        if ok:
            return m, notes
        notes.append(f"ignoring {redact(uri)}: {why}; recomputing the stage")
    return None, notes


def record_training(ledger: Ledger, verdict: GateVerdict, name: str) -> Checkpoint:
    """Commit the shard set an allowed verdict hands to a training job as that job's own
    checkpoint (dataset = the gated one, run = `name`, stage `training`), its parent the
    validated checkpoint the gate proved: a model can be traced to exactly its data. When its
    shards name contributors, its result hash commits their shares (rows and bytes kept), so
    a reward contract can pay against it (laas.anchors.core.record_shares); without any, the
    record is as it always was."""
    if problem := name_problem("training record", name):
        raise ConfigError(problem)
    verdict.require()
    cp = verdict.checkpoint
    validated = read_manifest(cp.manifest_uri, expected_hash=cp.manifest_hash)
    chosen = set(verdict.shards)
    accepted = [s.model_copy(update={"validation": None, "docs_uri": None})
                for s in validated.accepted if s.uri in chosen]
    _, shares = record_shares(accepted)
    extra = {} if shares is None else {"result_hash": shares.result_hash}
    manifest = new_manifest(validated.dataset, name, TRAINING, validated.hash_scheme, accepted,
                            parents=(cp.checkpoint_id,), passed=True, **extra)
    # The same path as a stage's commit: stored first, backoff, sent transactions noted.
    return commit_manifest(ledger, manifest, store_manifest(ledger, manifest))
