"""The read-only client of a format-2 registry (CheckpointRegistryV2): one slot per run on
chain, the records in calldata. Every read is bounded: a checkpoint is one contract read
(where its run is anchored), one eth_getLogs over that one block and one
eth_getTransactionByHash (the records travel in calldata), and what those say is checked
against the stored root (laas.anchors.core.commitments), so an RPC that lies about logs or
transactions is refused, not believed. No key and no web3 (see adapters.registry_read); the
signing client, adapters.registry_v2.RegistryV2, inherits these reads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from laas.anchors.adapters.registry_read import RegistryRead
from laas.anchors.adapters.runcalls import WHERE, RunCalldata
from laas.anchors.core.canonical import from_hex, to_hex
from laas.anchors.core.commitments import (
    committed_struct,
    leaf_of,
    matches,
    pair_proof,
    pair_root,
    run_key,
)
from laas.anchors.core.models import STAGE_ORDER, Checkpoint, checkpoint_id
from laas.anchors.core.stored import StoredCheckpoint, stored_of
from laas.errors import AnchorError, AnchorReverted


class RegistryV2Read(RunCalldata, RegistryRead):
    ARTIFACT = "CheckpointRegistryV2"
    EVENT = "RunCommitted"
    version = 2

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._runs: dict[str, list[Checkpoint]] = {}  # anchor key -> its verified records
        self._batched: dict[str, tuple[Checkpoint, str, list[bytes]]] = {}  # services.batch

    def admit_batched(self, cp: Checkpoint, root: str, proof: list[bytes]) -> None:
        """A checkpoint laas.anchors.services.batch.admit proved to reach a batch root on chain."""
        self._batched[cp.checkpoint_id] = (cp, root, proof)

    def anchor_of(self, key: str) -> tuple[int, bytes]:
        """(block, stored root) of what is anchored under `key` (a run key or a batch root);
        block 0: nothing."""
        with self.reading():
            block, root = self._call("anchorOf", from_hex(key))
        return block, root

    # -- where things are -------------------------------------------------------------------

    def locate(self, dataset_id: str, run_id: str) -> str:
        """Note that the stages of this run are anchored under its run key (no RPC)."""
        key = run_key(dataset_id, run_id)
        for stage in STAGE_ORDER:
            WHERE[(self.address, checkpoint_id(dataset_id, run_id, stage))] = key
        return key

    def _key_of(self, cid: str) -> str | None:
        if (key := WHERE.get((self.address, cid))) is not None:
            return key
        # Never seen: the one case that scans (a derived run's parent named only by its id,
        # in a fresh process). Paged in windows the provider accepts.
        for _, cps in self.scan():
            if any(c.checkpoint_id == cid for c in cps):
                return WHERE.get((self.address, cid))
        return None

    def _run(self, key: str, block: int | None = None, root: bytes | None = None
             ) -> list[Checkpoint]:
        """The records anchored under `key`, as the event says them, once the event matches
        the root the contract keeps; [] if nothing is anchored there."""
        if key in self._runs:
            return self._runs[key]
        if block is None:
            block, root = self.anchor_of(key)
        if block == 0:
            return []
        logs = self._logs("RunCommitted", block, block, {"anchorKey": from_hex(key)})
        for log in logs:  # a lying RPC may add logs: the one that matches the chain counts
            cps = self._decode([log], with_gas=True)
            if cps and matches(pair_root([leaf_of(c) for c in cps]), root):
                self._runs[key] = cps
                return cps
        raise AnchorError(
            f"the RPC's RunCommitted log of anchor {key[:18]}… (block {block}) does not match "
            "the commitment the contract stores: the RPC is lying or broken; use another "
            "LAAS_RPC_URL")

    # -- reads ------------------------------------------------------------------------------

    def get(self, cid: str) -> Checkpoint | None:
        if cid in self._batched:
            return self._batched[cid][0]
        with self.reading():
            key = self._key_of(cid)
            return next((c for c in self._run(key) if c.checkpoint_id == cid), None) \
                if key else None

    def stored_or_none(self, cid: str) -> StoredCheckpoint | None:
        cp = self.get(cid)
        return None if cp is None else stored_of(cp)

    def stored(self, cid: str) -> StoredCheckpoint:
        if (found := self.stored_or_none(cid)) is None:
            raise AnchorReverted(f"getCheckpoint reverted: UnknownCheckpoint({cid})")
        return found

    def latest(self, dataset_id: str) -> Checkpoint | None:
        """The dataset's latest run with a validated stage (whatever its verdict): its
        validated checkpoint, in one contract read and one eth_getLogs."""
        with self.reading():
            run_id, block, root = self._call("latest", from_hex(dataset_id))
            if block == 0:
                return None
            key = self.locate(dataset_id, to_hex(run_id))
            cid = checkpoint_id(dataset_id, to_hex(run_id), "validated")
            return next(c for c in self._run(key, block, root) if c.checkpoint_id == cid)

    def anchor_path(self, cid: str) -> tuple[Checkpoint, str, list[bytes]]:
        """A checkpoint on chain, the key it is anchored under (its run key, or a batch root)
        and the Merkle path from its commitment (`leafOf`) to what is stored there."""
        cp = self.get(cid)
        if cp is None:
            raise AnchorError(f"checkpoint {cid} is not on chain")
        if cid in self._batched:
            _, key, anchor_proof = self._batched[cid]
            return cp, key, anchor_proof
        key = self._key_of(cid)
        run = self._run(key)
        return cp, key, pair_proof([leaf_of(c) for c in run], run.index(cp))

    def verify_leaf(self, cid: str, proof: list[bytes], leaf: bytes) -> bool:
        """On chain: the checkpoint's record reaches its run's anchor, and `leaf` its root."""
        cp, key, anchor_proof = self.anchor_path(cid)
        with self.reading():
            return self._call("verifyLeaf", from_hex(key), anchor_proof, committed_struct(cp),
                              proof, leaf)[0]

    def scan(self, start: int | None = None) -> Iterator[tuple[int, list[Checkpoint]]]:
        with self.reading():
            for last, logs in self._pages({}, start):
                yield last, self._decode(logs)

    def checkpoints(self, dataset_id: str | None = None) -> list[Checkpoint]:
        filters = {"datasetId": from_hex(dataset_id)} if dataset_id else {}
        with self.reading():
            return [c for _, logs in self._pages(filters) for c in self._decode(logs)]
