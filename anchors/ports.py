"""What the services (gate, provenance, resume, verify, runs) need from the chain, the artifact
store and time, as Protocols. The real adapters are adapters.registry_read.RegistryRead (read
only; adapters.registry.Registry signs), adapters.artifacts.ArtifactStore and SystemClock
below; tests/fakes.py holds in-memory ones, and
tests/test_ports_contract.py runs the same assertions against both so they cannot drift.

Pure: no web3 here, so that the slim install (gate, verify) and the fakes can import it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # annotations only: importing attest pulls in eth_account
    from datetime import datetime

    from laas.anchors.adapters.attest import Attestation
    from laas.anchors.core.models import Checkpoint, StageManifest
    from laas.anchors.core.stored import StoredCheckpoint

OnSent = Callable[[str, bytes | None], None]  # (tx hash, signed raw tx if we signed it)


@runtime_checkable  # so tests can check an adapter has every method
class RegistryReader(Protocol):
    """The chain as a consumer sees it: checkpoints, their stored structs, proofs, roles."""

    def get(self, cid: str) -> Checkpoint | None: ...

    def stored(self, cid: str) -> StoredCheckpoint: ...

    def stored_or_none(self, cid: str) -> StoredCheckpoint | None: ...

    def checkpoints(self, dataset_id: str | None = None) -> list[Checkpoint]: ...

    def verify_leaf(self, cid: str, proof: list[bytes], leaf: bytes) -> bool: ...

    def is_committer(self, account: str) -> bool: ...

    def locate(self, dataset_id: str, run_id: str) -> object: ...

    def chain_id(self) -> int: ...

    def block_number(self) -> int: ...

    def confirmations(self, block_number: int) -> int: ...

    def block_at(self, tag: str) -> int | None: ...

    def block_time(self, block: int) -> datetime | None: ...


@runtime_checkable
class RegistryWriter(RegistryReader, Protocol):
    """A registry with a key: commits (idempotently) and, as admin, manages the role."""

    def commit(self, manifest: StageManifest, manifest_uri: str, *,
               sent: Iterable[tuple[str, bytes | None]] = (),
               on_sent: OnSent | None = None) -> Checkpoint: ...

    def commit_run(self, stages: Sequence[tuple[StageManifest, str]], *,
                   sent: Iterable[tuple[str, bytes | None]] = (),
                   on_sent: OnSent | None = None) -> list[Checkpoint]: ...

    def grant_committer(self, account: str) -> None: ...

    def revoke_committer(self, account: str) -> None: ...


@runtime_checkable
class Store(Protocol):
    """The (untrusted) artifact store: manifests, attestations, notes of sent transactions."""

    root: str

    def uri(self, *parts: str) -> str: ...

    def stage_dir(self, dataset: str, run: str, stage: str) -> str: ...

    def write_manifest(self, manifest: StageManifest) -> str: ...

    def find_manifests(self, dataset: str, run: str, stage: str) -> list[str]: ...

    def runs(self, dataset: str) -> list[str]: ...

    def manifests(self, dataset: str | None = None, run: str | None = None) -> list[str]: ...

    def write_attestation(self, manifest: StageManifest, att: Attestation) -> None: ...

    def attestation(self, manifest: StageManifest, manifest_hash: str | None = None
                    ) -> Attestation | None: ...

    def attested_by(self, manifest: StageManifest, manifest_hash: str | None = None
                    ) -> str | None: ...

    def record_sent(self, manifest: StageManifest, tx_hash: str, raw: bytes | None) -> None: ...

    def sent(self, manifest: StageManifest) -> list[tuple[str, bytes | None]]: ...

    def clear_sent(self, manifest: StageManifest) -> None: ...


@runtime_checkable
class Clock(Protocol):
    """Time as the fee bumper waits on it (a fake one lets tests skip the waiting)."""

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The wall clock."""

    @staticmethod
    def monotonic() -> float:
        return time.monotonic()

    @staticmethod
    def sleep(seconds: float) -> None:
        time.sleep(seconds)


class Index(Protocol):
    """The lineage index (a cache of chain + manifests): adapters.index.LineageIndex."""

    def record(self, cp: Checkpoint, manifest: StageManifest) -> None: ...

    def checkpoint(self, cid: str) -> dict[str, Any] | None: ...


class IndexReader(Protocol):
    """What lineage asks of the index: adapters.index.LineageIndex, or its default SQLite
    file read with the standard library (adapters.index_sqlite)."""

    where: str

    def find_shard(self, ref: str, run: str | None = None) -> list[dict[str, Any]]: ...

    def stages_of(self, dataset: str, run: str, key: str) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class Ledger:
    """What the anchoring services are handed by the composition root (laas.wiring.ledger):
    the store, the index, a way to open the registry (per attempt: the chain may be down when
    the first is made), the committer key (None: sign nothing), the other committers whose
    attestations are trusted, and the backoff while the chain is unreachable."""

    store: Store
    index: Index
    open_registry: Callable[[], RegistryWriter]
    committer: Any = None  # an eth_account LocalAccount
    trusted_committers: tuple[str, ...] = ()
    anchor_attempts: int = 5
    anchor_backoff: float = 2.0
    sleep: Callable[[float], None] = field(default=time.sleep)
