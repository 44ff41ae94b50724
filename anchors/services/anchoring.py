"""Getting manifests onto the chain, and picking up what could not get there.

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
from typing import TypeVar

from pydantic import BaseModel, ConfigDict
from web3 import Web3

from laas.anchors.adapters.artifacts import ArtifactStore, named_hash, read_manifest
from laas.anchors.adapters.attest import attest
from laas.anchors.adapters.files import redact
from laas.anchors.adapters.registry import Registry
from laas.anchors.core.models import STAGE_ORDER, Checkpoint, StageManifest
from laas.anchors.core.trust import stage_problem
from laas.anchors.ports import OnSent, RegistryWriter
from laas.anchors.services.provenance import derived_parents_problem
from laas.errors import AnchorError, AnchorPending, AnchorTimeout, HashMismatch, LaasError
from laas.settings import Settings
from laas.wiring import committer_account, open_index, open_registry, open_store

log = logging.getLogger("laas.anchor")
T = TypeVar("T")


def with_backoff(fn: Callable[[], T], *, attempts: int, first_delay: float, what: str,
                 sleep: Callable[[float], None] = time.sleep) -> T:
    """fn(), retried on AnchorTimeout with delays first_delay, 2x, 4x ... (attempts in all)."""
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except AnchorTimeout as e:
            if attempt == attempts:
                raise AnchorPending(f"{what}: pending anchor after {attempts} attempts ({e})") \
                    from None
            log.warning("%s: attempt %d/%d failed (%s); retrying in %.1fs", what, attempt,
                        attempts, e, delay)
            sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def store_manifest(settings: Settings, manifest: StageManifest) -> str:
    """The manifest's URI in the artifact store, written (again: the store's copy is not
    trusted) with the committer's attestation, so a later process can tell it from a plant."""
    store = open_store(settings)
    uri = store.write_manifest(manifest)
    account = committer_account(settings)
    if account is not None:
        store.write_attestation(manifest, attest(account, manifest.manifest_hash))
    return uri


def trusted_signers(settings: Settings, registry: Registry | None) -> set[str]:
    """Whose attestations this process accepts: its own key's (what it produced itself; the
    chain refuses its commits if the key lost the role) and LAAS_TRUSTED_COMMITTERS', each of
    those only while it holds the committer role (when the chain can be asked)."""
    signers = {a.lower() for a in settings.trusted_committer_addresses}
    if registry is not None:
        signers = {a for a in signers if registry.is_committer(Web3.to_checksum_address(a))}
    own = committer_account(settings)
    if own is not None:
        signers.add(own.address.lower())
    return signers


def why_trusted(store: ArtifactStore, registry: Registry | None, signers: set[str],
                m: StageManifest) -> tuple[bool, str]:
    """Whether a manifest found in the store may be used, and why (one line)."""
    if registry is not None:
        registry.locate(m.dataset_id, m.run_id)  # format 2: where its run would be anchored
    stored = registry.stored_or_none(m.checkpoint_id) if registry is not None else None
    if stored is not None:
        if stored["manifest_hash"] == m.manifest_hash:
            return True, f"its hash is on chain (block {stored['block_number']})"
        return False, (f"the chain holds another manifest for this stage "
                       f"({stored['manifest_hash'][:18]}…)")
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
    return stage_problem(parent, m)


def commit_manifest(settings: Settings, manifest: StageManifest, uri: str,
                    registry: Registry | None = None) -> Checkpoint:
    """Commit a stored manifest (idempotently, with backoff while the chain is unreachable),
    then index it. Raises AnchorPending when the chain stays away. Without `registry` each
    attempt opens one (the chain may be down when the first is made)."""
    cp = commit_noted(settings, manifest, f"{manifest.dataset}/{manifest.run}/{manifest.stage}",
                      lambda reg: parent_problem(reg, manifest),
                      lambda reg, sent, on_sent: reg.commit(manifest, uri, sent=sent,
                                                            on_sent=on_sent), registry)
    open_index(settings).record(cp, manifest)
    return cp


def commit_noted(settings: Settings, noted: StageManifest, what: str,
                 problem: Callable[[Registry], str | None],
                 send: Callable[[Registry, list, OnSent], T], registry: Registry | None) -> T:
    """send(registry, sent, on_sent), with backoff, once `problem` found nothing to refuse;
    every transaction is noted next to the manifest `noted` before its receipt is awaited,
    and the notes an earlier attempt left are handed to `send` to look up first."""
    store = open_store(settings)
    checked = False

    def attempt() -> T:
        nonlocal checked
        reg = registry or open_registry(settings)
        if not checked:  # before anything is sent: what is sent must follow from the chain
            if why := problem(reg):
                raise HashMismatch(f"refusing to commit {what}: {why}")
            checked = True
        sent = store.sent(noted)
        if sent:
            log.warning("%s: looking up %d transaction(s) sent earlier (%s) before sending "
                        "another", what, len(sent), ", ".join(tx for tx, _ in sent))
        return send(reg, sent, lambda tx, raw: store.record_sent(noted, tx, raw))

    done = with_backoff(attempt, attempts=settings.anchor_attempts,
                        first_delay=settings.anchor_backoff, what=what)
    store.clear_sent(noted)
    return done


