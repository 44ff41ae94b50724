"""Format 2 keeps a run's records in calldata only (laas.anchors.adapters.registry_v2): how
they are sent compactly and read back from the transactions the RunCommitted logs point to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from laas.anchors.adapters.artifacts import manifest_name
from laas.anchors.adapters.jsonrpc import RpcError
from laas.anchors.core.canonical import from_hex, to_hex
from laas.anchors.core.models import Checkpoint, StageManifest, checkpoint_id
from laas.errors import AnchorError

ZERO = bytes(32)
BATCH = 50  # transactions per JSON-RPC batch (public RPCs cap batch sizes)
# Where a checkpoint's run is anchored, learnt from what this process read or committed.
# Process-wide because several clients of one registry live in one process (gate inside a
# derived run); only a hint: whatever it points to is checked against the chain.
WHERE: dict[tuple[str, str], str] = {}


class RunCalldata:
    """Mixed into RegistryV2Read (which has the rpc, the abi and the address)."""

    rpc: Any
    abi: Any
    address: str

    def _decode(self, logs: list[Any], gas_used: int | None = None,
                records: list[tuple] | None = None, with_gas: bool = False) -> list[Checkpoint]:
        """The checkpoints of the runs the RunCommitted logs name, decoded from their
        transactions' input (fetched in JSON-RPC batches, with their receipts for the gas if
        `with_gas`), or from `records` when this client just sent them. A transaction that is
        not a commitRun of this registry for the log's run gives nothing (the caller's
        commitment check then refuses the log). Each checkpoint shows its share of the gas."""
        txs = [(None, None)] * len(logs) if records is not None else self._transactions(
            [to_hex(bytes(log["transactionHash"])) for log in logs], with_gas)
        out = []
        for log, (tx, gas) in zip(logs, txs, strict=True):
            mine = records if records is not None else self._records_in(tx, log["args"])
            share = gas_used if records is not None else \
                gas // len(mine) if gas is not None and mine else None
            out += self._checkpoints(log, mine, share)
        return out

    def _checkpoints(self, log: Any, records: list[Any], gas_used: int | None
                     ) -> list[Checkpoint]:
        out = []
        a = log["args"]
        dataset_id, run_id = to_hex(a["datasetId"]), to_hex(a["runId"])
        key = to_hex(a["anchorKey"])
        base = ""
        for r in records:
            stage, root, count, mhash, uri, rhash, passed, parents, runs = \
                (r[k] for k in ("stage", "shardsRoot", "shardCount", "manifestHash",
                                "manifestUri", "resultHash", "passed", "parents",
                                "parentRuns")) if isinstance(r, Mapping) else r
            base = base or (uri if uri.endswith("/") else run_dir(uri))
            if not uri or uri.endswith("/"):
                uri = f"{base}{stage}/{manifest_name(to_hex(mhash))}"
            cid = checkpoint_id(dataset_id, run_id, stage)
            WHERE[(self.address, cid)] = key
            for p, where in zip(parents, runs, strict=False):
                if bytes(where) != ZERO:
                    WHERE.setdefault((self.address, to_hex(p)), to_hex(where))
            out.append(Checkpoint(
                checkpoint_id=cid, dataset_id=dataset_id, run_id=run_id, stage=stage,
                shards_root=to_hex(root), shard_count=count, manifest_hash=to_hex(mhash),
                manifest_uri=uri, result_hash=to_hex(rhash), passed=passed,
                parents=tuple(to_hex(p) for p in parents), committer=a["committer"],
                tx_hash=to_hex(bytes(log["transactionHash"])),
                block_number=log["blockNumber"], gas_used=gas_used))
        return out

    def _transactions(self, hashes: list[str], with_gas: bool
                      ) -> list[tuple[dict | None, int | None]]:
        """(transaction, gas used or None) per hash, in one JSON-RPC batch per BATCH."""
        methods = ["eth_getTransactionByHash"] + (["eth_getTransactionReceipt"] * with_gas)
        found: list[tuple[dict | None, int | None]] = []
        for i in range(0, len(hashes), BATCH):
            part = hashes[i:i + BATCH]
            try:
                answers = self.rpc.batch([(m, [h]) for h in part for m in methods])
            except RpcError as e:  # one error for the whole batch
                raise AnchorError(
                    f"the RPC refused a batch of transaction lookups: {e}") from None
            got = [a.get("result") for a in answers]
            for j in range(0, len(got), len(methods)):
                receipt = got[j + 1] if with_gas else None
                found.append((got[j], int(receipt["gasUsed"], 16) if receipt else None))
        return found

    def _records_in(self, tx: dict | None, args: Any) -> list[Any]:
        if not tx or (tx.get("to") or "").lower() != self.address.lower():
            return []  # committed through another contract: not readable from calldata
        try:
            fn, call = self.abi.decode_input(from_hex(tx["input"]))
        except ValueError:
            return []
        if fn != "commitRun" or (call["datasetId"], call["runId"]) != \
                (bytes(args["datasetId"]), bytes(args["runId"])):
            return []
        return list(call["records"])


def run_dir(uri: str) -> str:
    """The run's folder (with a trailing slash) of a manifest the store keeps at `uri`."""
    return uri.rsplit("/", 2)[0] + "/"


def short_uri(base: str, m: StageManifest, uri: str, first: bool) -> str:
    """A record's manifest URI as sent: where the store keeps it ({run}/{stage}/manifest-
    {hash}.json) is said by the run's folder in the first record and by "" in the others
    (calldata costs 16 gas a byte: full URIs were ~5k gas a run). Any other URI is sent whole."""
    if uri != f"{base}{m.stage}/{manifest_name(m.manifest_hash)}":
        return uri
    return base if first else ""

