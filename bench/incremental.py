"""Incremental runs: a second `laas run` over a grown dataset against the first, in one run.

    .venv/bin/python bench/incremental.py [--shards 2000] [--new 0.01]

Generates N tiny JSONL shards (bench/scale.py's), runs `laas run` over them (the first run:
every shard normalized, validated, hashed), adds N x NEW new shards and runs again (the
second: the unchanged shards reuse the first run's results, after the first run is proven
from the chain and each reused file is re-hashed). Prints both wall times and their ratio,
and the floor every run pays whatever changed: hashing the raw bytes of every source (one
process per core). Target at 100,000 shards with 1% new: the second run at most 5% of the
first. Writes bench/results/incremental-N.json. With --snapshot DIR the state after the first
run is kept there, and a later call with the same DIR runs only the second run from it: two
versions of laas (checked out in turn) compared on one first run, back to back.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import time
from pathlib import Path

from scale import BENCH, BIN, CORES, _free_port, _hash_bytes, floor, generate_tiny, write_spec
from scale import laas_run as sampled_run


def laas_run(dataset: str, env: dict[str, str], *args: str, profile: Path | None = None
             ) -> dict:
    """`laas run DATASET --json`: its summary, wall time and the flow process's peak RSS
    (bench/scale.py's run); with `profile`, under py-spy instead (`pip install py-spy`; the
    flow's process and its Dask workers, a speedscope file; no RSS)."""
    if profile is None and not args:
        r = sampled_run(dataset, env)
        return {"wall_s": r["wall_s"], "stages_s": r["stages_s"], "passed": r["passed"],
                "reuse": {k: v for k, v in r["reuse"].items() if k != "not_reused"},
                "shards": r["shard_counts"][-1], "peak_rss_mb": r["peak_rss_mb"],
                "stage_cpu_s": r.get("stage_cpu_s"),
                "cpu_s": r["cpu_s"]}
    spy = [str(BIN / "py-spy"), "record", "--subprocesses", "--rate", "50", "--format",
           "speedscope", "-o", str(profile), "--"] if profile else []
    t = time.perf_counter()
    proc = subprocess.run([*spy, str(BIN / "laas"), "run", dataset, "--json", *args], env=env,
                          capture_output=True, text=True, timeout=4 * 3600)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"laas run {dataset} failed:\n{proc.stderr[-3000:]}")
    # py-spy, when profiling, prints lines of its own before and after the summary
    summary = json.JSONDecoder().raw_decode(proc.stdout, proc.stdout.index("{"))[0]
    return {"wall_s": wall, "stages_s": summary["seconds"], "passed": summary["passed"],
            "reuse": {k: v for k, v in summary["reuse"].items() if k != "not_reused"},
            "shards": summary["checkpoints"][-1]["shard_count"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shards", type=int, default=2000, help="shards in the first run")
    ap.add_argument("--new", type=float, default=0.01, help="new shards, as a fraction")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/laas-incremental"))
    ap.add_argument("--profile", type=Path, help="profile the second run with py-spy, to here")
    ap.add_argument("--snapshot", type=Path,
                    help="keep the state after the first run here; when it exists, run only the "
                         "second run from it (two laas versions compared from one first run)")
    args = ap.parse_args()
    work = args.workdir
    shutil.rmtree(work, ignore_errors=True)
    data = work / "data" / "tiny"
    env = {**os.environ, "LAAS_HOME": str(work / "home"), "LAAS_DATASETS_DIR": str(work / "specs"),
           # the caller's port if it set one (a range of its own on a shared machine)
           "LAAS_ANVIL_PORT": os.environ.get("LAAS_ANVIL_PORT") or str(_free_port()),
           "PREFECT_HOME": str(work / "prefect")}
    added = max(1, round(args.shards * args.new))
    kept = args.snapshot is not None and (args.snapshot / "first.json").exists()
    if kept:  # the chain's state is in the home folder: the first run as it ended
        shutil.copytree(args.snapshot / "work", work, symlinks=True)
        first = json.loads((args.snapshot / "first.json").read_text())
    else:
        generate_tiny(data, args.shards)
        write_spec(work / "specs", "bench-inc", data, "jsonl")
    try:
        if not kept:
            first = laas_run("bench-inc", env)
            generate_tiny(data, args.shards + added)  # the same bytes for the old ones
            if args.snapshot is not None:
                subprocess.run([str(BIN / "laas"), "chain", "down"], env=env,
                               capture_output=True, timeout=60)
                shutil.copytree(work, args.snapshot / "work", symlinks=True)
                (args.snapshot / "first.json").write_text(json.dumps(first))
        print(f"first run:  {args.shards:,} shards in {first['wall_s']:.1f} s "
              f"{first['stages_s']}; peak RSS {first.get('peak_rss_mb', 0):.0f} MB", flush=True)
        files = sorted(data.glob("*.jsonl"))
        raw_floor = floor(_hash_bytes, files)
        second = laas_run("bench-inc", env, profile=args.profile)
        print(f"second run: {len(files):,} shards ({added:,} new) in {second['wall_s']:.1f} s "
              f"{second['stages_s']}; reuse {second['reuse']}; peak RSS "
              f"{second.get('peak_rss_mb', 0):.0f} MB", flush=True)
    finally:
        subprocess.run([str(BIN / "laas"), "chain", "down"], env=env, capture_output=True,
                       timeout=60)
    ratio = second["wall_s"] / first["wall_s"]
    # the flow's own work, without the process's fixed start (imports, Prefect's ephemeral
    # server, the local Dask cluster): what grows with the shards
    work = sum(second["stages_s"].values()) / sum(first["stages_s"].values())
    print(f"flow stages, second / first: {work:.3f} ({work:.1%})")
    print(f"whole `laas run`, second / first: {ratio:.3f} ({ratio:.1%}); floor (raw bytes of all "
          f"{len(files):,} sources hashed, {CORES} processes): {raw_floor:.1f} s = "
          f"{raw_floor / first['wall_s']:.1%} of the first run")
    report = {"machine": f"{platform.machine()}, {CORES} cores, "
              f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
              f"Python {platform.python_version()}",
              "load_1min_at_end": os.getloadavg()[0], "shards": args.shards, "added": added,
              "first": first, "second": second, "ratio": ratio, "stages_ratio": work,
              "raw_hash_floor_s": raw_floor}
    out = BENCH / "results" / f"incremental-{args.shards}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
