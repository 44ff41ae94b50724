"""Who signs. A key comes from LAAS_PRIVATE_KEY or an encrypted keystore file and is held only
inside a LocalAccount; it is never logged, printed or put in an exception message. On the
local anvil chain with no key set, anvil's unlocked dev account signs instead."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from pydantic import BaseModel, ConfigDict
from web3 import Web3
from web3.exceptions import (
    ContractLogicError,
    TimeExhausted,
    TransactionNotFound,
    Web3RPCError,
)

from laas.anchors.ports import Clock, OnSent, SystemClock
from laas.errors import ConfigError


class FeePolicy(BaseModel):
    """When a transaction waits unmined for `bump_after` seconds, resend it (same nonce) with
    fees raised by a quarter, at most `max_bumps` times and never above `max_fee_wei`."""

    model_config = ConfigDict(frozen=True)

    bump_after: float = 30.0
    max_bumps: int = 3
    max_fee_wei: int | None = None


def bumped(tx: dict[str, Any], cap: int | None) -> dict[str, Any] | None:
    """The transaction with both fees x1.25 (nodes replace a pending one only for at least 10%
    more on both), or None when the cap leaves no room to replace it."""
    keys = ["maxFeePerGas", "maxPriorityFeePerGas"] if "maxFeePerGas" in tx else ["gasPrice"]
    out = dict(tx)
    for k in keys:
        out[k] = -(-tx[k] * 5 // 4)  # x1.25, rounded up
    top = keys[0]
    if cap is not None and out[top] > cap:
        if cap * 10 < tx[top] * 11:  # capped, the raise is under the 10% a node demands
            return None
        out[top] = cap
        if len(keys) == 2:
            out[keys[1]] = min(out[keys[1]], cap)
    return out


class Sender:
    """Sends a contract call or deployment and waits for its receipt.

    Nonces: several runs, threads or processes may commit from one key at once. Reading the
    pending nonce and handing the signed transaction to the node happen under one file lock
    per account (in lock_dir), so no two transactions get the same nonce and none replaces
    another.

    clock: what _await reads and sleeps on (the wall clock unless a test gives a fake one, so
    fee bumping can be tested without waiting bump_after seconds)."""

    def __init__(self, account: LocalAccount | None = None, unlocked: str | None = None,
                 lock_dir: Path | None = None, fees: FeePolicy | None = None,
                 clock: Clock | None = None):
        if (account is None) == (unlocked is None):
            raise ValueError("give exactly one of account or unlocked")
        self._account = account
        self.address = Web3.to_checksum_address(account.address if account else unlocked)
        self.lock_dir = lock_dir
        self.fees = fees or FeePolicy()
        self.clock = clock or SystemClock()

    def __repr__(self) -> str:  # never show the key
        return f"Sender({self.address})"

    def send(self, w3: Web3, call: Any, timeout: float, on_sent: OnSent | None = None) -> Any:
        """on_sent hears the transaction hash before the receipt is awaited, so a process
        killed while waiting leaves a record that a resume can look up on chain."""
        note = on_sent or (lambda tx_hash, raw: None)
        if self._account is None:
            tx_hash = call.transact({"from": self.address})  # the node assigns the nonce
            note(Web3.to_hex(tx_hash), None)
            receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout,
                                                          poll_latency=0.05)
        else:
            with self._nonce_lock():
                tx = call.build_transaction({
                    "from": self.address,
                    "nonce": w3.eth.get_transaction_count(self.address, "pending"),
                })
                tx_hash = self._sign_and_send(w3, tx, note)
            receipt = self._await(w3, tx, [tx_hash], timeout, note)
        if receipt["status"] != 1:
            self._raise_revert(call, receipt["blockNumber"])
        return receipt

    def _raise_revert(self, call: Any, block: int) -> None:
        """Replay a mined, failed call to raise its revert reason. Nodes that keep no state
        history (the local anvil prunes it; so do most L2 RPC nodes) cannot answer for an old
        block, so the replay falls back to the latest state, which is where a retry would
        run anyway."""
        try:
            call.call({"from": self.address}, block_identifier=block)
        except Web3RPCError:  # that block's state is gone: not a revert, a missing state
            call.call({"from": self.address}, block_identifier="latest")
        raise ContractLogicError(f"execution reverted in block {block} (the replay did not "
                                 "revert, so its reason is unknown)")

    def _sign_and_send(self, w3: Web3, tx: dict[str, Any], note: OnSent) -> str:
        raw = bytes(self._account.sign_transaction(tx).raw_transaction)
        tx_hash = Web3.to_hex(w3.eth.send_raw_transaction(raw))
        note(tx_hash, raw)
        return tx_hash

    def _await(self, w3: Web3, tx: dict[str, Any], hashes: list[str], timeout: float,
               note: OnSent) -> Any:
        """The receipt of whichever of the transaction's versions is mined; while none is,
        a higher-fee version replaces it every bump_after seconds, within the policy."""
        start = self.clock.monotonic()
        deadline = start + timeout
        next_bump = start + self.fees.bump_after
        bumps = 0
        while True:
            for h in hashes:
                try:
                    return w3.eth.get_transaction_receipt(h)
                except TransactionNotFound:
                    pass
            now = self.clock.monotonic()
            if now >= deadline:
                raise TimeExhausted(f"no receipt for {hashes[-1]} within {timeout:.0f}s")
            if now >= next_bump and bumps < self.fees.max_bumps:
                bumps += 1
                next_bump = now + self.fees.bump_after
                higher = bumped(tx, self.fees.max_fee_wei)
                if higher is None:
                    bumps = self.fees.max_bumps  # at the cap: wait for what is out there
                    continue
                try:
                    hashes.append(self._sign_and_send(w3, higher, note))
                    tx = higher
                except (Web3RPCError, ValueError):
                    pass  # mined meanwhile (nonce too low) or refused: the receipts will say
            # fast on anvil, gentle on a slow L2
            self.clock.sleep(0.05 if now - start < 2 else 0.25)

    @contextlib.contextmanager
    def _nonce_lock(self) -> Iterator[None]:
        if self.lock_dir is None:
            yield
            return
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        with open(self.lock_dir / f"nonce-{self.address}.lock", "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)  # released when the file closes, or the process dies
            yield


def load_account(*, private_key: str | None, keystore_path: Path | None,
                 keystore_password: str | None) -> LocalAccount | None:
    """The configured key (LAAS_PRIVATE_KEY, else the keystore), or None if none is set."""
    if private_key:
        try:
            return Account.from_key(private_key)
        except Exception:
            raise ConfigError("LAAS_PRIVATE_KEY is not a valid hex private key") from None
    if keystore_path:
        try:
            blob = Path(keystore_path).read_text()
        except OSError as e:
            raise ConfigError(f"LAAS_KEYSTORE_PATH {keystore_path}: {e.strerror}") from None
        if keystore_password is None:
            raise ConfigError("LAAS_KEYSTORE_PASSWORD is required with LAAS_KEYSTORE_PATH")
        try:
            return Account.from_key(Account.decrypt(blob, keystore_password))
        except Exception:
            raise ConfigError(
                f"cannot decrypt keystore {keystore_path}: wrong LAAS_KEYSTORE_PASSWORD?"
            ) from None
    return None


def load_sender(w3: Web3, *, account: LocalAccount | None = None,
                private_key: str | None = None, keystore_path: Path | None = None,
                keystore_password: str | None = None, allow_unlocked: bool = False,
                lock_dir: Path | None = None, fees: FeePolicy | None = None) -> Sender:
    """A Sender for `account`, else the configured key, else (allow_unlocked) the node's first
    unlocked account."""
    account = account or load_account(private_key=private_key, keystore_path=keystore_path,
                                      keystore_password=keystore_password)
    if account is None and allow_unlocked and w3.eth.accounts:
        return Sender(unlocked=w3.eth.accounts[0])
    if account is None:
        raise ConfigError(
            "no committer key: set LAAS_PRIVATE_KEY or LAAS_KEYSTORE_PATH "
            "(+ LAAS_KEYSTORE_PASSWORD)"
        )
    return Sender(account=account, lock_dir=lock_dir, fees=fees)
