"""Where the flow process's memory goes: `laas run` in this process, RSS sampled every 0.5 s,
and at each stage's end (tasks.stages._log, before and after the manifest is stored) its RSS
and a census of the shard entries alive, by kind, with what holds one of any duplicates.

    LAAS_HOME=... LAAS_DATASETS_DIR=... .venv/bin/python bench/flow_census.py DATASET [--no-reuse]

Run it on a dataset `bench/scale.py --tiny-only` generated (its work folder holds the spec
and the home). The census lines go to stderr, through Prefect's log (the flow logs prints).
"""

from __future__ import annotations

import collections
import gc
import os
import sys
import threading
import time

T0 = time.time()


def rss() -> tuple[int, int]:
    """(VmRSS, VmHWM) of this process, MB."""
    with open(f"/proc/{os.getpid()}/status") as f:
        s = f.read()
    return tuple(int(s.split(f"{k}:")[1].split()[0]) // 1024 for k in ("VmRSS", "VmHWM"))


def census(tag: str) -> None:
    from laas.anchors.core.entries import ShardEntry

    gc.collect()
    entries = [o for o in gc.get_objects() if type(o) is ShardEntry]
    kinds = collections.Counter(
        ("raw" if e.uri == e.source_uri else "normalized" if "/normalized/" in e.uri
         else "other") + ("+results" if e.validation is not None else "") for e in entries)
    same = collections.Counter((e.key, e.uri, e.validation is None) for e in entries)
    dup = next((e for e in entries if same[(e.key, e.uri, e.validation is None)] > 1), None)
    held = []
    if dup is not None:
        for r in gc.get_referrers(dup):
            if r is not entries:
                held.append(f"{type(r).__name__}" + (f"[{len(r)}]" if hasattr(r, "__len__")
                                                     else ""))
    del entries
    now, peak = rss()
    arrow = ""
    if "pyarrow" in sys.modules:
        pool = sys.modules["pyarrow"].default_memory_pool()
        arrow = (f" arrow={pool.bytes_allocated() >> 20} MB (most {pool.max_memory() >> 20} MB,"
                 f" {pool.backend_name})")
    print(f"## {tag} t={time.time() - T0:.1f}s rss={now} MB peak={peak} MB{arrow} entries="
          f"{dict(kinds)} duplicates={sum(1 for v in same.values() if v > 1)}"
          + (f" (one held by {', '.join(held)})" if held else ""), file=sys.stderr, flush=True)


def main() -> None:
    samples: list[tuple[float, int]] = []

    def sample() -> None:
        while True:
            samples.append((round(time.time() - T0, 1), rss()[0]))
            time.sleep(0.5)

    threading.Thread(target=sample, daemon=True).start()
    import laas.tasks.stages as stages

    log = stages._log

    def logged(ctx, m):  # noqa: ANN001, ANN202
        census(f"{m.stage} built")
        out = log(ctx, m)
        census(f"{m.stage} stored")
        return out

    stages._log = logged
    from laas.cli import main as laas

    sys.argv = ["laas", "run", *sys.argv[1:], "--json"]
    try:
        laas()
    except SystemExit:
        pass
    finally:
        census("end")
        top = max(samples, key=lambda s: s[1])
        print(f"## highest RSS sampled: {top[1]} MB at {top[0]} s", file=sys.stderr)


if __name__ == "__main__":  # Dask's worker processes import this file again
    main()
