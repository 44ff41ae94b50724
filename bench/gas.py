"""Gas per run: registry format 1 (a transaction per stage) against format 2 (the run's three
stages in one transaction), both deployed on one fresh anvil in this run, at 10, 1,000 and
100,000 shards; then batched anchoring of 1, 10 and 100 runs and the gas each added run costs.

    .venv/bin/python bench/gas.py [--sizes 10,1000,100000] [--batch 100]

A shard count changes only a stage's Merkle root and count, so the manifests are built
directly (no files). Writes bench/results/gas.json and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from laas.anchors.adapters.artifacts import manifest_name  # noqa: E402
from laas.anchors.adapters.localchain import LocalChain  # noqa: E402
from laas.anchors.adapters.registry import Registry, connect  # noqa: E402
from laas.anchors.adapters.registry_v2 import RegistryV2  # noqa: E402
from laas.anchors.adapters.wallet import Sender  # noqa: E402
from laas.anchors.core.canonical import name_id, to_hex  # noqa: E402
from laas.anchors.core.models import (  # noqa: E402
    MANIFEST_VERSION,
    SHARD_FACTS_MANIFEST,
    ShardEntry,
    StageManifest,
    stage_root,
)
from laas.anchors.services.batch import admit, anchor_batch  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "gas.json"
STORE = "s3://laas-artifacts/datasets"  # a typical manifest URI prefix (it travels in calldata)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def fresh_chain() -> Iterator[tuple[Path, Any, Sender]]:
    """A fresh anvil of this run's own (its home, web3, the unlocked dev account), stopped
    after."""
    home = Path(tempfile.mkdtemp(prefix="laas-gas-"))
    chain = LocalChain(home, free_port())
    chain.up()
    try:
        w3 = connect(chain.url)
        yield home, w3, Sender(unlocked=w3.eth.accounts[0])
    finally:
        chain.down()


def stages(dataset: str, run: str, n: int, contributors: Sequence[str] = (),
           store: str = STORE) -> list[tuple[StageManifest, str]]:
    """A run's raw, normalized and validated manifests over n shards, each with its URI;
    with `contributors`, shard i names contributors[i % len] (a laas-manifest-v4 run)."""
    shards = tuple(ShardEntry(key=f"part-{i:07d}.parquet", uri=f"{store}/{dataset}/{i}",
                              source_uri=f"{store}/{dataset}/{i}", byte_size=1 << 20, rows=1000,
                              content_hash=to_hex(i.to_bytes(32, "big")),
                              contributor=contributors[i % len(contributors)]
                              if contributors else None)
                   for i in range(n))
    root = stage_root(shards)
    version = SHARD_FACTS_MANIFEST if contributors else MANIFEST_VERSION
    out, parents = [], ()
    for stage in ("raw", "normalized", "validated"):
        m = StageManifest(version=version, dataset=dataset, dataset_id=name_id(dataset),
                          run=run, run_id=name_id(run), stage=stage,
                          hash_scheme="laas-table-v1", parents=parents, shards=shards,
                          shards_root=root, passed=True, created_at=datetime.now(UTC))
        out.append((m, f"{store}/{dataset}/{run}/{stage}/{manifest_name(m.manifest_hash)}"))
        parents = (m.checkpoint_id,)
    return out


def per_run(v1: Registry, v2: RegistryV2, n: int) -> dict:
    row: dict = {"shards": n}
    for which, dataset in (("first run of a dataset", f"ds-{n}"),
                           ("next run of the dataset", f"ds-{n}")):
        run = "r1" if which.startswith("first") else "r2"
        old = [v1.commit(m, uri) for m, uri in stages(dataset, run, n)]
        new = v2.commit_run(stages(dataset, run, n))
        row[which] = {
            "v1_transactions": len({c.tx_hash for c in old}),
            "v1_gas": sum(c.gas_used for c in old),
            "v1_gas_per_stage": [c.gas_used for c in old],
            "v2_transactions": len({c.tx_hash for c in new}),
            "v2_gas": v2.w3.eth.get_transaction_receipt(new[0].tx_hash)["gasUsed"],
        }
        r = row[which]
        r["v2_gas_per_stage"] = r["v2_gas"] / len(new)
        r["ratio_v1_over_v2"] = round(r["v1_gas"] / r["v2_gas"], 2)
    return row


def batched(v2: RegistryV2, runs: int) -> dict:
    """Gas of one anchorBatch of `runs` runs (three checkpoints each, of `runs` datasets)."""
    todo = [s for i in range(runs) for s in stages(f"batch{runs}-ds{i}", "r1", 10)]
    proofs = anchor_batch(v2, todo)
    assert admit(v2, proofs[-1]).checkpoint_id == todo[-1][0].checkpoint_id
    gas = v2.w3.eth.get_transaction_receipt(proofs[0].checkpoint.tx_hash)["gasUsed"]
    return {"runs": runs, "checkpoints": len(todo), "gas": gas, "gas_per_run": gas / runs}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,1000,100000")
    ap.add_argument("--batch", type=int, default=100)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with fresh_chain() as (_, w3, dev):
        v1 = Registry(w3, Registry.deploy(w3, dev)[0], dev)
        v2 = RegistryV2(w3, RegistryV2.deploy(w3, dev)[0], dev)
        rows = [per_run(v1, v2, n) for n in sizes]
        sizes_b = sorted({1, 10, args.batch})
        batches = [batched(v2, k) for k in sizes_b]
        lo, hi = batches[0], batches[-1]
        added = (hi["gas"] - lo["gas"]) / (hi["runs"] - lo["runs"])
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
                   f"{platform.release()}, Python {platform.python_version()}",
        "chain": "anvil (fresh, this run); both registries deployed on it",
        "per_run": rows, "batched": batches, "batch_gas_per_added_run": round(added),
    }
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print("| shards | run | v1: txs / gas (per stage) | v2: txs / gas (per stage) | v1/v2 |")
    print("|---|---|---|---|---|")
    for row in rows:
        for which in ("first run of a dataset", "next run of the dataset"):
            r = row[which]
            print(f"| {row['shards']:,} | {which} | {r['v1_transactions']} / {r['v1_gas']:,} "
                  f"({', '.join(f'{g:,}' for g in r['v1_gas_per_stage'])}) | "
                  f"{r['v2_transactions']} / {r['v2_gas']:,} ({r['v2_gas_per_stage']:,.0f}) | "
                  f"{r['ratio_v1_over_v2']}x |")
    print("\n| batched runs | checkpoints | gas | gas per run |\n|---|---|---|---|")
    for b in batches:
        print(f"| {b['runs']} | {b['checkpoints']} | {b['gas']:,} | {b['gas_per_run']:,.0f} |")
    print(f"\nbatched anchoring: {added:,.0f} gas per added run; {result['machine']}")


if __name__ == "__main__":
    main()
