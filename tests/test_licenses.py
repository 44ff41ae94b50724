"""Licenses on the real stack (anvil, Prefect, Dask), through `laas run`, `laas gate` and
`laas export croissant`: each shard's licenses (the spec's source license, its `license`
column's values) are in its validated entry, a license only dropped rows carried is gone, a
derived dataset's shards carry their parents' shards' licenses, its Croissant card lists them,
and a gate policy (`licenses:` or `--license`) denies a dataset holding another, naming the
shard and the license (exit 1)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from laas.anchors.adapters.artifacts import read_manifest
from laas.anchors.core.licenses import held, license_problem
from laas.datasets.make_sample import rows
from tests.conftest import SAMPLE, Workspace
from tests.fakes import FakeLedger
from tests.test_incremental_pipeline import by_key, validated

pytestmark = pytest.mark.filterwarnings(  # mlcroissant builds on rdflib's deprecated graph
    "ignore:ConjunctiveGraph is deprecated:DeprecationWarning")


def licensed(shard: int, lic: str, n: int = 20, extra: str | None = None) -> bytes:
    """n sample rows under license `lic`, and with `extra` one more row under that one."""
    out = [{**r, "license": lic} for r in rows(shard, n, seed=11)]
    if extra:
        out.append({**rows(shard, 1, seed=12)[0], "license": extra})
    return "".join(json.dumps(r) + "\n" for r in out).encode()


@pytest.fixture(scope="module")
def ws(workspace: Workspace) -> Workspace:
    """lic-mit (drop_rows): rows under mit, and one under `proprietary` (dropped);
    lic-web: rows under cc-by-4.0, its source under odc-by (the spec's `license`);
    lic-mix: derived from both."""
    ws = workspace
    ws.add_dataset("lic-mit", {"m.jsonl": licensed(1, "mit", extra="proprietary")},
                   on_failure="drop_rows")
    ws.add_dataset("lic-web", {"w.jsonl": licensed(2, "cc-by-4.0")}, license="odc-by")
    spec = yaml.safe_load((SAMPLE / "instruct-sample.yaml").read_text())
    del spec["source"], spec["format"]
    spec.update(name="lic-mix", parents=["lic-mit", "lic-web"], on_failure="quarantine")
    (ws.root / "datasets" / "lic-mix.yaml").write_text(yaml.safe_dump(spec))
    for name in ("lic-mit", "lic-web", "lic-mix"):
        r = ws.laas("run", name, "--run", "r1", "--json")
        assert r.returncode == 0, r.stdout + r.stderr
    return ws


def test_each_validated_shard_lists_its_licenses_and_a_dropped_rows_license_is_gone(ws
                                                                                     ) -> None:
    m = by_key(validated(ws, "lic-mit", "r1"))["m.jsonl"]
    assert m.derived and m.licenses == ("mit",)  # the proprietary row was dropped
    normalized = read_manifest(next((ws.root / ".laas" / "artifacts" / "lic-mit" / "r1" /
                                     "normalized").glob("manifest-*.json")).as_posix())
    assert by_key(normalized)["m.jsonl"].licenses == ("mit", "proprietary")
    w = by_key(validated(ws, "lic-web", "r1"))["w.jsonl"]
    assert w.licenses == ("cc-by-4.0", "odc-by")  # its rows' and its source's
    assert validated(ws, "lic-web", "r1").version == "laas-manifest-v5"


def test_a_derived_dataset_carries_its_parents_licenses_to_its_card(ws) -> None:
    mix = validated(ws, "lic-mix", "r1")
    shards = by_key(mix)
    assert shards["lic-mit/m.jsonl"].licenses == ("mit",)
    assert shards["lic-web/w.jsonl"].licenses == ("cc-by-4.0", "odc-by")  # odc-by: no column
    assert held(mix) == ("cc-by-4.0", "mit", "odc-by")
    r = ws.laas("export", "croissant", "lic-mix", "-o", "mix-card.json")
    assert r.returncode == 0, r.stdout + r.stderr
    card = json.loads((ws.root / "mix-card.json").read_text())
    assert card["license"] == ["cc-by-4.0", "mit", "odc-by"]
    for f in (d for d in card["distribution"] if d["@type"] == "cr:FileObject"):
        s = shards[f["name"]]  # the sha256 the stage wrote, and the file's own
        assert f["sha256"] == s.sha256 == hashlib.sha256(Path(s.uri).read_bytes()).hexdigest()
    assert ws.laas("verify", "--croissant", "mix-card.json").returncode == 0


def test_a_gate_policy_denies_a_license_it_does_not_accept_naming_shard_and_license(ws
                                                                                    ) -> None:
    r = ws.laas("gate", "lic-mix", "--license", "mit", "--license", "CC-BY-4.0")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "shard lic-web/w.jsonl holds license odc-by, which the policy does not accept" \
        in r.stdout
    policy = ws.root / "open.yaml"
    policy.write_text("licenses: [mit, cc-by-4.0, odc-by]\n")
    r = ws.laas("gate", "lic-mix", "--policy", str(policy))
    assert r.returncode == 0 and "ALLOW" in r.stdout, r.stdout + r.stderr
    r = ws.laas("gate", "lic-mix", "--policy", str(policy), "--license", "mit")  # narrowed
    assert r.returncode == 1 and "holds license cc-by-4.0" in r.stdout, r.stdout
    assert ws.laas("gate", "lic-mit", "--license", "mit").returncode == 0
    bad = ws.root / "bad.yaml"
    bad.write_text("licenses: mit-and-more\n")  # not a list
    r = ws.laas("gate", "lic-mit", "--policy", str(bad))
    assert r.returncode == 2 and "licenses" in r.stdout + r.stderr


def test_a_run_without_recorded_licenses_is_denied_by_a_license_policy() -> None:
    ledger = FakeLedger()
    _, _, v = ledger.ingest("old", "r1")  # entries as a run before licenses were recorded
    problem = license_problem(v, ["mit"])
    assert problem is not None and problem.startswith(f"shard {v.accepted[0].key}: its "
                                                      "license is not recorded")
    ok = v.model_copy(update={"shards": tuple(s.model_copy(update={"licenses": ("MIT",)})
                                              for s in v.shards)})
    assert license_problem(ok, ["mit"]) is None and held(ok) == ("MIT",)
