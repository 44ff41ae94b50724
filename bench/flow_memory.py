"""What Dask costs the flow process in memory per shard, with no shard work at all.

    .venv/bin/python bench/flow_memory.py [--shards 20000] [--cluster local|subprocess]

Maps an identity-like function over SHARDS realistic ShardEntry records three times (one per
stage) through laas's own map_shards, and prints this process's RSS and high-water mark after
each stage. `local` is laas's default LocalCluster, whose scheduler runs inside this (the
flow's) process; `subprocess` is distributed's SubprocessCluster, whose scheduler has a
process of its own. The difference is what the in-process scheduler holds (each batch's
arguments and results, kept by Python's allocator once freed).
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from laas.anchors.core.models import ShardEntry
from laas.tasks.compute import dask_cluster, map_shards


def _status(field: str) -> int:
    with open(f"/proc/{os.getpid()}/status") as f:
        return int(f.read().split(f"{field}:")[1].split()[0]) // 1024


def _next_stage(e: ShardEntry) -> ShardEntry:
    return e.model_copy(update={"uri": e.uri + ".parquet", "byte_size": 1234, "rows": 5})


@contextmanager
def subprocess_cluster(n_workers: int = 2) -> Iterator[str]:
    from distributed.deploy.subprocess import SubprocessCluster

    cluster = SubprocessCluster(host="127.0.0.1", n_workers=n_workers, threads_per_worker=1,
                                dashboard_address=None, silence_logs=logging.ERROR)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close(timeout=60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shards", type=int, default=20_000)
    ap.add_argument("--cluster", choices=("local", "subprocess"), default="local")
    args = ap.parse_args()
    entries = [ShardEntry(key=f"t-{i:06d}.jsonl", uri=f"/data/corpus/t-{i:06d}.jsonl",
                          source_uri=f"/data/corpus/t-{i:06d}.jsonl", byte_size=900,
                          content_hash=f"0x{i:064x}") for i in range(args.shards)]
    factory = "local" if args.cluster == "local" else "flow_memory:subprocess_cluster"
    with dask_cluster(None, 2, factory) as address:
        print(f"{args.cluster}: cluster up, RSS {_status('VmRSS')} MB", flush=True)
        for stage in ("raw", "normalized", "validated"):
            t = time.perf_counter()
            entries = map_shards(_next_stage, [(e,) for e in entries], address=address,
                                 batch_size=1000)
            print(f"  {stage:10s} {time.perf_counter() - t:5.1f} s  RSS {_status('VmRSS')} MB"
                  f"  peak {_status('VmHWM')} MB", flush=True)


if __name__ == "__main__":
    main()
