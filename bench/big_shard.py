"""Peak memory of ingesting one large JSONL.gz shard, against a whole-file baseline.

    .venv/bin/python bench/big_shard.py [--gb 2.0] [--workdir /tmp/laas-bench]

Generates a JSONL shard of --gb gigabytes (uncompressed) of instruction-style rows, gzips it,
then runs, each in a fresh process so peak RSS is its own:
  baseline   pyarrow.json.read_json of the whole decompressed shard (what a reader that is
             not streamed holds)
  raw        laas raw stage: BLAKE3 of the compressed bytes
  normalize  laas normalized stage: streamed parse -> Parquet + canonical table hash
  validate   laas validated stage: the builtin instruction-corpus suite, batch by batch
and prints wall time, peak RSS and ratios to the baseline; results go to
bench/results/big_shard.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import subprocess
import sys
import time
from pathlib import Path

TEXT = ("the data model trains on tokens because each step of gradient descent moves weights "
        "toward lower loss while a validation split guards against overfitting")
WORDS = TEXT.split()


def generate(path: Path, gb: float) -> tuple[int, int]:
    rnd = random.Random(1)
    target = int(gb * 1e9)
    written = rows = 0
    with gzip.open(path, "wb", compresslevel=1) as f:
        while written < target:
            lines = []
            for _ in range(10_000):
                rows += 1
                lines.append(json.dumps({
                    "prompt": f"Question {rows}: " + " ".join(rnd.choices(WORDS, k=20)),
                    "response": " ".join(rnd.choices(WORDS, k=rnd.randint(30, 90))),
                    "source": "bench", "license": "mit", "lang": "en"}))
            chunk = ("\n".join(lines) + "\n").encode()
            f.write(chunk)
            written += len(chunk)
    return written, rows


STEP = r"""
import json, resource, sys, time
from laas.tasks.dataset_spec import DatasetSpec
from laas.tasks.normalizer import normalize
from laas.tasks.raw_hashing import hash_raw
from laas.tasks.shard_validation import validated_entry
step, shard, out = sys.argv[1], sys.argv[2], sys.argv[3]
spec = DatasetSpec.model_validate({
    "name": "bench", "source": shard, "format": "jsonl",
    "schema": [{"name": c, "type": "string"} for c in
               ("prompt", "response", "source", "license", "lang")],
    "suite": {"builtin": "instruction_corpus", "params": {"langs": ["en"], "licenses": ["mit"],
              "max_duplicate_rate": 0.01}}})
t = time.perf_counter()
if step == "baseline":
    import gzip, pyarrow.json as pj
    with gzip.open(shard, "rb") as f:
        rows = pj.read_json(f).num_rows
elif step == "raw":
    rows = hash_raw("big.jsonl.gz", shard).byte_size
else:
    raw = hash_raw("big.jsonl.gz", shard)
    if step == "normalize":
        e = normalize(raw, spec, out, "failed")
        assert e.status == "ok", e.reason
        rows = e.rows
    else:
        from laas.anchors.core.models import ShardEntry
        e = ShardEntry(key="big.jsonl.gz", uri=out + "/big.jsonl.gz.parquet", source_uri=shard)
        e = validated_entry(e, spec, "failed", out + "/docs")
        assert e.validation is not None
        rows = e.rows
print(json.dumps({"step": step, "seconds": time.perf_counter() - t, "rows": rows,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_step(step: str, shard: Path, out: Path) -> dict:
    r = subprocess.run([sys.executable, "-c", STEP, step, str(shard), str(out)],
                       capture_output=True, text=True, timeout=3600)
    if r.returncode:
        raise SystemExit(f"{step} failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gb", type=float, default=2.0, help="uncompressed JSONL size")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/laas-bench"))
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    shard = args.workdir / "big.jsonl.gz"
    t = time.perf_counter()
    size, rows = generate(shard, args.gb)
    print(f"generated {size / 1e9:.2f} GB JSONL, {rows:,} rows, "
          f"{shard.stat().st_size / 1e9:.2f} GB gzipped, in {time.perf_counter() - t:.0f}s")
    results = [run_step(s, shard, args.workdir) for s in
               ("baseline", "raw", "normalize", "validate")]
    base = results[0]["peak_rss_mb"]
    print(f"{'step':<10} {'seconds':>8} {'peak RSS MB':>12} {'RSS / baseline':>15}")
    for r in results:
        print(f"{r['step']:<10} {r['seconds']:>8.1f} {r['peak_rss_mb']:>12.0f} "
              f"{r['peak_rss_mb'] / base:>15.2f}")
    report = {"uncompressed_bytes": size, "gzipped_bytes": shard.stat().st_size, "rows": rows,
              "machine": f"{platform.machine()} {os.cpu_count()} cores {platform.python_version()}",
              "steps": results}
    out = Path(__file__).parent / "results" / "big_shard.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
