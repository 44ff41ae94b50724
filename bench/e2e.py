"""End to end: `laas run` on ~500 MB of Parquet shards against the read+hash floor.

    .venv/bin/python bench/e2e.py [--mb 500] [--shards 100] [--workdir /tmp/laas-e2e] [--keep-data]

Generates SHARDS Parquet shards of laas.datasets.make_sample rows (uncompressed, so the
bytes on disk are about the text: ~MB in total), then measures in the same run:
  floors two, each one process per core:
         bytes  read every source shard once and BLAKE3-hash its bytes (what the raw stage
                does; ~GB/s from the page cache)
         table  read every shard with pyarrow and hash its rows with the laas-table-v1 hash
                (bench/scale.py's floor, the one issue 14's "today 0.04x" was measured by)
  run    `laas run` of the dataset (builtin instruction_corpus suite), its own process, with
         its own LAAS_HOME, LAAS_ANVIL_PORT and PREFECT_HOME under the workdir
  fixed  the same `laas run` on a dataset of one 50-row shard, with homes of its own: what a run
         costs whatever its size (process start, Prefect's server, the Dask cluster, the
         chain and the registry's deploy, three checkpoints in one transaction), three times:
         on a machine where laas never ran (an empty cache: Prefect's server migrates a new
         database), on fresh homes (the cache holds the migrated database since: what the
         2 GB run gets too), and again in those homes with --no-reuse (chain up, database
         there: what a user's every later `laas run` costs)
and prints floor / run for each floor (the target is 0.35x), the fixed cost apart from the
per-MB cost (run minus fixed, over the MB), each also as CPU seconds of the run's process tree
(flow, Prefect server, Dask workers, chain: on a shared machine these move less with the load
than wall time does), and the run's per-stage seconds (its JSON summary's `seconds`), so it
shows which stage the time goes to. bench/scale.py does the
same on 2 GB of its own word-salad shards among much else; this one is small and quick.
Writes bench/results/e2e.json.
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

import pyarrow as pa
import pyarrow.parquet as pq
from scale import (  # bench/ is on the path when this runs as a script
    BIN,
    COLUMNS,
    _free_port,
    _hash_bytes,
    _read_and_hash,
    floor,
    laas_run,
)


def generate(folder: Path, shards: int, mb: float) -> int:
    """SHARDS shards of make_sample rows, ~MB in total; every row distinct (its prompt
    carries its shard and row number). Returns rows per shard."""
    from laas.datasets.make_sample import rows

    folder.mkdir(parents=True, exist_ok=True)
    probe = pa.Table.from_pylist(rows(0, 2_000))
    pq.write_table(probe, folder / "probe.parquet", compression="none")
    per_shard = max(1, int(2_000 * mb * 1e6 / shards / (folder / "probe.parquet").stat().st_size))
    (folder / "probe.parquet").unlink()
    for i in range(shards):
        pq.write_table(pa.Table.from_pylist(rows(i, per_shard)),
                       folder / f"part-{i:05d}.parquet", compression="none")
    return per_shard


def write_spec(folder: Path, name: str, source: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    spec = {"name": name, "source": f"{source}/*.parquet", "format": "parquet",
            "schema": [{"name": c, "type": "string"} for c in COLUMNS],
            "on_failure": "quarantine", "suite": {"builtin": "instruction_corpus"}}
    (folder / f"{name}.yaml").write_text(json.dumps(spec))


def _env(work: Path, name: str) -> dict[str, str]:
    """A run's own homes (fresh: a first run, as a new user's) and chain port; the cache (where
    laas keeps a migrated Prefect database for new homes) is the benchmark's own."""
    return {**os.environ, "LAAS_HOME": str(work / name / "home"),
            "LAAS_DATASETS_DIR": str(work / "specs"), "LAAS_ANVIL_PORT": str(_free_port()),
            "PREFECT_HOME": str(work / name / "prefect"), "XDG_CACHE_HOME": str(work / "cache")}