def reusable_manifest(settings: Settings, dataset: str, run: str, stage: str
                      ) -> tuple[StageManifest | None, list[str]]:
    """The stored manifest of a run's stage that a rerun may reuse instead of recomputing it
    (on chain, or attested by a trusted committer), and a note on each one it ignored."""
    store = open_store(settings)
    uris = store.find_manifests(dataset, run, stage)
    if not uris:
        return None, []
    try:
        registry: Registry | None = open_registry(settings)
    except AnchorTimeout:  # chain away: only our own attestations can be checked
        registry = None
    signers = trusted_signers(settings, registry)
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


class Resumed(BaseModel):
    """What resume did (or, in a dry run, would do) with one stored manifest, and why."""

    model_config = ConfigDict(frozen=True)

    dataset: str
    run: str
    stage: str
    action: str  # committed | on chain | would commit | pending | refused | failed
    trust: str | None = None  # why the manifest is trusted, or why not
    checkpoint: Checkpoint | None = None
    error: str | None = None


def _stored_runs(store: ArtifactStore, dataset: str | None, run: str | None
                 ) -> tuple[dict[tuple[str, str], list[StageManifest]], dict[str, str],
                            list[Resumed]]:
    """The store's manifests by (dataset, run), their URIs, and what could not be read."""
    runs: dict[tuple[str, str], list[StageManifest]] = {}
    uris: dict[str, str] = {}
    unreadable = []
    for uri in store.manifests(dataset, run):
        try:  # content-addressed: an edited manifest no longer hashes to its name
            m = read_manifest(uri, expected_hash=named_hash(uri))
        except LaasError as e:
            ds, rn, stage = uri.rsplit("/", 4)[1:4]
            unreadable.append(Resumed(dataset=ds, run=rn, stage=stage, action="refused",
                                      trust=redact(str(e))))
            continue
        runs.setdefault((m.dataset, m.run), []).append(m)
        uris[m.manifest_hash] = uri
    return runs, uris, unreadable


def resume(settings: Settings, dataset: str | None = None, run: str | None = None, *,
           dry_run: bool = False, registry: RegistryWriter | None = None) -> list[Resumed]:
    """Commit every stored manifest whose checkpoint is not on chain and that this process may
    trust (its hash on chain, or attested by a trusted committer), in stage order within a run
    (parents first), each checked against its parent's committed manifest; re-index those that
    are on chain. A run whose stage cannot be committed stops there; other runs go on.
    dry_run: say what would be done, and why each manifest is trusted or not.
    registry: the one to commit through (tests pass an in-memory one); by default the
    configured chain's, opened here."""
    store = open_store(settings)
    if registry is None:
        try:
            registry = open_registry(settings)
        except AnchorTimeout as e:
            raise AnchorPending(f"{e} (nothing committed; the manifests are kept)") from None
    index = open_index(settings)
    signers = trusted_signers(settings, registry)
    runs, uris, out = _stored_runs(store, dataset, run)
    for (ds, rn), manifests in sorted(runs.items()):
        if getattr(registry, "version", 1) >= 2:  # a run commits as a whole
            from laas.anchors.services.runcommit import resume_whole

            out += resume_whole(settings, store, registry, signers, manifests, uris, dry_run)
            continue
        blocked: str | None = None
        by_stage: dict[str, list[StageManifest]] = {}
        for m in manifests:
            by_stage.setdefault(m.stage, []).append(m)
        for stage in sorted(by_stage, key=STAGE_ORDER.index):
            done = dict(dataset=ds, run=rn, stage=stage)
            if blocked:
                out.append(Resumed(**done, action="pending", error=blocked))
                continue
            verdicts = [(m, *why_trusted(store, registry, signers, m))
                        for m in sorted(by_stage[stage], key=lambda m: m.created_at,
                                        reverse=True)]
            trusted = [(m, why) for m, ok, why in verdicts if ok]
            if not trusted:
                blocked = f"its {stage} stage is not trusted"
                out.append(Resumed(**done, action="refused",
                                   trust="; ".join(why for _, _, why in verdicts)))
                continue
            m, why = trusted[0]
            try:
                on_chain = registry.get(m.checkpoint_id)
                if on_chain is not None and on_chain.manifest_hash == m.manifest_hash:
                    row = index.checkpoint(m.checkpoint_id)
                    if not dry_run and (row is None or row["tx_hash"] != on_chain.tx_hash):
                        index.record(on_chain, m)
                    out.append(Resumed(**done, action="on chain", trust=why,
                                       checkpoint=on_chain))
                    continue
                if dry_run:
                    blocked = "an earlier stage is not on chain yet"
                    out.append(Resumed(**done, action="would commit", trust=why))
                    continue
                cp = commit_manifest(settings, m, uris[m.manifest_hash], registry)
                out.append(Resumed(**done, action="committed", trust=why, checkpoint=cp))
            except AnchorTimeout as e:
                raise AnchorPending(f"resume stopped at {ds}/{rn}/{stage}: {e}") from None
            except (AnchorError, LaasError) as e:
                blocked = "an earlier stage is not on chain"
                out.append(Resumed(**done, action="failed", trust=why, error=redact(str(e))))
    return out
