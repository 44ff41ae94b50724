"""The validate stage against its floor, and against Great Expectations' pandas engine.

    .venv/bin/python bench/validate.py [--rows 200000] [--real-mb 40] [--workdir /tmp/laas-bv]

Two corpora, each written once as a normalized Parquet shard:
  synthetic  instruction rows from laas.datasets.make_sample (prompt, response, source,
             license, lang)
  real       text nobody on this project wrote: the documentation shipped with installed
             packages (site-packages *.md *.rst *.txt, /usr/share/doc/**, gzipped or not,
             /usr/share/dict/*), one row per paragraph, the next paragraph as its response
and on each, in the same run, with the builtin instruction_corpus suite:
  floor      read the Parquet shard + one pc.utf8_length pass over the text columns
  new        laas.tasks.shard_validation.validated_entries: the stage as it runs (Arrow executor,
             GX for the rest, text hashes, Data Docs written), in a worker of laas's local
             Dask cluster as `laas run` runs it (bench/stage_worker.py)
  new_in_process  the same in this process (no Arrow allocator settings of the workers)
  gx_pandas  the same suite, every expectation through GX's pandas engine, batch by batch
             (the path before the executor)
  gx_pandas_old_patterns  the same, with the PII patterns as they were (\\w \\d)
and, to show where `new` spends its time: the masks alone (one thread), the text hashes alone
(the duplicate keys), and everything but reading and hashing (masks, GX results, Data Docs).
MB/s counts the UTF-8 bytes of all string columns. Results go to bench/results/validate.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from stage_worker import entry_of, in_worker, new

# The screen before this change, kept here only to measure what the stage used to cost.
OLD_PII = (
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-zA-Z]{2,}",
    r"(?:^|\W)\+?\d{1,3}?[ (.-]*\d{3}[ ).-]*\d{3}[ .-]*\d{4}(?:\W|$)",
    r"(?:^|\D)(?:\d[ -]?){12,18}\d(?:\D|$)",
)
TEXT_COLUMNS = ("prompt", "response")


def synthetic(n: int) -> pa.Table:
    from laas.datasets.make_sample import rows

    return pa.Table.from_pylist([r for s in range(0, n, 10_000) for r in rows(s, 10_000)][:n])


def _doc_files() -> list[Path]:
    site = Path(sys.prefix) / "lib"
    files = [p for ext in ("md", "rst", "txt") for p in site.rglob(f"*.{ext}")]
    for root in (Path("/usr/share/doc"), Path("/usr/share/dict")):
        if root.is_dir():
            files += [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]
    return sorted(files)


def _read(p: Path) -> str:
    try:
        data = p.read_bytes()
        if p.suffix == ".gz":
            data = gzip.decompress(data)
    except (OSError, EOFError, gzip.BadGzipFile):
        return ""
    if b"\x00" in data[:4096]:  # binary, not documentation
        return ""
    return data.decode("utf-8", errors="replace")


def real(mb: float) -> tuple[pa.Table, int]:
    paragraphs: list[tuple[str, str]] = []
    size = files = 0
    for p in _doc_files():
        text = _read(p)
        if not text.strip():
            continue
        files += 1
        paras = [x.strip() for x in text.split("\n\n") if x.strip()]
        paragraphs += [(a, b, p.parent.name) for a, b in zip(paras, paras[1:] + [p.name],
                                                              strict=True)]
        size += len(text.encode())
        if size >= mb * 1e6:
            break
    table = pa.table({"prompt": [a for a, _, _ in paragraphs],
                      "response": [b for _, b, _ in paragraphs],
                      "source": [s for _, _, s in paragraphs],
                      "license": ["various"] * len(paragraphs), "lang": ["en"] * len(paragraphs)})
    return table, files


def text_bytes(table: pa.Table) -> int:
    return sum(pc.sum(pc.binary_length(table[c])).as_py() or 0 for c in table.column_names
               if pa.types.is_string(table.schema.field(c).type))


def floor(path: Path) -> None:
    t = pq.read_table(path)
    for c in TEXT_COLUMNS:
        pc.sum(pc.utf8_length(t[c]))


def masks_only(path: Path, suite: object) -> float:
    """Part of `new`: the executor's masks, text hash column given."""
    from laas.validators.arrow_exec import compile_check, run_check
    from laas.validators.gx_suite import with_text_hash

    table = with_text_hash(pq.read_table(path), suite)
    t = time.perf_counter()
    for e in suite.expectations:
        run_check(compile_check(e), table)
    return time.perf_counter() - t


def without_hashes(path: Path, suite: object) -> float:
    """Part of `new`: everything but reading and the text hashes (masks, GX result objects,
    Data Docs pages), batch by batch as the stage runs it."""
    from laas.tasks.shard_validation import VALIDATE_BATCH
    from laas.validators.gx_suite import check_table_pool, with_text_hash

    table = with_text_hash(pq.read_table(path), suite)
    t = time.perf_counter()
    for a in range(0, table.num_rows, VALIDATE_BATCH):
        check_table_pool(["k"], [min(VALIDATE_BATCH, table.num_rows - a)],
                         table.slice(a, VALIDATE_BATCH), suite, docs=[])
    return time.perf_counter() - t


