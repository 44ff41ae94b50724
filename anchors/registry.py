"""The CheckpointRegistry client: deploy, commit one checkpoint per stage (idempotently), read
checkpoints and their events back, verify a leaf on chain. All web3 lives here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eth_abi import encode as abi_encode
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError, TimeExhausted

from laas.anchors.canonical import from_hex, keccak256, to_hex
from laas.anchors.models import Checkpoint, StageManifest
from laas.anchors.wallet import Sender
from laas.errors import AnchorError, AnchorReverted, AnchorTimeout

ARTIFACT = Path(__file__).resolve().parent / "contracts" / "CheckpointRegistry.json"
COMMITTER_ROLE = keccak256(b"COMMITTER_ROLE")


def load_artifact() -> dict[str, Any]:
    return json.loads(ARTIFACT.read_text())


def checkpoint_id(dataset_id: str, run_id: str, stage: str) -> str:
    """Same derivation as CheckpointRegistry.checkpointId."""
    return to_hex(keccak256(abi_encode(
        ["bytes32", "bytes32", "bytes32"],
        [from_hex(dataset_id), from_hex(run_id), keccak256(stage.encode())],
    )))


def connect(url: str, timeout: float = 10.0) -> Web3:
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout}))
    try:
        w3.eth.chain_id  # noqa: B018 - touch the node once so a dead endpoint fails here
    except Exception as e:  # requests and aiohttp raise a zoo of connection errors
        raise AnchorTimeout(
            f"chain RPC {url} is unreachable ({type(e).__name__}): start it with "
            "`laas chain up` or point LAAS_RPC_URL at a live node"
        ) from None
    return w3


class Registry:
    def __init__(self, w3: Web3, address: str, sender: Sender, *, deploy_block: int = 0,
                 tx_timeout: float = 120.0):
        self.w3 = w3
        self.address = Web3.to_checksum_address(address)
        self.sender = sender
        self.deploy_block = deploy_block
        self.tx_timeout = tx_timeout
        self.contract = w3.eth.contract(address=self.address, abi=load_artifact()["abi"])
        if not w3.eth.get_code(self.address):
            raise AnchorError(
                f"no CheckpointRegistry at {self.address} on this chain: set "
                "LAAS_REGISTRY_ADDRESS to the deployed one, or `laas chain up` to deploy locally"
            )

    # -- deployment -------------------------------------------------------------------------

    @staticmethod
    def deploy(w3: Web3, sender: Sender, admin: str | None = None,
               tx_timeout: float = 120.0) -> tuple[str, int]:
        art = load_artifact()
        factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        receipt = sender.send(w3, factory.constructor(admin or sender.address), tx_timeout)
        return receipt["contractAddress"], receipt["blockNumber"]

    # -- writes -----------------------------------------------------------------------------

    def commit(self, manifest: StageManifest, manifest_uri: str) -> Checkpoint:
        """Commit the stage's checkpoint, or return it if this exact checkpoint is already on
        chain (a retried task or a resumed run never commits twice)."""
        cid = checkpoint_id(manifest.dataset_id, manifest.run_id, manifest.stage)
        existing = self.get(cid)
        if existing is not None:
            if existing.manifest_hash != manifest.manifest_hash:
                raise AnchorError(
                    f"checkpoint {manifest.dataset}/{manifest.run}/{manifest.stage} is already "
                    f"on chain with another manifest ({existing.manifest_hash[:18]}…): "
                    "start a new run instead of resuming this one"
                )
            return existing
        call = self.contract.functions.commit((
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
        receipt = self._send(call, f"commit {manifest.dataset}/{manifest.stage}")
        events = self.contract.events.CheckpointCommitted().process_receipt(receipt)
        return self._from_event(events[0], receipt["gasUsed"])

    def grant_committer(self, account: str) -> None:
        self._send(self.contract.functions.grantRole(COMMITTER_ROLE, account), "grant role")

    def revoke_committer(self, account: str) -> None:
        self._send(self.contract.functions.revokeRole(COMMITTER_ROLE, account), "revoke role")

    def _send(self, call: Any, what: str) -> Any:
        try:
            return self.sender.send(self.w3, call, self.tx_timeout)
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

    def is_committer(self, account: str) -> bool:
        return self.contract.functions.hasRole(COMMITTER_ROLE, account).call()

    def get(self, cid: str) -> Checkpoint | None:
        """The checkpoint with its event data, or None if it is not on chain."""
        if not self.contract.functions.exists(from_hex(cid)).call():
            return None
        logs = self.contract.events.CheckpointCommitted().get_logs(
            from_block=self.deploy_block, argument_filters={"checkpointId": from_hex(cid)}
        )
        if not logs:
            raise AnchorError(f"checkpoint {cid} is stored but its event is missing")
        log = logs[0]
        receipt = self.w3.eth.get_transaction_receipt(log["transactionHash"])
        return self._from_event(log, receipt["gasUsed"])

    def stored(self, cid: str) -> dict[str, Any]:
        """The struct the contract stores, for checks that must not trust the event log."""
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
        logs = self.contract.events.CheckpointCommitted().get_logs(
            from_block=self.deploy_block, argument_filters=filters
        )
        return [self._from_event(log, None) for log in logs]

    def verify_leaf(self, cid: str, proof: list[bytes], leaf: bytes) -> bool:
        return self.contract.functions.verifyLeaf(from_hex(cid), proof, leaf).call()

    def block_number(self) -> int:
        return self.w3.eth.block_number

    def confirmations(self, block_number: int) -> int:
        return max(0, self.block_number() - block_number + 1)

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

