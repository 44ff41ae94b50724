"""The example reward contract (anchors/contracts/ContributorRewards.sol) from Python: deploy it
over a registry (either format), check a share, claim one. laas itself pays nobody; the tests and
bench/gas_shares.py use this, and a reward pool's operator can start from it. Claims come
from the contributor's own account (the contract pays `msg.sender`), here an account the node
holds unlocked or a key through adapters.wallet.Sender."""

from __future__ import annotations

from typing import Any

from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError

from laas.anchors.adapters.abi import Interface
from laas.anchors.adapters.registry_read import load_artifact
from laas.anchors.adapters.wallet import Sender
from laas.errors import AnchorReverted

ANY_COMMITTER = "0x" + "00" * 20  # pay against records of whoever holds the committer role


class Rewards:
    ARTIFACT = "ContributorRewards"

    def __init__(self, w3: Web3, address: str) -> None:
        self.w3 = w3
        self.address = Web3.to_checksum_address(address)
        abi = load_artifact(self.ARTIFACT)["abi"]
        self.interface = Interface(abi)
        self.contract = w3.eth.contract(address=self.address, abi=abi)

    @classmethod
    def deploy(cls, w3: Web3, sender: Sender, registry: str, committer: str = ANY_COMMITTER,
               timeout: float = 120.0) -> Rewards:
        """A reward contract paying against `registry`'s training records by `committer`."""
        art = load_artifact(cls.ARTIFACT)
        factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        receipt = sender.send(w3, factory.constructor(Web3.to_checksum_address(registry),
                                                      Web3.to_checksum_address(committer)),
                              timeout)
        return cls(w3, receipt["contractAddress"])

    def verify_share(self, args: tuple, contributor: str) -> bool:
        """verifyShare for claim arguments (TrainingShares.claim_args) and any address."""
        record, anchor_proof, shares, rows, size, proof = args
        call = self.contract.functions.verifyShare(record, anchor_proof, shares,
                                                   Web3.to_checksum_address(contributor),
                                                   rows, size, proof)
        return bool(self._revert_named(call.call))

    def claim(self, sender: Sender, args: tuple, timeout: float = 120.0) -> Any:
        """Claim as `sender` with TrainingShares.claim_args (six for a format-2 registry's
        `claim`, five for a format-1 one's `claimStored`); the receipt, or AnchorReverted
        naming the contract's error."""
        fn = self.contract.functions.claim if len(args) == 6 else \
            self.contract.functions.claimStored
        return self._revert_named(lambda: sender.send(self.w3, fn(*args), timeout))

    def claimed(self, record_id: str, contributor: str) -> bool:
        return self.contract.functions.claimed(record_id,
                                               Web3.to_checksum_address(contributor)).call()

    def _revert_named(self, fn: Any) -> Any:
        try:
            return fn()
        except ContractCustomError as e:
            data = e.data if isinstance(e.data, str) else str(e.args[-1])
            name = self.interface.error_name(data)
            raise AnchorReverted(f"{self.ARTIFACT} reverted: {name}") from None
        except ContractLogicError as e:
            raise AnchorReverted(f"{self.ARTIFACT} reverted: {e}") from None
