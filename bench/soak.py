"""Soak: many runs against one chain and one lineage index, back to back and concurrently.

    .venv/bin/python bench/soak.py [--sequential 50] [--concurrent 4] [--each 5]

One anvil, one index, one Dask cluster, generated data (8 small JSONL shards per run). Phase 1
runs SEQUENTIAL ingest runs one after another in one process; phase 2 runs CONCURRENT processes
at once, EACH runs apiece, all committing from the same key. Reports runs completed,
checkpoints committed on chain against expected (3 per run; must be equal), index rows against
expected, the account's transaction count against expected, and p50/p95 commit latency (the
commit task: manifest write, transaction, receipt, index). Writes bench/results/soak.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from laas.settings import PREFECT_DEFAULTS

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
BIN = Path(sys.executable).parent
STAGES = ("raw", "normalized", "validated")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(prefix: str, runs: int, out: Path) -> None:
    """Runs `runs` ingest runs in this process; one JSON line per run appended to `out`."""
    from laas.settings import prefect_defaults

    prefect_defaults()  # what `laas run` sets before Prefect loads
    from laas.flows.ingest import ingest

    for i in range(runs):
        t0 = time.perf_counter()
        try:
            s = ingest("soak", run=f"{prefix}-{i:03d}")
            line = {"run": s.run, "ok": not s.pending, "checkpoints": len(s.checkpoints),
                    "commit_s": [s.seconds[f"{st} commit"] for st in STAGES],
                    "wall_s": time.perf_counter() - t0}
        except Exception as e:  # a soak counts failures, it does not stop at the first
            line = {"run": f"{prefix}-{i:03d}", "ok": False, "error": f"{type(e).__name__}: {e}",
                    "wall_s": time.perf_counter() - t0}
        with out.open("a") as f:
            f.write(json.dumps(line) + "\n")


def spawn(prefix: str, runs: int, env: dict[str, str], work: Path) -> subprocess.Popen:
    # Results go to a file: the ephemeral Prefect server a worker starts can outlive it and
    # would hold a stdout pipe open.
    return subprocess.Popen([sys.executable, __file__, "--worker", prefix, "--each", str(runs),
                             "--out", str(work / f"{prefix}.jsonl")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def collect(procs: list[subprocess.Popen], prefixes: list[str], work: Path,
            timeout: float) -> list[dict]:
    for p in procs:
        p.wait(timeout=timeout)
    out = []
    for prefix in prefixes:
        path = work / f"{prefix}.jsonl"
        out += [json.loads(line) for line in path.read_text().splitlines()] \
            if path.exists() else []
    return out


def make_dataset(specs: Path) -> None:
    sys.path.insert(0, str(BENCH))
    from scale import generate_tiny, write_spec

    generate_tiny(specs / "soak", 8, rows=50)
    write_spec(specs, "soak", specs / "soak", "jsonl")


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def summarise(name: str, results: list[dict], wall: float) -> dict:
    commits = [c for r in results if r["ok"] for c in r["commit_s"]]
    return {
        "phase": name, "runs": len(results), "completed": sum(r["ok"] for r in results),
        "errors": [r["error"] for r in results if "error" in r][:5],
        "wall_s": round(wall, 1), "runs_per_min": round(60 * len(results) / wall, 1),
        "commit_p50_ms": round(1000 * statistics.median(commits), 1) if commits else None,
        "commit_p95_ms": round(1000 * pct(commits, 0.95), 1) if commits else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sequential", type=int, default=50)
    ap.add_argument("--concurrent", type=int, default=4)
    ap.add_argument("--each", type=int, default=5)
    ap.add_argument("--worker")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.each, args.out)
        return

    from distributed import LocalCluster

    work = Path(tempfile.mkdtemp(prefix="laas-soak-"))
    specs = work / "specs"
    make_dataset(specs)
    env = {**os.environ, "LAAS_HOME": str(work / ".laas"), "LAAS_DATASETS_DIR": str(specs),
           "LAAS_ANVIL_PORT": str(_free_port()), "PREFECT_HOME": str(work / "prefect"),
           **PREFECT_DEFAULTS,
           # anvil's first dev key: every process signs for one account, so nonces collide
           # unless laas serialises them
           "LAAS_PRIVATE_KEY":
               "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"}
    os.environ.update(env)
    subprocess.run([str(BIN / "laas"), "chain", "up"], env=env, check=True, capture_output=True)
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        env["LAAS_DASK_ADDRESS"] = cluster.scheduler_address
        from laas.settings import get_settings
        from laas.wiring import open_index, open_registry

        registry = open_registry(get_settings())
        nonce0 = registry.w3.eth.get_transaction_count(registry.sender.address)
        t0 = time.perf_counter()
        seq = collect([spawn("seq", args.sequential, env, work)], ["seq"], work, timeout=7200)
        phases = [summarise("sequential", seq, time.perf_counter() - t0)]
        t0 = time.perf_counter()
        prefixes = [f"c{i}" for i in range(args.concurrent)]
        conc = collect([spawn(p, args.each, env, work) for p in prefixes], prefixes, work,
                       timeout=7200)
        phases.append(summarise(f"{args.concurrent} concurrent", conc,
                                time.perf_counter() - t0))
        on_chain = [c for c in registry.checkpoints() if c.stage in STAGES]
        nonce = registry.w3.eth.get_transaction_count(registry.sender.address) - nonce0
        runs = {r["run"] for r in seq + conc}
        index = open_index(get_settings())
        indexed = len(index.runs("soak"))  # one row per checkpoint
    subprocess.run([str(BIN / "laas"), "chain", "down"], env=env, capture_output=True)
    completed = sum(p["completed"] for p in phases)
    report = {
        "machine": {"platform": platform.platform(), "cores": os.cpu_count(),
                    "python": platform.python_version()},
        "phases": phases,
        "runs": len(runs), "runs_completed": completed,
        "checkpoints_expected": 3 * len(runs), "checkpoints_on_chain": len(on_chain),
        "checkpoints_distinct": len({c.checkpoint_id for c in on_chain}),
        "transactions": nonce, "checkpoints_indexed": indexed,
    }
    out = BENCH / "results" / "soak.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    for p in phases:
        print(f"{p['phase']:>13}: {p['completed']}/{p['runs']} runs completed in {p['wall_s']} s "
              f"({p['runs_per_min']}/min); commit latency p50 {p['commit_p50_ms']} ms, "
              f"p95 {p['commit_p95_ms']} ms {p['errors'] or ''}")
    print(f"checkpoints on chain {report['checkpoints_on_chain']} "
          f"(distinct {report['checkpoints_distinct']}) of {report['checkpoints_expected']} "
          f"expected; {nonce} transactions; {indexed} checkpoints in the index")
    ok = (completed == len(runs) and len(on_chain) == report["checkpoints_distinct"]
          == report["checkpoints_expected"] == nonce == indexed)
    print("soak:", "OK" if ok else "MISMATCH", f"(results in {out.relative_to(REPO)})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
