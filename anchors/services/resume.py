"""Picking up what could not get onto the chain: `resume` commits the stored manifests whose
checkpoints are missing (the chain was down, the process died after sending, a reorganisation
dropped a commit), in stage order, each only if it is trusted and follows from its parent.
See laas.anchors.services.anchoring for the commit path it shares."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from laas.anchors.adapters.artifacts import ArtifactStore, named_hash, read_manifest
from laas.anchors.adapters.files import redact
from laas.anchors.core.models import STAGE_ORDER, Checkpoint, StageManifest
from laas.anchors.ports import Ledger, RegistryWriter
from laas.anchors.services.anchoring import commit_manifest, trusted_signers, why_trusted
from laas.errors import AnchorError, AnchorPending, AnchorTimeout, LaasError


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


def resume(ledger: Ledger, dataset: str | None = None, run: str | None = None, *,
           dry_run: bool = False, registry: RegistryWriter | None = None) -> list[Resumed]:
    """Commit every stored manifest whose checkpoint is not on chain and that this process may
    trust (its hash on chain, or attested by a trusted committer), in stage order within a run
    (parents first), each checked against its parent's committed manifest; re-index those that
    are on chain. A run whose stage cannot be committed stops there; other runs go on.
    dry_run: say what would be done, and why each manifest is trusted or not.
    registry: the one to commit through (tests pass an in-memory one); by default the
    configured chain's, opened here."""
    store = ledger.store
    if registry is None:
        try:
            registry = ledger.open_registry()
        except AnchorTimeout as e:
            raise AnchorPending(f"{e} (nothing committed; the manifests are kept)") from None
    index = ledger.index
    signers = trusted_signers(ledger, registry)
    runs, uris, out = _stored_runs(store, dataset, run)
    for (ds, rn), manifests in sorted(runs.items()):
        if getattr(registry, "version", 1) >= 2:  # a run commits as a whole
            from laas.anchors.services.runcommit import resume_whole

            out += resume_whole(ledger, registry, signers, manifests, uris, dry_run)
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
                cp = commit_manifest(ledger, m, uris[m.manifest_hash], registry)
                out.append(Resumed(**done, action="committed", trust=why, checkpoint=cp))
            except AnchorTimeout as e:
                raise AnchorPending(f"resume stopped at {ds}/{rn}/{stage}: {e}") from None
            except (AnchorError, LaasError) as e:
                blocked = "an earlier stage is not on chain"
                out.append(Resumed(**done, action="failed", trust=why, error=redact(str(e))))
    return out
