"""A rerun resumes a stage from an earlier attempt's attested manifest only with the parent it
was made from, on the real stack (anvil, Prefect, Dask). Whoever can write the source and the
store changes a source file and deletes the run's raw manifest while the run waits for the
chain: the rerun hashed the new bytes as raw but resumed the normalized and validated stages
made from the old ones, and the chain then said those rows came from bytes they never did
(`laas verify` of the new file was PROVEN)."""

from __future__ import annotations

import json

from laas.anchors.adapters.artifacts import read_manifest
from tests.test_versions_pipeline import jsonl


def test_a_stage_whose_parent_was_made_again_is_not_resumed(workspace) -> None:
    ws = workspace
    ws.add_dataset("parent", {"a.jsonl": jsonl(1), "b.jsonl": jsonl(2)})
    capped = {**ws.env, "LAAS_MAX_FEE_PER_RUN": "0.000000000000000001"}
    r = ws.laas("run", "parent", "--run", "r1", env=capped)
    assert r.returncode == 3, r.stdout + r.stderr  # pending anchor, its manifests attested
    run_dir = ws.root / ".laas" / "artifacts" / "parent" / "r1"
    assert list((run_dir / "normalized").glob("attest-*.json"))
    source = ws.root / "datasets" / "parent" / "a.jsonl"
    source.write_bytes(jsonl(1) + jsonl(3, 5))  # 25 rows now
    for f in (run_dir / "raw").glob("*.json"):
        f.unlink()

    r = ws.laas("run", "parent", "--run", "r1", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    stages = {c["stage"]: read_manifest(c["manifest_uri"])
              for c in json.loads(r.stdout)["checkpoints"]}
    for stage in ("normalized", "validated"):
        a = next(s for s in stages[stage].shards if s.key == "a.jsonl")
        assert a.rows == 25, (stage, a)
    assert ws.laas("verify", str(source)).returncode == 0
