"""The client of a format-2 registry (CheckpointRegistryV2): a run's stages in one transaction,
one slot per run on chain. Every read is bounded: a
checkpoint is one contract read (where its run is anchored), one eth_getLogs over that one
block and one eth_getTransactionByHash (the records travel in calldata), and what those say is
checked against the stored root (laas.anchors.core.commitments), so an RPC that lies about logs or
transactions is refused, not believed."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from laas.anchors.adapters.registry import Registry
from laas.anchors.adapters.runcalls import WHERE, ZERO, RunCalldata, run_dir, short_uri
from laas.anchors.core.canonical import from_hex, keccak256, to_hex
from laas.anchors.core.commitments import (
    committed_struct,
    leaf_of,
    matches,
    pair_proof,
    pair_root,
    run_key,
)
from laas.anchors.core.models import STAGE_ORDER, Checkpoint, StageManifest, checkpoint_id
from laas.anchors.ports import OnSent
from laas.errors import AnchorError, AnchorReverted


class RegistryV2(RunCalldata, Registry):
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
            block, root = self.contract.functions.anchorOf(from_hex(key)).call()
        if block == 0:
            return []
        logs = self.contract.events.RunCommitted().get_logs(
            from_block=block, to_block=block, argument_filters={"anchorKey": from_hex(key)})
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
        with self._rpc():
            key = self._key_of(cid)
            return next((c for c in self._run(key) if c.checkpoint_id == cid), None) \
                if key else None

    def stored_or_none(self, cid: str) -> dict[str, Any] | None:
        cp = self.get(cid)
        if cp is None:
            return None
        return {"dataset_id": cp.dataset_id, "run_id": cp.run_id,
                "stage_hash": to_hex(keccak256(cp.stage.encode())),
                "shards_root": cp.shards_root, "manifest_hash": cp.manifest_hash,
                "result_hash": cp.result_hash, "shard_count": cp.shard_count,
                "block_number": cp.block_number, "passed": cp.passed,
                "committer": cp.committer, "parents": cp.parents}

    def stored(self, cid: str) -> dict[str, Any]:
        if (found := self.stored_or_none(cid)) is None:
            raise AnchorReverted(f"getCheckpoint reverted: UnknownCheckpoint({cid})")
        return found

    def latest(self, dataset_id: str) -> Checkpoint | None:
        """The dataset's latest run with a validated stage (whatever its verdict): its
        validated checkpoint, in one contract read and one eth_getLogs."""
        with self._rpc():
            run_id, block, root = self.contract.functions.latest(from_hex(dataset_id)).call()
            if block == 0:
                return None
            key = self.locate(dataset_id, to_hex(run_id))
            cid = checkpoint_id(dataset_id, to_hex(run_id), "validated")
            return next(c for c in self._run(key, block, root) if c.checkpoint_id == cid)

    def verify_leaf(self, cid: str, proof: list[bytes], leaf: bytes) -> bool:
        """On chain: the checkpoint's record reaches its run's anchor, and `leaf` its root."""
        cp = self.get(cid)
        if cp is None:
            raise AnchorError(f"checkpoint {cid} is not on chain")
        if cid in self._batched:
            _, key, anchor_proof = self._batched[cid]
        else:
            key = self._key_of(cid)
            run = self._run(key)
            anchor_proof = pair_proof([leaf_of(c) for c in run], run.index(cp))
        with self._rpc():
            return self.contract.functions.verifyLeaf(
                from_hex(key), anchor_proof, committed_struct(cp), proof, leaf).call()

    def scan(self, start: int | None = None) -> Iterator[tuple[int, list[Checkpoint]]]:
        with self._rpc():
            for last, logs in self._pages({}, start):
                yield last, self._decode(logs)

    def checkpoints(self, dataset_id: str | None = None) -> list[Checkpoint]:
        filters = {"datasetId": from_hex(dataset_id)} if dataset_id else {}
        with self._rpc():
            return [c for _, logs in self._pages(filters) for c in self._decode(logs)]

    # -- writes -----------------------------------------------------------------------------

    def commit(self, manifest: StageManifest, manifest_uri: str, *,
               sent: Iterable[tuple[str, bytes | None]] = (),
               on_sent: OnSent | None = None) -> Checkpoint:
        """A run of one stage (a training record); pipeline runs use commit_run."""
        return self.commit_run([(manifest, manifest_uri)], sent=sent, on_sent=on_sent)[-1]

    def commit_run(self, stages: Sequence[tuple[StageManifest, str]], *,
                   sent: Iterable[tuple[str, bytes | None]] = (),
                   on_sent: OnSent | None = None) -> list[Checkpoint]:
        """Commit a run's stages in one transaction, or return them if the run is on chain
        with exactly these manifests. A run commits once: if it is there with other manifests
        or other stages, AnchorError says to start a new run."""
        first = stages[0][0]
        if any((m.dataset_id, m.run_id) != (first.dataset_id, first.run_id)
               for m, _ in stages):
            raise ValueError("commit_run: every stage must be of one run")
        key = self.locate(first.dataset_id, first.run_id)
        manifests = [m for m, _ in stages]
        with self._rpc():
            if (existing := self._existing_run(key, manifests)) is not None:
                return existing
            base = run_dir(stages[0][1])
            records = [self._record(m, short_uri(base, m, uri, i == 0), key)
                       for i, (m, uri) in enumerate(stages)]
            call = self.contract.functions.commitRun(
                from_hex(first.dataset_id), from_hex(first.run_id), records)
            what = f"commit {first.dataset}/{first.run}"
            receipt = self._send_once(call, what, sent, on_sent,
                                      lambda: self._existing_run(key, manifests), "RunExists")
            if isinstance(receipt, list):
                return receipt
            events = self.contract.events.RunCommitted().process_receipt(receipt)
            self._runs.pop(key, None)
            # One transaction for the run: each checkpoint shows its share of the gas.
            return self._decode(events[:1], receipt["gasUsed"] // len(stages), records)

    def _existing_run(self, key: str, manifests: list[StageManifest]) -> list[Checkpoint] | None:
        self._runs.pop(key, None)  # a commit looks at the chain as it is now
        on_chain = {c.checkpoint_id: c for c in self._run(key)}
        if not on_chain:
            return None
        m = manifests[0]
        for m in manifests:
            cp = on_chain.get(m.checkpoint_id)
            if cp is None or cp.manifest_hash != m.manifest_hash:
                why = "without this stage" if cp is None else \
                    f"with another manifest ({cp.manifest_hash[:18]}…)"
                raise AnchorError(f"checkpoint {m.dataset}/{m.run}/{m.stage} is already on "
                                  f"chain {why}: start a new run instead of resuming this one")
        return [on_chain[m.checkpoint_id] for m in manifests]

    def _record(self, m: StageManifest, uri: str, key: str) -> tuple:
        ours = {checkpoint_id(m.dataset_id, m.run_id, s) for s in STAGE_ORDER}
        runs = []
        for p in m.parents:
            where = None if p in ours else self._key_of(p)
            if p not in ours and (where is None or not self._run(where)):
                raise AnchorReverted(f"commit {m.dataset}/{m.stage} refused: "
                                     f"UnknownCheckpoint: parent {p[:18]}… is not on chain")
            runs.append(ZERO if where is None else from_hex(where))
        return (m.stage, from_hex(m.shards_root), len(m.accepted), from_hex(m.manifest_hash),
                uri, from_hex(m.result_hash), m.passed, [from_hex(p) for p in m.parents], runs)
