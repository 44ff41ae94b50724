"""Who signs. A key comes from LAAS_PRIVATE_KEY or an encrypted keystore file and is held only
inside a LocalAccount; it is never logged, printed or put in an exception message. On the
local anvil chain with no key set, anvil's unlocked dev account signs instead."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from laas.errors import ConfigError

OnSent = Callable[[str, bytes | None], None]  # (tx hash, signed raw tx if we signed it)


class Sender:
    """Sends a contract call or deployment and waits for its receipt.

    Nonces: several runs, threads or processes may commit from one key at once. Reading the
    pending nonce and handing the signed transaction to the node happen under one file lock
    per account (in lock_dir), so no two transactions get the same nonce and none replaces
    another."""

    def __init__(self, account: LocalAccount | None = None, unlocked: str | None = None,
                 lock_dir: Path | None = None):
        if (account is None) == (unlocked is None):
            raise ValueError("give exactly one of account or unlocked")
        self._account = account
        self.address = Web3.to_checksum_address(account.address if account else unlocked)
        self.lock_dir = lock_dir

    def __repr__(self) -> str:  # never show the key
        return f"Sender({self.address})"

    def send(self, w3: Web3, call: Any, timeout: float, on_sent: OnSent | None = None) -> Any:
        """on_sent hears the transaction hash before the receipt is awaited, so a process
        killed while waiting leaves a record that a resume can look up on chain."""
        if self._account is None:
            tx_hash = call.transact({"from": self.address})  # the node assigns the nonce
            raw = None
        else:
            with self._nonce_lock():
                tx = call.build_transaction({
                    "from": self.address,
                    "nonce": w3.eth.get_transaction_count(self.address, "pending"),
                })
                raw = bytes(self._account.sign_transaction(tx).raw_transaction)
                tx_hash = w3.eth.send_raw_transaction(raw)
        if on_sent is not None:
            on_sent(Web3.to_hex(tx_hash), raw)
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout, poll_latency=0.05)
        if receipt["status"] != 1:
            call.call({"from": self.address}, block_identifier=receipt["blockNumber"])
        return receipt

    @contextlib.contextmanager
    def _nonce_lock(self) -> Iterator[None]:
        if self.lock_dir is None:
            yield
            return
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        with open(self.lock_dir / f"nonce-{self.address}.lock", "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)  # released when the file closes, or the process dies
            yield


def load_sender(w3: Web3, *, private_key: str | None, keystore_path: Path | None,
                keystore_password: str | None, allow_unlocked: bool,
                lock_dir: Path | None = None) -> Sender:
    if private_key:
        try:
            return Sender(account=Account.from_key(private_key), lock_dir=lock_dir)
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
            key = Account.decrypt(blob, keystore_password)
        except Exception:
            raise ConfigError(
                f"cannot decrypt keystore {keystore_path}: wrong LAAS_KEYSTORE_PASSWORD?"
            ) from None
        return Sender(account=Account.from_key(key), lock_dir=lock_dir)
    if allow_unlocked:
        accounts = w3.eth.accounts
        if accounts:
            return Sender(unlocked=accounts[0])
    raise ConfigError(
        "no committer key: set LAAS_PRIVATE_KEY or LAAS_KEYSTORE_PATH (+ LAAS_KEYSTORE_PASSWORD)"
    )
