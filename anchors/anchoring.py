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
Prefect, Dask and GX stay out: the CLI resumes without them."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel, ConfigDict

from laas.anchors.ledger import open_index, open_registry, open_store
from laas.anchors.models import STAGE_ORDER, Checkpoint, StageManifest
from laas.anchors.registry import Registry
from laas.anchors.storage import redact
from laas.anchors.store import manifest_name, named_hash, read_manifest
from laas.errors import AnchorError, AnchorPending, AnchorTimeout, LaasError
from laas.settings import Settings

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
    """The manifest's URI in the artifact store, writing it unless an attempt already did."""
    store = open_store(settings)
    uri = store.find_manifest(manifest.dataset, manifest.run, manifest.stage)
    if uri is None or not uri.endswith(manifest_name(manifest.manifest_hash)):
        uri = store.write_manifest(manifest)
    return uri


def commit_manifest(settings: Settings, manifest: StageManifest, uri: str,
                    registry: Registry | None = None) -> Checkpoint:
    """Commit a stored manifest (idempotently, with backoff while the chain is unreachable),
    then index it. Raises AnchorPending when the chain stays away. Without `registry` each
    attempt opens one (the chain may be down when the first is made)."""
    store = open_store(settings)
    what = f"{manifest.dataset}/{manifest.run}/{manifest.stage}"

    def attempt() -> Checkpoint:
        sent = store.sent(manifest)
        if sent:
            log.warning("%s: looking up %d transaction(s) sent earlier (%s) before sending "
                        "another", what, len(sent), ", ".join(tx for tx, _ in sent))
        return (registry or open_registry(settings)).commit(
            manifest, uri, sent=sent, on_sent=lambda tx, raw: store.record_sent(manifest, tx, raw))

    cp = with_backoff(attempt, attempts=settings.anchor_attempts,
                      first_delay=settings.anchor_backoff, what=what)
    store.clear_sent(manifest)
    open_index(settings).record(cp, manifest)
    return cp


class Resumed(BaseModel):
    """What resume did with one stored manifest."""

    model_config = ConfigDict(frozen=True)

    dataset: str
    run: str
    stage: str
    action: str  # committed | on chain | pending | failed
    checkpoint: Checkpoint | None = None
    error: str | None = None


def resume(settings: Settings, dataset: str | None = None, run: str | None = None
           ) -> list[Resumed]:
    """Commit every stored manifest whose checkpoint is not on chain (stage order within a
    run, so parents go first); re-index those that are. A run whose stage cannot be committed
    stops there (its later stages need it as parent); other runs go on."""
    store = open_store(settings)
    try:
        registry = open_registry(settings)
    except AnchorTimeout as e:
        raise AnchorPending(f"{e} (nothing committed; the manifests are kept)") from None
    index = open_index(settings)
    runs: dict[tuple[str, str], list[StageManifest]] = {}
    uris: dict[str, str] = {}
    for uri in store.manifests(dataset, run):
        m = read_manifest(uri, expected_hash=named_hash(uri))  # content-addressed: refuse an edit
        runs.setdefault((m.dataset, m.run), []).append(m)
        uris[m.manifest_hash] = uri
    out: list[Resumed] = []
    for (ds, rn), manifests in sorted(runs.items()):
        blocked = False
        for m in sorted(manifests, key=lambda m: STAGE_ORDER.index(m.stage)):
            done = dict(dataset=ds, run=rn, stage=m.stage)
            if blocked:
                out.append(Resumed(**done, action="pending", error="an earlier stage is not on "
                                   "chain"))
                continue
            try:
                on_chain = registry.get(m.checkpoint_id)
                if on_chain is not None and on_chain.manifest_hash == m.manifest_hash:
                    row = index.checkpoint(m.checkpoint_id)
                    if row is None or row["tx_hash"] != on_chain.tx_hash:
                        index.record(on_chain, m)
                    out.append(Resumed(**done, action="on chain", checkpoint=on_chain))
                    continue
                cp = commit_manifest(settings, m, uris[m.manifest_hash], registry)
                out.append(Resumed(**done, action="committed", checkpoint=cp))
            except AnchorTimeout as e:
                raise AnchorPending(f"resume stopped at {ds}/{rn}/{m.stage}: {e}") from None
            except (AnchorError, LaasError) as e:
                blocked = True
                out.append(Resumed(**done, action="failed", error=redact(str(e))))
    return out