def _run(dataset: str, env: dict[str, str], again: bool = False) -> list[dict]:
    """The run; with `again`, then the same dataset once more in the same homes, every shard
    processed again (--no-reuse), as a user's next run finds things (chain up)."""
    out = [laas_run(dataset, env)] + ([laas_run(dataset, env, ("--no-reuse",))] if again else [])
    subprocess.run([str(BIN / "laas"), "chain", "down"], env=env, capture_output=True,
                   timeout=60)  # the run's own chain, started for it
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=500)
    ap.add_argument("--shards", type=int, default=100)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/laas-e2e"))
    ap.add_argument("--keep-data", action="store_true",
                    help="reuse the shards an earlier run generated in WORKDIR/data")
    args = ap.parse_args()
    work = args.workdir
    t = time.perf_counter()
    old = sorted((work / "data").glob("*.parquet")) if args.keep_data else []
    for sub in ("first", "fixed", "run", "one", "specs", "cache", *(() if old else ("data",))):
        shutil.rmtree(work / sub, ignore_errors=True)
    per_shard = pq.ParquetFile(old[0]).metadata.num_rows if old else \
        generate(work / "data", args.shards, args.mb)
    files = sorted((work / "data").glob("*.parquet"))
    nbytes = sum(f.stat().st_size for f in files)
    print(f"generated {len(files)} shards, {nbytes / 1e6:.0f} MB, {per_shard:,} rows each, "
          f"in {time.perf_counter() - t:.0f} s", flush=True)
    write_spec(work / "specs", "bench-e2e", work / "data")
    (work / "one").mkdir(exist_ok=True)
    pq.write_table(pq.read_table(files[0]).slice(0, 50), work / "one" / "part-00000.parquet")
    write_spec(work / "specs", "bench-e2e-one", work / "one")

    floors = {"bytes": floor(_hash_bytes, files), "table": floor(_read_and_hash, files)}
    first, = _run("bench-e2e-one", _env(work, "first"))
    fixed, second = _run("bench-e2e-one", _env(work, "fixed"), again=True)
    run, = _run("bench-e2e", _env(work, "run"))
    mb = nbytes / 1e6
    per_mb = (run["wall_s"] - fixed["wall_s"]) / mb
    cpu_per_mb = (run["cpu_s"] - fixed["cpu_s"]) / mb
    out = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                       "load_avg_after": os.getloadavg()},
           "shards": len(files), "mb": round(mb, 1), "rows": per_shard * len(files),
           "floor_bytes_blake3_s": round(floors["bytes"], 3),
           "floor_table_hash_s": round(floors["table"], 3), "run_s": round(run["wall_s"], 3),
           "run_vs_bytes_floor": round(floors["bytes"] / run["wall_s"], 4),
           "run_vs_table_floor": round(floors["table"] / run["wall_s"], 4),
           "passed": run["passed"], "peak_rss_mb": round(run["peak_rss_mb"]),
           "run_cpu_s": round(run["cpu_s"], 1), "fixed_s": round(fixed["wall_s"], 3),
           "fixed_cpu_s": round(fixed["cpu_s"], 1), "per_mb_s": round(per_mb, 5),
           "fixed_cpu_by_kind": fixed["cpu_by_kind"],
           "first_fixed_s": round(first["wall_s"], 3), "first_fixed_cpu_s": round(
               first["cpu_s"], 1), "first_fixed_cpu_by_kind": first["cpu_by_kind"],
           "second_fixed_s": round(second["wall_s"], 3), "second_fixed_cpu_s": round(
               second["cpu_s"], 1), "second_fixed_cpu_by_kind": second["cpu_by_kind"],
           "second_fixed_flow_span_s": second["flow_s"],
           "per_mb_cpu_s": round(cpu_per_mb, 5),
           "run_less_fixed_vs_bytes_floor": round(floors["bytes"] / (per_mb * mb), 4),
           "run_less_fixed_vs_table_floor": round(floors["table"] / (per_mb * mb), 4),
           "stages_s": {k: round(v, 3) for k, v in run["stages_s"].items()},
           "stage_cpu_s": run["stage_cpu_s"], "flow_span_s": run["flow_s"],
           "fixed_flow_span_s": fixed["flow_s"]}
    for name, label in (("bytes", "read + BLAKE3 of every shard's bytes"),
                        ("table", "pyarrow read + laas-table-v1 hash (scale.py's)")):
        print(f"floor, {label:44s} {floors[name]:7.2f} s {mb / floors[name]:8.1f} MB/s")
    print(f"laas run {run['wall_s']:48.2f} s {mb / run['wall_s']:8.1f} MB/s  (passed: "
          f"{run['passed']}; CPU {run['cpu_s']:.1f} s)")
    print(f"  vs the bytes floor {floors['bytes'] / run['wall_s']:.4f}x, vs the table floor "
          f"{floors['table'] / run['wall_s']:.4f}x (target 0.35x)")
    for label, one in (("fixed cost (one 50-row shard, fresh homes)", fixed),
                       ("  on a machine where laas never ran", first),
                       ("  a second run in the same homes", second)):
        print(f"{label:43s}{one['wall_s']:14.2f} s  (stages {sum(one['stages_s'].values()):.2f}"
              f" s; {one['flow_s'].get('before', 0):.1f} s before the flow; CPU "
              f"{one['cpu_s']:.1f} s: " + ", ".join(f"{k} {v}" for k, v in one["cpu_by_kind"]
                                                  .items()) + ")")
    print(f"per-MB cost (run - fixed) {per_mb * 1e3:28.2f} ms/MB {1 / per_mb:6.1f} MB/s  (CPU "
          f"{cpu_per_mb * 1e3:.1f} ms/MB)")
    print(f"  vs the bytes floor {out['run_less_fixed_vs_bytes_floor']:.4f}x, vs the table "
          f"floor {out['run_less_fixed_vs_table_floor']:.4f}x")
    span = run["flow_s"]
    if span:
        inside = span["flow"] - sum(run["stages_s"].values())
        print(f"outside the stages: {span['before']:.1f} s before the flow began, "
              f"{inside:.1f} s in the flow between them, {span['after']:.1f} s after it ended"
              f" (the one-shard run: {fixed['flow_s'].get('before', 0):.1f} s before)")
    for stage, s in sorted(run["stages_s"].items(), key=lambda kv: -kv[1]):
        cpu = run["stage_cpu_s"].get(stage, {})
        print(f"  {stage:28s} {s:7.2f} s  {100 * s / run['wall_s']:5.1f} %" + (
            f"   CPU {sum(cpu.values()):6.1f} s (" + ", ".join(
                f"{k} {v:.1f}" for k, v in sorted(cpu.items())) + ")" if cpu else ""))
    path = Path(__file__).parent / "results" / "e2e.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
