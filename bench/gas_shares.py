"""Gas of a training record (`laas gate --record`) whose shards name N contributors (N = 0, 10,
1,000), and of one contributor's claim in the example ContributorRewards contract, on both
registry formats deployed on one fresh anvil in this run; each record's gas as a ratio of the
record without shares measured on the same registry in the same run.

    .venv/bin/python bench/gas_shares.py [--contributors 0,10,1000] [--shards 1000]

Each record goes through record_training itself (shares computed, manifest stored, commit
sent) over a validated run committed just before (manifests built directly: the shard count
changes only manifests, not the chain's work). The claim is the proof `training_shares` hands
out, sent by the contributor. Writes bench/results/gas_shares.json and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from gas import fresh_chain, stages  # noqa: E402

from laas.anchors.adapters.artifacts import ArtifactStore  # noqa: E402
from laas.anchors.adapters.index import LineageIndex  # noqa: E402
from laas.anchors.adapters.registry import Registry  # noqa: E402
from laas.anchors.adapters.registry_v2 import RegistryV2  # noqa: E402
from laas.anchors.adapters.rewards import Rewards  # noqa: E402
from laas.anchors.adapters.wallet import Sender  # noqa: E402
from laas.anchors.ports import Ledger  # noqa: E402
from laas.anchors.services.anchoring import record_training  # noqa: E402
from laas.anchors.services.gate import GateVerdict  # noqa: E402
from laas.anchors.services.training_shares import training_shares  # noqa: E402

OUT = HERE / "results" / "gas_shares.json"


def one_record(ledger: Ledger, fmt: int, contributors: list[str], shards: int) -> dict:
    """A validated run whose shards name `contributors` round robin, then its training
    record; the record's gas, and its shares as training_shares proves them."""
    reg = ledger.open_registry()
    dataset = f"shares-{fmt}-{len(contributors):05d}"  # one length: same calldata for URIs
    run = stages(dataset, "r1", shards, contributors)
    cps = reg.commit_run([(m, ledger.store.write_manifest(m)) for m, _ in run])
    validated = run[-1][0]
    verdict = GateVerdict(allowed=True, dataset=dataset, run="r1", reason="bench",
                          checkpoint=cps[-1], shards=tuple(s.uri for s in validated.accepted))
    cp = record_training(ledger, verdict, "model")
    gas = reg.w3.eth.get_transaction_receipt(cp.tx_hash)["gasUsed"]
    return {"registry_format": fmt, "contributors": len(contributors), "shards": shards,
            "record_gas": gas, "shares": training_shares(reg, dataset, "model")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--contributors", default="0,10,1000")
    ap.add_argument("--shards", type=int, default=1000)
    args = ap.parse_args()
    counts = sorted({0, *(int(c) for c in args.contributors.split(","))})
    rows = []
    with fresh_chain() as (home, w3, dev):
        claimant = w3.eth.accounts[1]  # one share per tree is the node's, so it can claim
        for fmt, kind in ((2, RegistryV2), (1, Registry)):
            reg = kind(w3, kind.deploy(w3, dev)[0], dev)
            pool = Rewards.deploy(w3, dev, reg.address, dev.address)
            ledger = Ledger(store=ArtifactStore(str(home / "artifacts")),
                            index=LineageIndex(f"sqlite:///{home / 'index.db'}"),
                            open_registry=lambda reg=reg: reg)
            base = None
            for n in counts:
                who = [claimant, *(f"0x{i:040x}" for i in range(1, n))] if n else []
                row = one_record(ledger, fmt, who, max(args.shards, n))
                got = row.pop("shares")
                base = base or row["record_gas"]  # the record without shares comes first
                row["record_vs_no_shares"] = round(row["record_gas"] / base, 4)
                if n:
                    receipt = pool.claim(Sender(unlocked=claimant), got.claim_args(claimant))
                    row |= {"claim_gas": receipt["gasUsed"],
                            "proof_length": len(got.share(claimant).proof)}
                rows.append(row)
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
                   f"{platform.release()}, Python {platform.python_version()}",
        "chain": "anvil (fresh, this run); both registry formats, a ContributorRewards on each",
        "records": rows,
    }
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print("| registry | contributors | shards | training record gas | vs no shares | claim gas "
          "| proof |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        claim = f"{r['claim_gas']:,} | {r['proof_length']}" if "claim_gas" in r else "- | -"
        print(f"| format {r['registry_format']} | {r['contributors']:,} | {r['shards']:,} | "
              f"{r['record_gas']:,} | {r['record_vs_no_shares']}x | {claim} |")
    print(f"\n{result['machine']}")


if __name__ == "__main__":
    main()
