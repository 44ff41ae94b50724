"""Who signs. A key comes from LAAS_PRIVATE_KEY or an encrypted keystore file and is held only
inside a LocalAccount; it is never logged, printed or put in an exception message. On the
local anvil chain with no key set, anvil's unlocked dev account signs instead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from laas.errors import ConfigError


class Sender:
    """Sends a contract call or deployment and waits for its receipt."""

    def __init__(self, account: LocalAccount | None = None, unlocked: str | None = None):
        if (account is None) == (unlocked is None):
            raise ValueError("give exactly one of account or unlocked")
        self._account = account
        self.address = Web3.to_checksum_address(account.address if account else unlocked)

    def __repr__(self) -> str:  # never show the key
        return f"Sender({self.address})"

    def send(self, w3: Web3, call: Any, timeout: float) -> Any:
        if self._account is None:
            tx_hash = call.transact({"from": self.address})
        else:
            tx = call.build_transaction({
                "from": self.address,
                "nonce": w3.eth.get_transaction_count(self.address, "pending"),
            })
            signed = self._account.sign_transaction(tx)
            tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout, poll_latency=0.05)
        if receipt["status"] != 1:
            call.call({"from": self.address}, block_identifier=receipt["blockNumber"])
        return receipt


def load_sender(w3: Web3, *, private_key: str | None, keystore_path: Path | None,
                keystore_password: str | None, allow_unlocked: bool) -> Sender:
    if private_key:
        try:
            return Sender(account=Account.from_key(private_key))
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
        return Sender(account=Account.from_key(key))
    if allow_unlocked:
        accounts = w3.eth.accounts
        if accounts:
            return Sender(unlocked=accounts[0])
    raise ConfigError(
        "no committer key: set LAAS_PRIVATE_KEY or LAAS_KEYSTORE_PATH (+ LAAS_KEYSTORE_PASSWORD)"
    )
