"""In-memory stand-ins for the fast tier (`make check`): the chain registry, the artifact store,
the lineage index, a clock, and a node that never mines (for fee bumping).

Each keeps the rules the services depend on (who may commit, one checkpoint per id, parents
first, the struct stored apart from the event, confirmations from the head). They are kept
honest by tests/test_ports_contract.py, which runs the same assertions against them and the
real adapters (anvil, a local folder, moto's S3, SQLite and Postgres).

`FakeLedger` then builds runs the way `laas run` leaves them (raw -> normalized -> validated,
Parquet shards, manifests attested and committed), so service tests can start from a real-looking
ledger in milliseconds and then plant, forge or change one thing."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from eth_account import Account
from web3 import Web3

from laas.anchors.adapters.artifacts import ArtifactStore
from laas.anchors.adapters.attest import attest
from laas.anchors.adapters.files import rehash_parquet_at
from laas.anchors.adapters.index import LineageIndex
from laas.anchors.core.canonical import from_hex, hash_record, keccak256, name_id, to_hex
from laas.anchors.core.formats import SHARD_FACTS_MANIFEST
from laas.anchors.core.hashing import BYTES_SCHEME, TABLE_SCHEME, hash_bytes
from laas.anchors.core.merkle import verify
from laas.anchors.core.models import (
    Checkpoint,
    ShardEntry,
    StageManifest,
    stage_root,
)
from laas.anchors.core.stored import StoredCheckpoint, stored_of
from laas.anchors.ports import OnSent
from laas.errors import AnchorError, AnchorReverted, ConfigError

# Fixed keys, so a failing test names the same addresses every time. Not secrets: fakes only.
COMMITTER = Account.from_key(b"\x11" * 32)
OUTSIDER = Account.from_key(b"\x22" * 32)
UNAUTHORIZED = "AccessControlUnauthorizedAccount"  # OpenZeppelin 5's revert, as Registry names it


# -- the chain ------------------------------------------------------------------------------


class FakeChain:
    """The contract's state and the node's head, shared by every FakeRegistry over it (as one
    chain is by clients holding different keys). Automine: one block per transaction."""

    def __init__(self, admin: str = COMMITTER.address) -> None:
        self.head = 0
        self.records: dict[str, tuple[Checkpoint, dict[str, Any]]] = {}  # in commit order
        self.admins = {admin}
        self.committers = {admin}
        self.sent = 0
        # How far the block tags trail the head (anvil's defaults); a tag left out is one
        # the node does not know.
        self.tag_lags: dict[str, int] = {"safe": 32, "finalized": 64}
        self.latest: dict[str, str] = {}  # dataset id -> its latest run's validated checkpoint

    def mine(self, blocks: int = 1) -> None:
        self.head += blocks

    def transact(self) -> str:
        """A transaction mined in a new block: its hash."""
        self.sent += 1
        self.head += 1
        return to_hex(keccak256(f"fake-tx-{self.sent}".encode()))


class FakeRegistry:
    """adapters.registry.Registry (the RegistryWriter port) over a FakeChain. sender=None is a
    read-only client, as with the real one."""

    GAS = 200_000  # what a receipt says; checkpoints() has no receipt, so None there
    RUN_GAS = 80_000  # a whole run's transaction (commit_run), shared by its checkpoints

    def __init__(self, chain: FakeChain | None = None,
                 sender: str | None = COMMITTER.address, version: int = 1) -> None:
        self.chain = chain or FakeChain()
        self.sender = sender
        self.version = version  # 2: the services treat it as a format-2 registry

    def as_account(self, address: str | None) -> FakeRegistry:
        """A client of the same chain holding another key (None: read-only)."""
        return FakeRegistry(self.chain, address, self.version)

    # -- writes --

    def commit(self, manifest: StageManifest, manifest_uri: str, *,
               sent: Iterable[tuple[str, bytes | None]] = (),
               on_sent: OnSent | None = None) -> Checkpoint:
        # A fake transaction is mined as it is sent, so a noted one (`sent`) is either
        # reflected on chain already or was never sent: nothing to look up.
        if (existing := self._existing(manifest)) is not None:
            return existing
        what = f"commit {manifest.dataset}/{manifest.stage}"
        who = self._signer(what)
        if who not in self.chain.committers:
            raise AnchorReverted(f"{what} reverted: {UNAUTHORIZED}")
        if from_hex(manifest.shards_root) == bytes(32):
            raise AnchorReverted(f"{what} reverted: EmptyRoot")
        if any(p not in self.chain.records for p in manifest.parents):
            raise AnchorReverted(f"{what} reverted: UnknownCheckpoint")
        tx_hash = self.chain.transact()
        if on_sent is not None:
            on_sent(tx_hash, None)
        return self._record(manifest, manifest_uri, who, tx_hash, self.GAS)

    def _record(self, manifest: StageManifest, manifest_uri: str, who: str, tx_hash: str,
                gas: int) -> Checkpoint:
        cp = Checkpoint(
            checkpoint_id=manifest.checkpoint_id, dataset_id=manifest.dataset_id,
            run_id=manifest.run_id, stage=manifest.stage, shards_root=manifest.shards_root,
            shard_count=len(manifest.accepted), manifest_hash=manifest.manifest_hash,
            manifest_uri=manifest_uri, result_hash=manifest.result_hash, passed=manifest.passed,
            parents=manifest.parents, committer=who, tx_hash=tx_hash,
            block_number=self.chain.head, gas_used=gas)
        self.chain.records[cp.checkpoint_id] = (cp, stored_of(cp))
        return cp

    def commit_run(self, stages: Sequence[tuple[StageManifest, str]], *,
                   sent: Iterable[tuple[str, bytes | None]] = (),
                   on_sent: OnSent | None = None) -> list[Checkpoint]:
        """As a format-2 registry does: the run's stages in one transaction, once."""
        first = stages[0][0]
        found = [self.get(m.checkpoint_id) for m, _ in stages]
        on_chain = [cp for cp in self.chain.records.values()
                    if (cp[0].dataset_id, cp[0].run_id) == (first.dataset_id, first.run_id)]
        if on_chain:
            for (m, _), cp in zip(stages, found, strict=True):
                if cp is None or cp.manifest_hash != m.manifest_hash:
                    raise AnchorError(f"checkpoint {m.dataset}/{m.run}/{m.stage} is already on "
                                      "chain without this stage or with another manifest")
            return found  # type: ignore[return-value]
        what = f"commit {first.dataset}/{first.run}"
        who = self._signer(what)
        if who not in self.chain.committers:
            raise AnchorReverted(f"{what} reverted: {UNAUTHORIZED}")
        ours = {m.checkpoint_id for m, _ in stages}
        for m, _ in stages:
            if from_hex(m.shards_root) == bytes(32):
                raise AnchorReverted(f"{what} reverted: EmptyRoot")
            if any(p not in self.chain.records and p not in ours for p in m.parents):
                raise AnchorReverted(f"{what} reverted: UnknownCheckpoint")
        tx_hash = self.chain.transact()
        if on_sent is not None:
            on_sent(tx_hash, None)
        out = [self._record(m, uri, who, tx_hash, self.RUN_GAS // len(stages))
               for m, uri in stages]
        for cp in out:
            if cp.stage == "validated":
                self.chain.latest[cp.dataset_id] = cp.checkpoint_id
        return out

    def locate(self, dataset_id: str, run_id: str) -> None:
        """The fake finds a checkpoint by its id alone."""

    def latest(self, dataset_id: str) -> Checkpoint | None:
        cid = self.chain.latest.get(dataset_id)
        return self.get(cid) if cid else None

    def _existing(self, manifest: StageManifest) -> Checkpoint | None:
        existing = self.get(manifest.checkpoint_id)
        if existing is not None and existing.manifest_hash != manifest.manifest_hash:
            raise AnchorError(f"checkpoint {manifest.dataset}/{manifest.run}/{manifest.stage} "
                              "is already on chain with another manifest")
        return existing

    def _signer(self, what: str) -> str:
        if self.sender is None:
            raise ConfigError(f"{what}: this client is read-only")
        return self.sender

    def _role_change(self, role: set[str], account: str, add: bool, what: str) -> None:
        if self._signer(what) not in self.chain.admins:
            raise AnchorReverted(f"{what} reverted: {UNAUTHORIZED}")
        self.chain.transact()
        (role.add if add else role.discard)(account)

    def grant_committer(self, account: str) -> None:
        self._role_change(self.chain.committers, account, True, "grant role")

    def revoke_committer(self, account: str) -> None:
        self._role_change(self.chain.committers, account, False, "revoke role")

    # -- reads --

    def is_committer(self, account: str) -> bool:
        return account in self.chain.committers

    def get(self, cid: str) -> Checkpoint | None:
        found = self.chain.records.get(cid)
        return found[0] if found else None

    def stored(self, cid: str) -> StoredCheckpoint:
        if cid not in self.chain.records:
            raise AnchorReverted(f"getCheckpoint reverted: UnknownCheckpoint({cid})")
        return self.chain.records[cid][1]

    def stored_or_none(self, cid: str) -> StoredCheckpoint | None:
        return self.stored(cid) if cid in self.chain.records else None

    def checkpoints(self, dataset_id: str | None = None) -> list[Checkpoint]:
        return [cp.model_copy(update={"gas_used": None})
                for cp, _ in self.chain.records.values()
                if dataset_id is None or cp.dataset_id == dataset_id]

    def verify_leaf(self, cid: str, proof: list[bytes], leaf: bytes) -> bool:
        return verify(proof, from_hex(self.stored(cid).shards_root), leaf)

    def chain_id(self) -> int:
        return 31337  # anvil's

    def block_number(self) -> int:
        return self.chain.head

    def confirmations(self, block_number: int) -> int:
        return max(0, self.block_number() - block_number + 1)

    def block_at(self, tag: str) -> int | None:
        lag = self.chain.tag_lags.get(tag)
        return None if lag is None else max(0, self.chain.head - lag)

    def block_time(self, block: int) -> datetime | None:
        """A fake block is mined the moment it is asked about: never before a run began."""
        return datetime.now(UTC) if 0 <= block <= self.chain.head else None


# -- the store and the index: the real adapters over in-memory backends ----------------------


def memory_store() -> ArtifactStore:
    """The real ArtifactStore over fsspec's memory:// (one process-wide filesystem, so each
    store gets a folder of its own)."""
    return ArtifactStore(f"memory://laas-{uuid.uuid4().hex[:12]}")


def memory_index() -> LineageIndex:
    """The real LineageIndex over SQLite's :memory: (one connection per thread holds it)."""
    return LineageIndex("sqlite://")


# -- time and a node that never mines ---------------------------------------------------------


class FakeClock:
    """A monotonic clock that moves only when slept on."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.slept = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


class StuckNode:
    """The slice of web3 that Sender uses, over a mempool that mines nothing until told to
    (`mine_at`: mine the newest pending version once the clock passes that time)."""

    def __init__(self, clock: FakeClock, mine_at: float | None = None) -> None:
        from web3.exceptions import TransactionNotFound

        self._not_found = TransactionNotFound
        self.clock = clock
        self.mine_at = mine_at
        self.raw: list[bytes] = []  # every version handed to the node, in order
        self.mined: str | None = None
        self.eth = self
        # What eth_feeHistory reports: the next block's base fee and recent blocks' tips
        # (a bid of 0.8 x 2 + 0.4 = 2 gwei with the default headroom).
        self.base_fee = 800_000_000
        self.tips = [300_000_000, 400_000_000, 500_000_000]

    # web3.eth
    def get_transaction_count(self, address: str, block: str) -> int:
        return 7

    def fee_history(self, blocks: int, newest: str, percentiles: list[float]) -> dict[str, Any]:
        return {"baseFeePerGas": [self.base_fee] * (len(self.tips) + 1),
                "reward": [[t] for t in self.tips]}

    def send_raw_transaction(self, raw: bytes) -> bytes:
        self.raw.append(raw)
        return keccak256(raw)

    def get_transaction_receipt(self, tx_hash: str) -> dict[str, Any]:
        if self.mined is None and self.mine_at is not None and self.clock.now >= self.mine_at:
            self.mined = to_hex(keccak256(self.raw[-1]))
        if tx_hash != self.mined:
            raise self._not_found(tx_hash)
        return {"status": 1, "blockNumber": 1, "transactionHash": tx_hash,
                "gasUsed": 60_000, "effectiveGasPrice": 1_200_000_000}


class FakeCall:
    """A contract call as Sender sees one: something that builds an EIP-1559 transaction."""

    def build_transaction(self, fields: dict[str, Any]) -> dict[str, Any]:
        return {"type": 2, "chainId": 31337, "to": Web3.to_checksum_address("0x" + "ab" * 20),
                "value": 0, "gas": 100_000, "data": "0x", "maxFeePerGas": 2_000_000_000,
                "maxPriorityFeePerGas": 1_000_000_000, **fields}


# -- runs as `laas run` leaves them ----------------------------------------------------------


class FakeLedger:
    """A registry, a store and an index, with runs ingested into them the way the pipeline
    does: raw bytes hashed, a Parquet shard per source, each stage's manifest written,
    attested by the committer and committed on top of its parent."""

    def __init__(self, registry: FakeRegistry | None = None,
                 store: ArtifactStore | None = None, index: LineageIndex | None = None,
                 committer: Any = COMMITTER) -> None:
        self.registry = registry or FakeRegistry(sender=committer.address)
        self.store = store or memory_store()
        self.index = index or memory_index()
        self.committer = committer

    def parts(self, **changes: Any) -> Any:
        """What the composition root hands the anchoring services (ports.Ledger), built from
        these fakes: this store, index, registry and committer key."""
        from laas.anchors.ports import Ledger

        return Ledger(store=self.store, index=self.index, open_registry=lambda: self.registry,
                      committer=self.committer, sleep=lambda s: None, **changes)

    def source(self, dataset: str, key: str, rows: list[dict]) -> str:
        uri = self.store.uri("sources", dataset, key)
        write(uri, "".join(json.dumps(r) + "\n" for r in rows).encode())
        return uri

    def stages(self, dataset: str, run: str, shards: dict[str, list[dict]], *,
               set_aside: dict[str, str] | None = None, passed: bool = True,
               parents: tuple[str, ...] = (),
               contributors: dict[str, str] | None = None, file_sha256: bool = False
               ) -> list[StageManifest]:
        """The run's three manifests, uncommitted. `set_aside`: key -> reason, quarantined at
        the validated stage (the run still passes unless `passed=False`). `contributors`: key
        -> the 0x address each stage's entry of that shard names (a laas-manifest-v4 run).
        `file_sha256`: the Parquet files' sha256 in their entries (v4), as laas's stages write
        it."""
        import hashlib

        import pyarrow as pa
        import pyarrow.parquet as pq

        set_aside = set_aside or {}
        created = datetime.now(UTC)
        raw, normalized = [], []
        for key, rows in shards.items():
            src = self.source(dataset, key, rows)
            data = read(src)
            who = (contributors or {}).get(key)
            raw.append(ShardEntry(key=key, uri=src, source_uri=src, byte_size=len(data),
                                  rows=len(rows), content_hash=to_hex(hash_bytes(data)),
                                  contributor=who))
            buf = io.BytesIO()
            pq.write_table(pa.Table.from_pylist(rows), buf)
            uri = self.store.uri(dataset, run, "normalized", f"{key}.parquet")
            write(uri, buf.getvalue())
            digest, size, count = rehash_parquet_at(uri)
            normalized.append(ShardEntry(
                key=key, uri=uri, source_uri=src, byte_size=size, rows=count,
                content_hash=to_hex(digest), contributor=who,
                sha256=hashlib.sha256(buf.getvalue()).hexdigest() if file_sha256 else None))
        validated = [s.model_copy(update={"status": "quarantined", "reason": set_aside[s.key]})
                     if s.key in set_aside else s for s in normalized]
        report = {"suite": "fake-suite", "suite_hash": to_hex(keccak256(b"fake-suite")),
                  "dataset": []}
        out: list[StageManifest] = []
        for stage, scheme, entries in (("raw", BYTES_SCHEME, raw),
                                       ("normalized", TABLE_SCHEME, normalized),
                                       ("validated", TABLE_SCHEME, validated)):
            last = stage == "validated"
            out.append(manifest(
                dataset, run, stage, entries, scheme=scheme, created_at=created,
                parents=(out[-1].checkpoint_id,) if out else parents,
                passed=passed if last else True,
                validation=report if last else None))
        return out

    def keep(self, m: StageManifest, signer: Any = None) -> str:
        """Write the manifest to the store, attested (as a committer's laas leaves it)."""
        uri = self.store.write_manifest(m)
        self.store.write_attestation(m, attest(signer or self.committer, m.manifest_hash))
        return uri

    def commit(self, m: StageManifest, uri: str | None = None) -> Checkpoint:
        cp = self.registry.commit(m, uri or self.keep(m))
        self.index.record(cp, m)
        return cp

    def ingest(self, dataset: str, run: str, shards: dict[str, list[dict]] | None = None,
               **kw: Any) -> list[StageManifest]:
        """A run committed stage by stage, as `laas run` ends with the chain up."""
        manifests = self.stages(dataset, run, shards or sample_shards(), **kw)
        for m in manifests:
            self.commit(m)
        return manifests


def manifest(dataset: str, run: str, stage: str, shards: list[ShardEntry], *,
             scheme: str = TABLE_SCHEME, parents: tuple[str, ...] = (), passed: bool = True,
             validation: dict | None = None, created_at: datetime | None = None
             ) -> StageManifest:
    extra: dict[str, Any] = {"validation": validation, "result_hash": hash_record(validation)} \
        if validation is not None else {}
    if any(s.contributor or s.sha256 for s in shards):  # the format that carries them
        extra["version"] = SHARD_FACTS_MANIFEST
    return StageManifest(dataset=dataset, dataset_id=name_id(dataset), run=run,
                         run_id=name_id(run), stage=stage, hash_scheme=scheme, parents=parents,
                         shards=tuple(shards), shards_root=stage_root(shards), passed=passed,
                         created_at=created_at or datetime.now(UTC), **extra)


def sample_shards(n: int = 3) -> dict[str, list[dict]]:
    return {f"part-{i}.jsonl": [{"prompt": f"q{i}-{j}", "response": f"a{i}-{j}"}
                                for j in range(4)] for i in range(n)}


def write(uri: str, data: bytes) -> None:
    from laas.anchors.adapters.files import url_to_fs

    fs, path = url_to_fs(uri)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    fs.pipe_file(path, data)


def read(uri: str) -> bytes:
    from laas.anchors.adapters.files import open_uri

    with open_uri(uri) as f:
        return f.read()
