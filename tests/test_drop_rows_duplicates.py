"""drop_rows and a suite that tolerates duplicates (`max_duplicate_rate` above 0), on the real
stack (anvil, Prefect, Dask): found on Python's tokenizer test files read a line a row with
`max_duplicate_rate: 1.0`, where every later copy of a line was still dropped and a file whose
lines all repeat an earlier file's was set aside whole ("no row is left"). A tolerant
uniqueness check judges its shard whole, as any check with `mostly` below 1, and the dataset
by its duplicate rate; only the strict one (the default, 0) drops the later copies."""

from __future__ import annotations

import json

import yaml

from laas.datasets.make_sample import rows
from tests.test_incremental_pipeline import by_key, run, validated


def _jsonl(rs: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rs).encode()


def _with_rate(ws, name: str, rate: float) -> None:  # noqa: ANN001 - the workspace
    path = ws.root / "datasets" / f"{name}.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["suite"]["params"]["max_duplicate_rate"] = rate
    path.write_text(yaml.safe_dump(spec, sort_keys=False))


def test_duplicates_a_suite_tolerates_are_kept(workspace) -> None:
    ws = workspace
    first = rows(1, 20, seed=1)
    files = {"a.jsonl": _jsonl(first), "b.jsonl": _jsonl(first),  # b repeats a whole
             "c.jsonl": _jsonl(first[:2] + rows(2, 18, seed=2))}  # c repeats 2 rows of a
    ws.add_dataset("tolerant", files, on_failure="drop_rows", max_dropped_rows=0.2)
    _with_rate(ws, "tolerant", 1.0)
    summary = run(ws, "tolerant", "r1")
    got = by_key(validated(ws, "tolerant", "r1"))
    assert all(got[k].status == "ok" and not got[k].derived and got[k].rows == 20
               for k in files), {k: got[k].reason for k in files}
    check = next(c for c in summary["dataset_checks"]
                 if c["type"] == "laas_dataset_duplicate_rate_at_most")
    assert check["success"] and check["unexpected_count"] == 22  # b's 20, c's 2
    assert ws.laas("gate", "tolerant", "--run", "r1").returncode == 0

    _with_rate(ws, "tolerant", 0.1)  # the dataset's 22 of 60 is over what it tolerates
    r = ws.laas("run", "tolerant", "--run", "r2", "--json")
    assert r.returncode == 1, r.stdout + r.stderr
    check = next(c for c in json.loads(r.stdout)["dataset_checks"]
                 if c["type"] == "laas_dataset_duplicate_rate_at_most")
    assert not check["success"]

    _with_rate(ws, "tolerant", 0.0)  # strict: the later copies dropped, the first kept
    run(ws, "tolerant", "r3")
    got = by_key(validated(ws, "tolerant", "r3"))
    assert got["a.jsonl"].rows == 20 and got["c.jsonl"].rows == 18
    assert got["b.jsonl"].status != "ok" and "no row is left" in got["b.jsonl"].reason
