"""What recording a stage file's sha256 as it is written costs the normalized stage's work.

    .venv/bin/python bench/file_sha256.py [--tiny 2000] [--large 8] [--rounds 5]

Runs laas's own normalizer (tasks.normalizer.normalize: read the source, table-hash each
batch, write zstd Parquet through stage_files.Sha256Sink) over generated shards, alternating
in the same process with the same normalizer whose sink passes the bytes through unhashed
(the baseline: what it cost before). Two corpora: tiny JSONL shards (5 rows) and large
Parquet shards (~25 MB each); then the Parquet writer alone, one large table written to
memory through each sink. Prints the best of --rounds for each and their ratio; writes
bench/results/file_sha256.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path

from scale import BENCH, CORES, generate_large, generate_tiny, write_spec

from laas.tasks import normalizer
from laas.tasks.dataset_spec import load_spec
from laas.tasks.raw_hashing import hash_raw
from laas.tasks.stage_files import Sha256Sink


class PassThrough(Sha256Sink):
    """The baseline: the same writer, nothing hashed."""

    def write(self, data: object) -> int:
        return self._f.write(data)

    def hexdigest(self) -> str:
        return ""


def one_pass(raws: list, spec: object, out: Path, sink: type) -> float:
    normalizer.Sha256Sink = sink  # the normalizer looks its sink up at each shard
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    for r in raws:
        e = normalizer.normalize(r, spec, str(out), "failed")
        assert e.status == "ok", e.reason
    return time.perf_counter() - t


def measure(name: str, folder: Path, fmt: str, work: Path, rounds: int) -> dict:
    write_spec(work / "specs", name, folder, fmt)
    spec = load_spec(str(work / "specs" / f"{name}.yaml"))
    raws = [hash_raw(p.name, str(p)) for p in sorted(folder.glob(f"*.{fmt}"))]
    times: dict[str, list[float]] = {"with": [], "without": []}
    for _ in range(rounds):  # alternated, so a neighbour's load falls on both
        for label, sink in (("without", PassThrough), ("with", Sha256Sink)):
            times[label].append(one_pass(raws, spec, work / "out", sink))
    normalizer.Sha256Sink = Sha256Sink
    best = {k: min(v) for k, v in times.items()}
    mb = sum(p.stat().st_size for p in (work / "out").rglob("*.parquet")) / 1e6
    row = {"shards": len(raws), "parquet_MB_written": round(mb, 1),
           "without_s": round(best["without"], 3), "with_s": round(best["with"], 3),
           "ratio": round(best["with"] / best["without"], 4)}
    print(f"{name}: {len(raws):,} shards, {mb:.1f} MB of Parquet written: without the sha256 "
          f"{best['without']:.3f} s, with it {best['with']:.3f} s: ratio {row['ratio']:.3f}",
          flush=True)
    return row


def sink_alone(folder: Path, rounds: int) -> dict:
    """The writer alone, no reading or table hashing: one large shard's table written to
    memory through each sink, alternated, best of `rounds` x 5."""
    import io

    import pyarrow.parquet as pq

    table = pq.read_table(sorted(folder.glob("*.parquet"))[0])
    best = {"with": float("inf"), "without": float("inf")}
    for _ in range(rounds * 5):
        for label, sink in (("without", PassThrough), ("with", Sha256Sink)):
            t = time.perf_counter()
            pq.write_table(table, sink(io.BytesIO()), compression="zstd")
            best[label] = min(best[label], time.perf_counter() - t)
    row = {"rows": table.num_rows, "without_s": round(best["without"], 4),
           "with_s": round(best["with"], 4), "ratio": round(best["with"] / best["without"], 4)}
    print(f"writer alone ({table.num_rows:,} rows): without {row['without_s']} s, with "
          f"{row['with_s']} s: ratio {row['ratio']:.3f}", flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", type=int, default=2000, help="tiny JSONL shards")
    ap.add_argument("--large", type=int, default=8, help="large Parquet shards (~25 MB each)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/laas-file-sha256"))
    args = ap.parse_args()
    work = args.workdir
    shutil.rmtree(work, ignore_errors=True)
    generate_tiny(work / "tiny", args.tiny)
    generate_large(work / "large", args.large, gb=0.025 * args.large)
    report = {"machine": f"{platform.machine()}, {CORES} cores, Python "
              f"{platform.python_version()}", "load_1min_at_start": os.getloadavg()[0],
              "tiny": measure("tiny", work / "tiny", "jsonl", work, args.rounds),
              "large": measure("large", work / "large", "parquet", work, args.rounds),
              "writer_alone": sink_alone(work / "large", args.rounds)}
    report["load_1min_at_end"] = os.getloadavg()[0]
    out = BENCH / "results" / "file_sha256.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
