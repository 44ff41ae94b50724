"""The signing client of a format-1 registry (CheckpointRegistry): deploy, commit one checkpoint
per stage (idempotently), manage the committer role. Everything it reads it inherits from the
read-only client (adapters.registry_read), so web3 and eth_account are loaded only where a
key signs; format 2's signing client is adapters.registry_v2."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from web3 import Web3
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    TimeExhausted,
    TransactionNotFound,
    Web3RPCError,
)

from laas.anchors.adapters.endpoints import Endpoints
from laas.anchors.adapters.jsonrpc import Rpc, unreachable
from laas.anchors.adapters.registry_read import (
    ADMIN_ROLE,
    COMMITTER_ROLE,
    RegistryRead,
    load_artifact,
)
from laas.anchors.adapters.rpc import FailoverProvider, Retry
from laas.anchors.adapters.wallet import OnSent, Sender
from laas.anchors.core.canonical import from_hex, keccak256, to_hex
from laas.anchors.core.models import Checkpoint, StageManifest
from laas.errors import AnchorError, AnchorReverted, AnchorTimeout, ConfigError

__all__ = ["COMMITTER_ROLE", "Registry", "connect", "load_artifact", "unreachable"]

log = logging.getLogger("laas.anchor")


def connect(urls: str | Sequence[str], timeout: float = 10.0, retry: Retry | None = None,
            probe: bool = True, proxies: Mapping[str, str] | None = None) -> Web3:
    """A Web3 over the endpoints in order (see FailoverProvider); with probe, a dead set of
    endpoints fails here with the one diagnosis."""
    urls = [urls] if isinstance(urls, str) else list(urls)
    w3 = Web3(FailoverProvider(urls, timeout=timeout, retry=retry, proxies=proxies))
    if probe:
        try:
            w3.eth.chain_id  # noqa: B018 - touch the node once so a dead endpoint fails here
        except Exception as e:  # requests and aiohttp raise a zoo of connection errors
            raise unreachable(urls, e) from None
    return w3


def rpc_of(w3: Web3) -> Rpc:
    """The light client over the same endpoints (and, for a FailoverProvider, the same
    connections and failover state) as `w3`, for the reads."""
    provider = w3.provider
    endpoints = getattr(provider, "endpoints", None)
    return Rpc(endpoints if isinstance(endpoints, Endpoints) else
               Endpoints([provider.endpoint_uri]))


class Registry(RegistryRead):
    """A client of a format-1 registry (CheckpointRegistry: one transaction per stage) with a
    key; laas.anchors.adapters.registry_v2 is format 2's. sender=None reads and refuses to
    send (readers that should not load web3 use RegistryRead)."""

    def __init__(self, w3: Web3, address: str, sender: Sender | None, *, deploy_block: int = 0,
                 tx_timeout: float = 120.0, log_range: int = 2000):
        self.w3 = w3
        self.sender = sender
        self.tx_timeout = tx_timeout
        super().__init__(rpc_of(w3), address, deploy_block=deploy_block, log_range=log_range)
        self.contract = w3.eth.contract(address=self.address,
                                        abi=load_artifact(self.ARTIFACT)["abi"])

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
        exactly this manifest; anything else is ignored. A note without the signed bytes is
        waited on only if the transaction the node holds under its hash is that commit."""
        with self.reading():
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
            if not self._is_our_commit(tx_hash, raw, call):
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

    def _is_our_commit(self, tx_hash: str, raw: bytes | None, call: Any) -> bool:
        from eth_account import Account
        from eth_account.typed_transactions import TypedTransaction
        from hexbytes import HexBytes

        try:
            if self.sender is None:
                return False
            if raw is None:  # signed by the node (an unlocked account): what it holds, if any
                try:
                    tx = self.w3.eth.get_transaction(tx_hash)
                except TransactionNotFound:
                    return True  # nothing to wait for: settle finds it gone
                sender, to, data = tx["from"], tx.get("to"), tx.get("input")
            else:
                if to_hex(keccak256(raw)) != tx_hash.lower() or raw[0] >= 0x80:
                    return False  # laas signs only typed (EIP-1559) transactions
                sender = Account.recover_transaction(raw)
                fields = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
                to, data = fields.get("to"), fields.get("data")
            return (sender == self.sender.address and Web3.to_checksum_address(to) == self.address
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
        with self.reading():
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
            manifest.accepted_count,
            from_hex(manifest.manifest_hash),
            manifest_uri,
            from_hex(manifest.result_hash),
            manifest.passed,
            [from_hex(p) for p in manifest.parents],
        ))

    def grant_committer(self, account: str) -> None:
        self._send(self.contract.functions.grantRole(COMMITTER_ROLE, account), "grant role")

    def grant_admin(self, account: str) -> None:
        self._send(self.contract.functions.grantRole(ADMIN_ROLE, account), "grant admin role")

    def revoke_admin(self, account: str) -> None:
        self._send(self.contract.functions.revokeRole(ADMIN_ROLE, account), "revoke admin role")

    def revoke_committer(self, account: str) -> None:
        self._send(self.contract.functions.revokeRole(COMMITTER_ROLE, account), "revoke role")

    def _send(self, call: Any, what: str, on_sent: OnSent | None = None) -> Any:
        if self.sender is None:
            raise ConfigError(f"{what}: this client is read-only; set LAAS_PRIVATE_KEY or "
                              "LAAS_KEYSTORE_PATH on the machine that commits")
        try:
            return self.sender.send(self.w3, call, self.tx_timeout, on_sent)
        except ContractCustomError as e:
            data = e.data if isinstance(e.data, str) else str(e.args[-1])
            raise AnchorReverted(f"{what} reverted: {self.error_name(data)}") from None
        except ContractLogicError as e:
            raise AnchorReverted(f"{what} reverted: {e}") from None
        except TimeExhausted:
            raise AnchorTimeout(
                f"{what}: no receipt within {self.tx_timeout:.0f}s; rerun to resume, the "
                "commit is idempotent"
            ) from None

    def commit_run(self, stages: Sequence[tuple[StageManifest, str]], *,
                   sent: Iterable[tuple[str, bytes | None]] = (),
                   on_sent: OnSent | None = None) -> list[Checkpoint]:
        """Format 1 has no run commit: the stages one by one, parents first."""
        return [self.commit(m, uri, sent=sent, on_sent=on_sent) for m, uri in stages]
