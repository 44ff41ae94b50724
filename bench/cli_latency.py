"""How fast a consumer's command answers: `laas gate` and `laas lineage` on the local chain,
against baselines measured in the same run.

    .venv/bin/python bench/cli_latency.py [--repeat 7] [--workdir /tmp/laas-cli-latency]

Sets up once (not timed): its own LAAS_HOME, anvil port and PREFECT_HOME under the workdir,
and `laas run instruct-sample --run bench` (the shipped sample: 8 shards, one quarantined).
It compiles laas's bytecode first, as installing a wheel does: a checkout run with
PYTHONDONTWRITEBYTECODE set (this project's machine) would recompile some 50 modules from
source at every start, ~40 ms that measure the environment, not laas (--source keeps that).
Then times each command REPEAT times in a fresh process and prints the median and the best:
  python      `python -c pass`: the interpreter's own start
  import cli  `python -c "import laas.cli"`: what every laas command pays before it works
  web3        `python -c "import web3, eth_account"`: what the read-only client avoids
  gate        `laas gate instruct-sample` (full: every shard re-hashed, the latest run found)
  gate+web3   the same gate in a process that first imports web3 and eth_account, as the
              web3-based reader did before the read-only client (the cost it removed)
  gate proof  `laas gate instruct-sample --run bench --mode proof`
  lineage     `laas lineage <a sample shard>`
with each command's ratio to `python` and to `import cli`, and its median CPU time (user +
system, which another job on the machine slows far less than the wall clock). The target is
under 0.5 s for the gate and lineage. The machine is shared: the ratios are the comparable
part.
Writes bench/results/cli_latency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from scale import BIN, _free_port  # bench/ is on the path

REPO = Path(__file__).resolve().parent.parent
SHARD = REPO / "laas" / "datasets" / "instruct-sample" / "part-00000.jsonl"
PACKAGES = ("laas", "anchors", "validators", "tasks", "flows", "deployments")  # pyproject's


def _cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def timed(cmd: list[str], env: dict[str, str], cwd: Path, repeat: int
          ) -> tuple[list[float], list[float]]:
    """(wall seconds, CPU seconds) of each run."""
    runs, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), _cpu()
        r = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
        runs.append(time.perf_counter() - t)
        cpu.append(_cpu() - c)
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}): {r.stdout}{r.stderr}")
    return runs, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/laas-cli-latency"))
    ap.add_argument("--source", action="store_true",
                    help="do not compile bytecode (measure a checkout that has none)")
    args = ap.parse_args()
    if not args.source:
        subprocess.run([sys.executable, "-m", "compileall", "-q", *PACKAGES], cwd=REPO,
                       check=True, capture_output=True, timeout=300)
    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    port_file = work / "anvil-port"
    port = int(port_file.read_text()) if port_file.exists() else _free_port()
    port_file.write_text(str(port))
    env = {**os.environ, "LAAS_HOME": str(work / ".laas"), "LAAS_ANVIL_PORT": str(port),
           "PREFECT_HOME": str(work / "prefect"), "DO_NOT_TRACK": "1",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    for k in ("LAAS_RPC_URL", "LAAS_REGISTRY_ADDRESS", "LAAS_PRIVATE_KEY", "LAAS_NETWORK"):
        env.pop(k, None)
    laas = str(BIN / "laas")
    if not (work / ".laas" / "artifacts" / "instruct-sample" / "bench").exists():
        print("setting up: laas run instruct-sample --run bench (not timed)", flush=True)
        r = subprocess.run([laas, "run", "instruct-sample", "--run", "bench"], env=env,
                           cwd=work, capture_output=True, text=True, timeout=900)
        if r.returncode != 0:
            raise SystemExit(f"setup failed: {r.stdout}{r.stderr}")
    subprocess.run([laas, "chain", "up"], env=env, cwd=work, capture_output=True, timeout=120)
    py = sys.executable
    cases = {
        "python": [py, "-c", "pass"],
        "import cli": [py, "-c", "import laas.cli"],
        "web3": [py, "-c", "import web3, eth_account"],
        "gate": [laas, "gate", "instruct-sample"],
        # the same gate paying the imports the web3 reader paid before the read-only client
        "gate+web3": [py, "-c", "import sys, web3, eth_account; from laas.cli import main; "
                      "sys.argv = ['laas', 'gate', 'instruct-sample']; main()"],
        "gate proof": [laas, "gate", "instruct-sample", "--run", "bench", "--mode", "proof"],
        "lineage": [laas, "lineage", str(SHARD), "--run", "bench"],
    }
    for cmd in cases.values():  # warm the page cache once: the first start reads from disk
        timed(cmd, env, work, 1)
    results = {}
    for name, cmd in cases.items():
        runs, cpu = timed(cmd, env, work, args.repeat)
        results[name] = {"median_s": statistics.median(runs), "best_s": min(runs),
                         "cpu_median_s": statistics.median(cpu)}
    base, cli = results["python"]["median_s"], results["import cli"]["median_s"]
    print(f"{'':<12}{'median s':>10}{'best s':>9}{'x python':>10}{'x import cli':>14}"
          f"{'cpu s':>8}")
    for name, r in results.items():
        r["x_python"] = r["median_s"] / base
        r["x_import_cli"] = r["median_s"] / cli
        print(f"{name:<12}{r['median_s']:>10.3f}{r['best_s']:>9.3f}{r['x_python']:>10.2f}"
              f"{r['x_import_cli']:>14.2f}{r['cpu_median_s']:>8.3f}")
    print("load average (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    for name in ("gate", "lineage"):
        verdict = "under" if results[name]["median_s"] < 0.5 else "OVER"
        print(f"{name}: {results[name]['median_s']:.3f} s median, {verdict} the 0.5 s target")
    out = {"repeat": args.repeat, "bytecode": "source" if args.source else "compiled",
           "machine": platform.machine(), "cpus": os.cpu_count(),
           "loadavg": [round(x, 2) for x in os.getloadavg()], "results": results}
    (REPO / "bench" / "results" / "cli_latency.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
