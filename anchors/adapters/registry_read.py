"""The read-only client of a format-1 registry (CheckpointRegistry): checkpoints, their stored
structs and events, proofs, roles, the chain's heads. No key, no web3 and no eth_account: it
speaks JSON-RPC through adapters.jsonrpc and decodes with adapters.abi, so `laas gate`,
`lineage` and `verify` start fast. The signing client (adapters.registry.Registry) inherits
every read from here, so both read the chain one way."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from laas.anchors.adapters.abi import Interface
from laas.anchors.adapters.jsonrpc import Rpc, RpcError, answered, mapped
from laas.anchors.adapters.logpages import LogPager, one_each
from laas.anchors.core.canonical import from_hex, keccak256, to_hex
from laas.anchors.core.models import Checkpoint
from laas.anchors.core.stored import StoredCheckpoint
from laas.errors import AnchorError, AnchorReverted

CONTRACTS = Path(__file__).resolve().parent.parent / "contracts"
COMMITTER_ROLE = keccak256(b"COMMITTER_ROLE")
ADMIN_ROLE = bytes(32)


def load_artifact(name: str = "CheckpointRegistry") -> dict[str, Any]:
    return json.loads((CONTRACTS / f"{name}.json").read_text())


def checksum_address(address: str) -> str:
    from laas.anchors.adapters.abi import checksum

    raw = address[2:] if address[:2] in ("0x", "0X") else address
    if len(raw) != 40:
        raise ValueError(f"{address!r} is not an address (0x and 40 hex digits)")
    return checksum(bytes.fromhex(raw))


class RegistryRead:
    """A read-only client of a format-1 registry; adapters.registry_v2_read is format 2's."""

    ARTIFACT = "CheckpointRegistry"
    EVENT = "CheckpointCommitted"  # what a scan reads
    version = 1
    sender = None  # signs nothing

    def __init__(self, rpc: Rpc, address: str, *, deploy_block: int = 0,
                 log_range: int = 2000):
        self.rpc = rpc
        self.address = checksum_address(address)
        self.deploy_block = deploy_block
        self.pager = LogPager(log_range)  # one per client: the window it learns is kept
        self.abi = Interface(load_artifact(self.ARTIFACT)["abi"])
        with self.reading():
            code = self.rpc.request("eth_getCode", [self.address, "latest"])
        if code in (None, "0x", ""):
            raise AnchorError(
                f"no CheckpointRegistry at {self.address} on this chain: set "
                "LAAS_REGISTRY_ADDRESS to the deployed one, or `laas chain up` to deploy locally"
            )

    def reading(self) -> Any:
        """The one mapping of a node that is gone (adapters.jsonrpc.mapped); reading without
        a key, an answer of the wrong shape too (jsonrpc.answered: the signing client's
        calls go through web3, whose own errors keep their meaning)."""
        return answered(self.rpc.urls) if self.sender is None else mapped(self.rpc.urls)

    def _call(self, fn: str, *args: Any) -> tuple:
        """A view call's outputs; a revert is AnchorReverted naming the contract's error."""
        data = "0x" + self.abi.call_data(fn, *args).hex()
        try:
            raw = self.rpc.request("eth_call", [{"to": self.address, "data": data}, "latest"])
        except RpcError as e:
            if e.data is None and "revert" not in str(e).lower():  # not the contract's answer
                raise AnchorError(f"eth_call {fn}: the chain's RPC answered with an error: "
                                  f"{e}") from None
            raise AnchorReverted(f"{fn} reverted: {self.error_name(e.data)}") from None
        return self.abi.outputs(fn, from_hex(raw))

    def error_name(self, data: Any) -> str:
        """The contract error a revert's data names (or the data as it came)."""
        return self.abi.error_name(data)

    def _logs(self, event: str, lo: int, hi: int, filters: dict[str, Any]) -> list[dict]:
        raw = self.rpc.request("eth_getLogs", [{
            "address": self.address, "fromBlock": hex(lo), "toBlock": hex(hi),
            "topics": self.abi.topics(event, filters)}])
        return [self.abi.decode_log(event, log) for log in one_each(raw, lo, hi)]

    # -- reads ------------------------------------------------------------------------------

    def locate(self, dataset_id: str, run_id: str) -> None:
        """Format 1 finds a checkpoint by its id alone (format 2 by its run's key)."""

    def is_committer(self, account: str) -> bool:
        with self.reading():
            return self._call("hasRole", COMMITTER_ROLE, account)[0]

    def is_admin(self, account: str) -> bool:
        with self.reading():
            return self._call("hasRole", ADMIN_ROLE, account)[0]

    def get(self, cid: str) -> Checkpoint | None:
        """The checkpoint with its event data, or None if it is not on chain."""
        with self.reading():
            stored = self.stored_or_none(cid)
            if stored is None:
                return None
            log = self._event_of(cid, stored.block_number)
            receipt = self.rpc.request("eth_getTransactionReceipt",
                                       [to_hex(log["transactionHash"])])
            return self._from_event(log, int(receipt["gasUsed"], 16) if receipt else None)

    def _event_of(self, cid: str, block: int) -> Any:
        """The CheckpointCommitted log of a stored checkpoint. The contract records the block
        it was committed in, so one block is read; only where the contract's block.number is
        not this chain's (Arbitrum reports L1's) does it fall back to a paged scan."""
        filters = {"checkpointId": from_hex(cid)}
        logs = self._logs(self.EVENT, block, block, filters)
        if not logs:
            logs = next((page for _, page in self._pages(filters) if page), [])
        if not logs:
            raise AnchorError(f"checkpoint {cid} is stored but its event is missing")
        return logs[0]

    def _pages(self, filters: dict[str, Any],
               start: int | None = None) -> Iterator[tuple[int, list[Any]]]:
        """The registry's EVENT logs from `start` (default: the deploy block) to the current
        head, one page at a time, in windows the provider accepts."""
        head = self.block_number()
        first = self.deploy_block if start is None else max(start, self.deploy_block)
        return self.pager.pages(lambda lo, hi: self._logs(self.EVENT, lo, hi, filters),
                                first, head)

    def scan(self, start: int | None = None) -> Iterator[tuple[int, list[Checkpoint]]]:
        """Every checkpoint from `start` on, page by page with the last block each page
        covers, so a long scan (index rebuild) can record how far it got and resume."""
        with self.reading():
            for last, logs in self._pages({}, start):
                yield last, [self._from_event(log, None) for log in logs]

    def stored_or_none(self, cid: str) -> StoredCheckpoint | None:
        with self.reading():
            if not self._call("exists", from_hex(cid))[0]:
                return None
            return self.stored(cid)

    def stored(self, cid: str) -> StoredCheckpoint:
        """The struct the contract stores, for checks that must not trust the event log."""
        with self.reading():
            cp, parents = self._call("getCheckpoint", from_hex(cid))
        (dataset_id, run_id, stage_hash, shards_root, manifest_hash, result_hash, shard_count,
         block_number, passed, committer) = cp
        return StoredCheckpoint(
            dataset_id=to_hex(dataset_id), run_id=to_hex(run_id), stage_hash=to_hex(stage_hash),
            shards_root=to_hex(shards_root), manifest_hash=to_hex(manifest_hash),
            result_hash=to_hex(result_hash), shard_count=shard_count,
            block_number=block_number, passed=passed, committer=committer,
            parents=tuple(to_hex(p) for p in parents))

    def checkpoints(self, dataset_id: str | None = None) -> list[Checkpoint]:
        filters = {"datasetId": from_hex(dataset_id)} if dataset_id else {}
        with self.reading():
            return [self._from_event(log, None)
                    for _, logs in self._pages(filters) for log in logs]

    def verify_leaf(self, cid: str, proof: list[bytes], leaf: bytes) -> bool:
        with self.reading():
            return self._call("verifyLeaf", from_hex(cid), proof, leaf)[0]

    def chain_id(self) -> int:
        with self.reading():
            return self.rpc.chain_id()

    def block_number(self) -> int:
        with self.reading():
            return int(self.rpc.request("eth_blockNumber", []), 16)

    def confirmations(self, block_number: int) -> int:
        return max(0, self.block_number() - block_number + 1)

    def block_at(self, tag: str) -> int | None:
        """The number of the block the node calls `tag` ("safe", "finalized"), or None when
        it does not know the tag (an error, or no block: older nodes and some L2s)."""
        with self.reading():
            try:
                block = self.rpc.request("eth_getBlockByNumber", [tag, False])
            except RpcError:
                return None
            return int(block["number"], 16) if isinstance(block, dict) else None

    def block_time(self, block: int) -> datetime | None:
        """When `block` was mined, or None if the node no longer has it."""
        with self.reading():
            try:
                found = self.rpc.request("eth_getBlockByNumber", [hex(block), False])
            except RpcError:
                return None
            return datetime.fromtimestamp(int(found["timestamp"], 16), UTC) \
                if isinstance(found, dict) else None

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


def format_of(rpc: Rpc, address: str) -> int:
    """The registry's format: 2 answers VERSION(), format 1 has no such function (the call
    reverts)."""
    selector = "0x" + keccak256(b"VERSION()")[:4].hex()
    try:
        answer = from_hex(rpc.request("eth_call", [{"to": checksum_address(address),
                                                    "data": selector}, "latest"]))
    except RpcError:  # a revert, in whichever form the node gives it
        return 1
    return int.from_bytes(answer, "big") if len(answer) == 32 else 1


def reader_at(rpc: Rpc, address: str, **kwargs: Any) -> RegistryRead:
    """The read-only client for whatever format the registry at `address` is."""
    from laas.anchors.adapters.registry_v2_read import RegistryV2Read

    with answered(rpc.urls):
        version = format_of(rpc, address)
    return (RegistryV2Read if version >= 2 else RegistryRead)(rpc, address, **kwargs)