def hashes_only(path: Path, suite: object) -> float:
    """Part of `new`: the text-hash column (the suite's duplicate-key scheme)."""
    from laas.validators.text_keys import text_hash_array

    table = pq.read_table(path)
    t = time.perf_counter()
    text_hash_array([table[c] for c in suite.text_hash_of], suite.text_key_scheme)
    return time.perf_counter() - t


def gx_pandas(path: Path, suite: object) -> None:
    from laas.tasks.shard_validation import VALIDATE_BATCH
    from laas.validators.gx_engine import run_alone
    from laas.validators.gx_suite import with_text_hash

    only = tuple(range(len(suite.expectations)))
    for b in pq.ParquetFile(path).iter_batches(batch_size=VALIDATE_BATCH):
        frame = with_text_hash(pa.Table.from_batches([b]), suite).to_pandas()
        run_alone(frame, suite, only, docs=[])


def timed(fn: object, *args: object) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def bench(name: str, table: pa.Table, work: Path, worker: Callable) -> dict:
    from laas.tasks.dataset_spec import DatasetSpec

    path = work / f"{name}.parquet"
    pq.write_table(table, path, compression="zstd")
    spec = DatasetSpec.model_validate({
        "name": name, "source": str(path), "format": "parquet",
        "schema": [{"name": c, "type": "string"} for c in table.column_names],
        "suite": {"builtin": "instruction_corpus", "params": {"max_chars": 32_000}}})
    old_spec = spec.suite.model_copy(update={"expectations": tuple(
        e.model_copy(update={"kwargs": {**e.kwargs, "regex_list": list(OLD_PII)}})
        if e.type == "expect_column_values_to_be_free_of_pii" else e
        for e in spec.suite.expectations)})
    mb = text_bytes(table) / 1e6
    entry = entry_of(path)
    new(entry, spec, work)  # warm: GX import, suites built
    worker(entry, spec, str(work / "docs"))  # and in the worker
    runs = [(timed(worker, entry, spec, str(work / "docs")), worker.usage) for _ in range(3)]
    seconds = {"floor": min(timed(floor, path) for _ in range(3)), "new": min(runs)[0],
               "new_in_process": min(timed(new, entry, spec, work) for _ in range(2)),
               "gx_pandas": timed(gx_pandas, path, spec.suite),
               "gx_pandas_old_patterns": timed(gx_pandas, path, old_spec)}
    parts = {"masks_one_thread": min(masks_only(path, spec.suite) for _ in range(2)),
             "text_hashes": min(hashes_only(path, spec.suite) for _ in range(2)),
             "all_but_read_and_hashes": min(without_hashes(path, spec.suite)
                                            for _ in range(2))}
    result = worker(entry, spec, str(work / "docs"))
    failed = {o["type"] + "(" + (o["column"] or "") + ")": o["unexpected_count"]
              for o in result["outcomes"] if not o["success"]}
    out = {"rows": table.num_rows, "mb": round(mb, 1),
           "seconds": {k: round(v, 3) for k, v in seconds.items()},
           "parts_of_new_seconds": {k: round(v, 3) for k, v in parts.items()},
           # the worker's user s, system s, page faults in each `new` run (wall: min of them)
           "new_worker_cpu": [[round(x, 3) for x in u] for _, u in runs],
           "mb_per_s": {k: round(mb / v, 1) for k, v in seconds.items()},
           "new_vs_floor": round(seconds["floor"] / seconds["new"], 3),
           "new_vs_gx_pandas": round(seconds["gx_pandas"] / seconds["new"], 2),
           "new_vs_gx_pandas_old_patterns": round(
               seconds["gx_pandas_old_patterns"] / seconds["new"], 2),
           "failed_expectations": failed}
    print(f"{name}: {table.num_rows} rows, {mb:.1f} MB of text")
    for k, v in seconds.items():
        print(f"  {k:24s} {v:7.2f} s  {mb / v:8.1f} MB/s")
    for k, v in parts.items():
        print(f"  (part of new) {k:24s} {v:7.2f} s  {mb / v:8.1f} MB/s")
    print("  new, the worker's CPU per run (user s, system s, page faults):",
          out["new_worker_cpu"])
    print(f"  new = {out['new_vs_floor']}x the floor's speed, "
          f"{out['new_vs_gx_pandas']}x GX pandas (same suite), "
          f"{out['new_vs_gx_pandas_old_patterns']}x GX pandas (old patterns)")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--real-mb", type=float, default=40)
    ap.add_argument("--workdir", default="/tmp/laas-bench-validate")
    work = Path((args := ap.parse_args()).workdir)
    work.mkdir(parents=True, exist_ok=True)
    real_table, files = real(args.real_mb)
    load = os.getloadavg()  # a shared machine: ratios move with its load
    with in_worker() as worker:
        results = {"machine": {"python": platform.python_version(), "pyarrow": pa.__version__,
                               "cpus": os.cpu_count()},
                   "synthetic": bench("synthetic", synthetic(args.rows), work, worker),
                   "real": bench("real", real_table, work, worker) | {"files": files}}
    results["machine"]["load_before_after"] = [round(x, 1) for x in (*load, *os.getloadavg())]
    out = Path(__file__).parent / "results" / "validate.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"-> {out}; load average (1, 5, 15 min) before, after: "
          f"{results['machine']['load_before_after']}")


if __name__ == "__main__":
    main()
