"""The CheckpointRegistry client: deploy, commit one checkpoint per stage (idempotently), read
checkpoints and their events back, verify a leaf on chain. All web3 lives here."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import requests
from web3 import Web3
from web3.exceptions import (
    BlockNotFound,
    ContractCustomError,
    ContractLogicError,
    ProviderConnectionError,
    TimeExhausted,
    TransactionNotFound,
    Web3RPCError,
)

from laas.anchors.adapters.files import redact_url
from laas.anchors.adapters.logpages import LogPager
from laas.anchors.adapters.rpc import FailoverProvider, Retry
from laas.anchors.adapters.wallet import OnSent, Sender
from laas.anchors.core.canonical import from_hex, keccak256, to_hex
from laas.anchors.core.models import Checkpoint, StageManifest
from laas.errors import AnchorError, AnchorReverted, AnchorTimeout, ConfigError

log = logging.getLogger("laas.anchor")

CONTRACTS = Path(__file__).resolve().parent.parent / "contracts"
COMMITTER_ROLE = keccak256(b"COMMITTER_ROLE")


def load_artifact(name: str = "CheckpointRegistry") -> dict[str, Any]:
    return json.loads((CONTRACTS / f"{name}.json").read_text())


_GONE = (requests.exceptions.RequestException, ProviderConnectionError, ConnectionError)


def unreachable(urls: str | Sequence[str], e: BaseException) -> AnchorTimeout:
    """The one diagnosis for a node that is down, never was up, or died mid-call."""
    shown = ", ".join(redact_url(u) for u in ([urls] if isinstance(urls, str) else urls))
    return AnchorTimeout(
        f"chain RPC {shown} is unreachable ({type(e).__name__}): start it with "
        "`laas chain up` or point LAAS_RPC_URL (or LAAS_RPC_FALLBACK_URLS) at a live node; "
        "then `laas anchor --resume`"
    )


def connect(urls: str | Sequence[str], timeout: float = 10.0, retry: Retry | None = None,
            probe: bool = True) -> Web3:
    """A Web3 over the endpoints in order (see FailoverProvider); with probe, a dead set of
    endpoints fails here with the one diagnosis."""
    urls = [urls] if isinstance(urls, str) else list(urls)
    w3 = Web3(FailoverProvider(urls, timeout=timeout, retry=retry))
    if probe:
        try:
            w3.eth.chain_id  # noqa: B018 - touch the node once so a dead endpoint fails here
        except Exception as e:  # requests and aiohttp raise a zoo of connection errors
            raise unreachable(urls, e) from None
    return w3


class Registry:
    """A client of a format-1 registry (CheckpointRegistry: one transaction per stage);
    laas.anchors.adapters.registry_v2 is format 2's. sender=None is a read-only client: it reads and
    verifies, and refuses to send."""

    ARTIFACT = "CheckpointRegistry"
    EVENT = "CheckpointCommitted"  # what a scan reads
    version = 1

    def __init__(self, w3: Web3, address: str, sender: Sender | None, *, deploy_block: int = 0,
                 tx_timeout: float = 120.0, log_range: int = 2000):
        self.w3 = w3
        self.address = Web3.to_checksum_address(address)
        self.sender = sender
        self.deploy_block = deploy_block
        self.tx_timeout = tx_timeout
        self.pager = LogPager(log_range)  # one per client: the window it learns is kept
        self.contract = w3.eth.contract(address=self.address,
                                        abi=load_artifact(self.ARTIFACT)["abi"])
        if not w3.eth.get_code(self.address):
            raise AnchorError(
                f"no CheckpointRegistry at {self.address} on this chain: set "
                "LAAS_REGISTRY_ADDRESS to the deployed one, or `laas chain up` to deploy locally"
            )

    # -- deployment -------------------------------------------------------------------------

    @classmethod
    def deploy(cls, w3: Web3, sender: Sender, admin: str | None = None,
               tx_timeout: float = 120.0) -> tuple[str, int]:
        art = load_artifact(cls.ARTIFACT)
        factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        receipt = sender.send(w3, factory.constructor(admin or sender.address), tx_timeout)
        return receipt["contractAddress"], receipt["blockNumber"]

    # -- writes -----------------------------------------------------------------------------

    def commit(self, manifest: StageManifest, manifest_uri: str, *,
               sent: Iterable[tuple[str, bytes | None]] = (),
               on_sent: OnSent | None = None) -> Checkpoint:
        """Commit the stage's checkpoint, or return it if this exact checkpoint is already on
        chain (a retried task or a resumed run never commits twice). `sent` lists transactions
        an earlier, interrupted attempt sent for it: each is looked up (and, if the node forgot
        it, rebroadcast) before a new one is sent. The notes live in the (untrusted) store, so a
        signed transaction is rebroadcast only if it is provably this commit: its hash is the
        note's, this client's key signed it, and it calls commit() of this registry with
        exactly this manifest; anything else is ignored."""
        with self._rpc():
            if (existing := self._existing(manifest)) is not None:
                return existing
            receipt = self._send_once(
                self._commit_call(manifest, manifest_uri),
                f"commit {manifest.dataset}/{manifest.stage}", sent, on_sent,
                lambda: self._existing(manifest), "CheckpointExists")
            if isinstance(receipt, Checkpoint):
                return receipt
            events = self.contract.events.CheckpointCommitted().process_receipt(receipt)
            return self._from_event(events[0], receipt["gasUsed"])

    def _send_once(self, call: Any, what: str, sent: Iterable[tuple[str, bytes | None]],
                   on_sent: OnSent | None, existing: Any, exists_error: str) -> Any:
        """The receipt of `call`, or what `existing()` finds once an earlier attempt's
        transaction (in `sent`) or a concurrent one has landed. Each noted transaction is
        looked up (and rebroadcast if the node forgot it) before a new one is sent, and only
        if it is provably this call by this key (the notes live in the untrusted store)."""
        for tx_hash, raw in sent:
            if raw is not None and not self._is_our_commit(tx_hash, raw, call):
                log.warning("ignoring a noted transaction %s: not this commit by this key",
                            tx_hash[:18])
                continue
            if self.settle(tx_hash, raw) and (found := existing()):
                return found
        try:
            return self._send(call, what, on_sent)
        except AnchorReverted as e:  # a concurrent attempt got there first
            if exists_error in str(e) and (found := existing()):
                return found
            raise

    def _is_our_commit(self, tx_hash: str, raw: bytes, call: Any) -> bool:
        from eth_account import Account
        from eth_account.typed_transactions import TypedTransaction
        from hexbytes import HexBytes

        try:
            if to_hex(keccak256(raw)) != tx_hash.lower() or self.sender is None:
                return False
            if Account.recover_transaction(raw) != self.sender.address:
                return False
            fields = TypedTransaction.from_bytes(HexBytes(raw)).as_dict() if raw[0] < 0x80 \
                else None
            if fields is None:
                return False  # laas signs only typed (EIP-1559) transactions
            to = fields.get("to")
            data = fields.get("data")
            return (Web3.to_checksum_address(to) == self.address
                    and Web3.to_hex(data) == call._encode_transaction_data())
        except Exception:  # anything that does not decode is not ours
            return False

    def _existing(self, manifest: StageManifest) -> Checkpoint | None:
        existing = self.get(manifest.checkpoint_id)
        if existing is not None and existing.manifest_hash != manifest.manifest_hash:
            raise AnchorError(
                f"checkpoint {manifest.dataset}/{manifest.run}/{manifest.stage} is already "
                f"on chain with another manifest ({existing.manifest_hash[:18]}…): "
                "start a new run instead of resuming this one"
            )
        return existing

    def settle(self, tx_hash: str, raw: bytes | None) -> bool:
        """Find what became of a transaction sent earlier: True once it is mined (waiting for
        it if the node still holds it), False if it can no longer be (dropped, or its nonce
        went to another transaction)."""
        with self._rpc():
            try:
                self.w3.eth.get_transaction_receipt(tx_hash)
                return True
            except TransactionNotFound:
                pass
            try:
                self.w3.eth.get_transaction(tx_hash)
            except TransactionNotFound:
                if raw is None:
                    return False
                try:
                    self.w3.eth.send_raw_transaction(raw)  # the node forgot it: say it again
                except (Web3RPCError, ValueError):
                    return False  # nonce used since: it can never be mined
            try:
                self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self.tx_timeout,
                                                         poll_latency=0.05)
            except TimeExhausted:
                raise AnchorTimeout(
                    f"transaction {tx_hash} is still pending after {self.tx_timeout:.0f}s; "
                    "rerun `laas anchor --resume` later"
                ) from None
            return True

    def _commit_call(self, manifest: StageManifest, manifest_uri: str) -> Any:
        return self.contract.functions.commit((
            from_hex(manifest.dataset_id),
            from_hex(manifest.run_id),
            manifest.stage,
            from_hex(manifest.shards_root),
            len(manifest.accepted),
            from_hex(manifest.manifest_hash),
            manifest_uri,
            from_hex(manifest.result_hash),
            manifest.passed,
            [from_hex(p) for p in manifest.parents],
        ))

    def grant_committer(self, account: str) -> None:
        self._send(self.contract.functions.grantRole(COMMITTER_ROLE, account), "grant role")

    def grant_admin(self, account: str) -> None:
        self._send(self.contract.functions.grantRole(bytes(32), account), "grant admin role")

    def revoke_admin(self, account: str) -> None:
        self._send(self.contract.functions.revokeRole(bytes(32), account), "revoke admin role")

    def is_admin(self, account: str) -> bool:
        with self._rpc():
            return self.contract.functions.hasRole(bytes(32), account).call()

    def revoke_committer(self, account: str) -> None:
        self._send(self.contract.functions.revokeRole(COMMITTER_ROLE, account), "revoke role")

    @contextlib.contextmanager
    def _rpc(self) -> Iterator[None]:
        """A node that dies mid-run is the same diagnosis as one that was never up."""
        try:
            yield
        except _GONE as e:
            provider = self.w3.provider
            raise unreachable(getattr(provider, "urls", None) or provider.endpoint_uri,
                              e) from None

    def _send(self, call: Any, what: str, on_sent: OnSent | None = None) -> Any:
        if self.sender is None:
            raise ConfigError(f"{what}: this client is read-only; set LAAS_PRIVATE_KEY or "
                              "LAAS_KEYSTORE_PATH on the machine that commits")
        try:
            return self.sender.send(self.w3, call, self.tx_timeout, on_sent)
        except ContractCustomError as e:
            raise AnchorReverted(f"{what} reverted: {self._error_name(e)}") from None
        except ContractLogicError as e:
            raise AnchorReverted(f"{what} reverted: {e}") from None
        except TimeExhausted:
            raise AnchorTimeout(
                f"{what}: no receipt within {self.tx_timeout:.0f}s; rerun to resume, the "
                "commit is idempotent"
            ) from None

    def _error_name(self, e: ContractCustomError) -> str:
        data = e.data if isinstance(e.data, str) else str(e.args[-1])
        for item in self.contract.abi:
            if item["type"] == "error":
                sig = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
                if data.startswith(to_hex(keccak256(sig.encode())[:4])):
                    return item["name"]
        return data

    # -- reads ------------------------------------------------------------------------------

    def locate(self, dataset_id: str, run_id: str) -> None:
        """Format 1 finds a checkpoint by its id alone (format 2 by its run's key)."""

    def commit_run(self, stages: Sequence[tuple[StageManifest, str]], *,
                   sent: Iterable[tuple[str, bytes | None]] = (),
                   on_sent: OnSent | None = None) -> list[Checkpoint]:
        """Format 1 has no run commit: the stages one by one, parents first."""
        return [self.commit(m, uri, sent=sent, on_sent=on_sent) for m, uri in stages]

    def is_committer(self, account: str) -> bool:
        with self._rpc():
            return self.contract.functions.hasRole(COMMITTER_ROLE, account).call()

    def get(self, cid: str) -> Checkpoint | None:
        """The checkpoint with its event data, or None if it is not on chain."""
        with self._rpc():
            stored = self.stored_or_none(cid)
            if stored is None:
                return None
            log = self._event_of(cid, stored["block_number"])
            receipt = self.w3.eth.get_transaction_receipt(log["transactionHash"])
        return self._from_event(log, receipt["gasUsed"])

    def _event_of(self, cid: str, block: int) -> Any:
        """The CheckpointCommitted log of a stored checkpoint. The contract records the block
        it was committed in, so one block is read; only where the contract's block.number is
        not this chain's (Arbitrum reports L1's) does it fall back to a paged scan."""
        filters = {"checkpointId": from_hex(cid)}
        logs = self.contract.events.CheckpointCommitted().get_logs(
            from_block=block, to_block=block, argument_filters=filters)
        if not logs:
            logs = next((page for _, page in self._pages(filters) if page), [])
        if not logs:
            raise AnchorError(f"checkpoint {cid} is stored but its event is missing")
        return logs[0]

    def _pages(self, filters: dict[str, Any],
               start: int | None = None) -> Iterator[tuple[int, list[Any]]]:
        """The registry's EVENT logs from `start` (default: the deploy block) to the current
        head, one page at a time, in windows the provider accepts."""
        event = self.contract.events[self.EVENT]()
        head = self.w3.eth.block_number

        def fetch(lo: int, hi: int) -> list[Any]:
            return event.get_logs(from_block=lo, to_block=hi, argument_filters=filters)

        first = self.deploy_block if start is None else max(start, self.deploy_block)
        return self.pager.pages(fetch, first, head)

    def scan(self, start: int | None = None) -> Iterator[tuple[int, list[Checkpoint]]]:
        """Every checkpoint from `start` on, page by page with the last block each page
        covers, so a long scan (index rebuild) can record how far it got and resume."""
        with self._rpc():
            for last, logs in self._pages({}, start):
                yield last, [self._from_event(log, None) for log in logs]

    def stored_or_none(self, cid: str) -> dict[str, Any] | None:
        with self._rpc():
            if not self.contract.functions.exists(from_hex(cid)).call():
                return None
            return self.stored(cid)

    def stored(self, cid: str) -> dict[str, Any]:
        """The struct the contract stores, for checks that must not trust the event log."""
        with self._rpc():
            cp, parents = self.contract.functions.getCheckpoint(from_hex(cid)).call()
        keys = ("dataset_id", "run_id", "stage_hash", "shards_root", "manifest_hash",
                "result_hash", "shard_count", "block_number", "passed", "committer")
        out = dict(zip(keys, cp, strict=True))
        for k in ("dataset_id", "run_id", "stage_hash", "shards_root", "manifest_hash",
                  "result_hash"):
            out[k] = to_hex(out[k])
        out["parents"] = tuple(to_hex(p) for p in parents)
        return out

    def checkpoints(self, dataset_id: str | None = None) -> list[Checkpoint]:
        filters = {"datasetId": from_hex(dataset_id)} if dataset_id else {}
        with self._rpc():
            return [self._from_event(log, None)
                    for _, logs in self._pages(filters) for log in logs]

    def verify_leaf(self, cid: str, proof: list[bytes], leaf: bytes) -> bool:
        with self._rpc():
            return self.contract.functions.verifyLeaf(from_hex(cid), proof, leaf).call()

    def block_number(self) -> int:
        with self._rpc():
            return self.w3.eth.block_number

    def confirmations(self, block_number: int) -> int:
        return max(0, self.block_number() - block_number + 1)

    def block_at(self, tag: str) -> int | None:
        """The number of the block the node calls `tag` ("safe", "finalized"), or None when
        it does not know the tag (an error, or no block: older nodes and some L2s)."""
        with self._rpc():
            try:
                block = self.w3.eth.get_block(tag)
            except (Web3RPCError, BlockNotFound, ValueError):
                return None
        return None if block is None else block["number"]

    @staticmethod
    def _from_event(log: Any, gas_used: int | None) -> Checkpoint:
        a = log["args"]
        return Checkpoint(
            checkpoint_id=to_hex(a["checkpointId"]),
            dataset_id=to_hex(a["datasetId"]),
            run_id=to_hex(a["runId"]),
            stage=a["stage"],
            shards_root=to_hex(a["shardsRoot"]),
            shard_count=a["shardCount"],
            manifest_hash=to_hex(a["manifestHash"]),
            manifest_uri=a["manifestUri"],
            result_hash=to_hex(a["resultHash"]),
            passed=a["passed"],
            parents=tuple(to_hex(p) for p in a["parents"]),
            committer=a["committer"],
            tx_hash=to_hex(bytes(log["transactionHash"])),
            block_number=log["blockNumber"],
            gas_used=gas_used,
        )

