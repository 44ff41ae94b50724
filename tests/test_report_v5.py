"""laas-manifest-v5: the validated report stores each distinct list of outcomes once
(laas.anchors.core.results). A v4 manifest and its report still read, hash and gate as
committed; a v5 one is pinned to fixed vectors; every reader gets the same per-shard results
from either."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from laas.anchors.core.canonical import canonical_json, hash_plain, hash_record, keccak256
from laas.anchors.core.models import StageManifest, new_manifest
from laas.anchors.core.results import compact, outcomes_of, results_of, shard_results

WHEN = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def outcome(type_: str, column: str, ok: bool = True, count: int = 0,
            examples: tuple = ()) -> dict:
    return {"type": type_, "column": column, "severity": "error", "success": ok,
            "unexpected_count": count, "examples": list(examples), "observed": None}


def results() -> list[dict]:
    """Three shards: two meet every expectation (the same list), one has a PII row."""
    held = [outcome("expect_column_values_to_not_be_null", "prompt"),
            outcome("expect_column_values_to_be_free_of_pii", "prompt")]
    pii = [held[0], outcome("expect_column_values_to_be_free_of_pii", "prompt", False, 1,
                            ("mail bob@example.com",))]
    return [{"key": "a.jsonl", "success": True, "outcomes": held},
            {"key": "b.jsonl", "success": False, "outcomes": pii},
            {"key": "c.jsonl", "success": True, "outcomes": [dict(o) for o in held]}]


HEAD = {"suite": "instruction_corpus", "suite_hash": "0x" + "5a" * 32, "dataset": [],
        "pipeline_hash": "0x" + "77" * 32}


def validated(version: str) -> StageManifest:
    """The same run written as laas-manifest-v4 (each shard's outcomes whole) or v5."""
    from laas.anchors.core.entries import ShardEntry

    entries = [ShardEntry(key=k, uri=f"/store/r/validated/{k}.parquet", source_uri=f"/src/{k}",
                          byte_size=100 + n, rows=5, content_hash="0x" + f"{n + 1:02x}" * 32,
                          sha256=f"{n + 1:02x}" * 32, licenses=("mit",))
               for n, k in enumerate(("a.jsonl", "b.jsonl", "c.jsonl"))]
    report = HEAD | {"shards": results()} if version.endswith("v4") else compact(
        HEAD, results())
    m = new_manifest("ds", "r1", "validated", "laas-table-v1", entries, passed=True,
                     parents=("0x" + "99" * 32,), validation=report,
                     result_hash=hash_plain(report))
    return m.model_copy(update={"created_at": WHEN})


# Pinned: the v4 vector was computed by laas before v5 existed (main at a6fc563).
V4 = ("0x3ec350d0d11f2ee1bfdec3eeb14206abbfa474125f3dc6d389bf31ebca0ba236",
      "0x5533881c4cfe6a1543c89a1461b4c9674301363a3b4181d7bb37d52c07de86d9")
V5 = ("0x6fe92a0617e0c7e9f54cc5bc0fe9aa36dd622d08764428d7b6e057661fe8fad1",
      "0x3c401e854025002d695e541f9648f9936e3c459d751948566781a56fc12084dc")


@pytest.mark.parametrize("version, pinned", [("laas-manifest-v4", V4), ("laas-manifest-v5", V5)])
def test_v4_and_v5_manifests_hash_to_their_fixed_vectors(version: str, pinned: tuple) -> None:
    m = validated(version)
    assert m.version == version
    assert (m.manifest_hash, m.result_hash) == pinned
    back = StageManifest.model_validate_json(m.to_bytes())  # read back as a reader would
    assert back.to_bytes() == m.to_bytes() and hash_record(back.validation) == pinned[1]


def test_v5_stores_each_distinct_outcome_list_once_and_reads_back_the_same_results() -> None:
    v4, v5 = validated("laas-manifest-v4"), validated("laas-manifest-v5")
    report = json.loads(v5.to_bytes())["validation"]
    assert report["format"] == "laas-report-v2" and len(report["outcomes"]) == 2
    assert [s["outcome_list"] for s in report["shards"]] == [0, 1, 0]
    assert results_of(v4) == results_of(v5) == {r["key"]: r for r in results()}
    assert shard_results(v4.validation) == shard_results(v5.validation) == results()
    assert outcomes_of(v4) == outcomes_of(v5)
    assert len(v5.to_bytes()) < len(v4.to_bytes())


def test_the_report_model_writes_either_format() -> None:
    """ValidationReport says its own format: unset, the report as v1-v4 wrote it; set, the
    same bytes build_manifest commits."""
    from laas.validators.report import ShardValidation, ValidationReport

    shards = tuple(ShardValidation.model_validate(r) for r in results())
    old = ValidationReport(suite=HEAD["suite"], suite_hash=HEAD["suite_hash"], shards=shards,
                           pipeline_hash=HEAD["pipeline_hash"])
    new = old.model_copy(update={"format": "laas-report-v2"})
    assert old.result_hash == V4[1] and new.result_hash == V5[1]
    assert "format" not in old.model_dump(mode="json")


def test_an_older_laas_refuses_a_v5_manifest_and_v5_refuses_what_it_does_not_know() -> None:
    body = json.loads(validated("laas-manifest-v5").to_bytes())
    # what laas before v5 ran: its list of known versions ended at v4
    with pytest.raises(ValueError, match="unknown manifest version 'laas-manifest-v99'"):
        StageManifest.model_validate_json(canonical_json(body | {"version": "laas-manifest-v99"}))
    for change, words in (
            ({"version": "laas-manifest-v4"}, "format 'laas-report-v2' needs a laas-manifest-v5"),
            ({"validation": body["validation"] | {"format": "laas-report-v9"}},
             "unknown validation report format 'laas-report-v9'"),
            ({"validation": body["validation"] | {"shards": [
                {"key": "a.jsonl", "success": True, "outcome_list": 2}]}},
             "names no outcome list"),
            ({"validation": {k: v for k, v in body["validation"].items() if k != "format"}},
             "unknown validation report format None")):
        with pytest.raises(ValueError, match=words):
            StageManifest.model_validate_json(canonical_json(body | change))


@pytest.mark.parametrize("version", ["laas-manifest-v4", "laas-manifest-v5"])
def test_the_gate_denies_a_failed_outcome_and_allows_a_clean_run_in_either_format(
        version: str) -> None:
    """A run committed with either report format, through the gate service (fakes): a shard
    whose `error` expectation failed is named in the denial; without it the run is allowed."""
    from laas.anchors.services.gate import GatePolicy, check
    from tests.fakes import FakeLedger

    ledger = FakeLedger()
    for run, bad in (("clean", False), ("pii", True)):
        raw, norm, val = ledger.stages("ds", run, {"a.jsonl": [{"prompt": "p", "response": "r"}],
                                                  "b.jsonl": [{"prompt": "q", "response": "s"}]})
        got = results()[:2] if bad else [results()[0], results()[2] | {"key": "b.jsonl"}]
        report = val.validation | ({"shards": got} if version.endswith("v4") else compact(
            val.validation, got))
        val = val.model_copy(update={"validation": report, "result_hash": hash_plain(report),
                                     "version": version})
        for m in (raw, norm, val):
            ledger.commit(m)
        v = check(ledger.registry, "ds", store=ledger.store, run=run)
        assert v.allowed is not bad, v.reason
        if bad:
            assert v.reason.endswith("shard b.jsonl: expect_column_values_to_be_free_of_pii"
                                     "(prompt) failed [error], which the policy does not "
                                     "tolerate"), v.reason
            lenient = GatePolicy(tolerate=("warn", "error"))
            assert check(ledger.registry, "ds", store=ledger.store, run=run,
                         policy=lenient).allowed


@pytest.mark.parametrize("version", ["laas-manifest-v4", "laas-manifest-v5"])
def test_the_card_and_the_artifact_table_read_either_format(version: str) -> None:
    from laas.anchors.core.croissant import pii_screen
    from laas.tasks.manifests import failed_expectations

    m = validated(version)
    assert "column(s) prompt: 1 row(s) flagged" in pii_screen(m)
    assert failed_expectations(m) == [{
        "shard": "b.jsonl", "expectation": "expect_column_values_to_be_free_of_pii",
        "column": "prompt", "severity": "error", "unexpected": 1,
        "example": "'mail bob@example.com'"}]


@pytest.mark.parametrize("version", ["laas-manifest-v4", "laas-manifest-v5"])
def test_a_shard_reused_from_a_v4_or_v5_run_carries_its_results_into_a_v5_report(
        version: str) -> None:
    """An incremental run takes a reused shard's committed results from the previous run's
    report, whichever format, and commits them again, now in v5's form."""
    from laas.anchors.core.entries import ShardEntry
    from laas.anchors.core.reuse import plan_reuse

    prev_val = validated(version)
    prev_raw = new_manifest("ds", "r1", "raw", "laas-bytes-v1", [
        ShardEntry(key=s.key, uri=s.source_uri, source_uri=s.source_uri, byte_size=9,
                   content_hash="0x" + keccak256(s.key.encode()).hex()) for s in prev_val.shards],
        passed=True)
    prev_norm = prev_val.model_copy(update={"stage": "normalized", "validation": None})
    this_raw = prev_raw.model_copy(update={"run": "r2"})
    plan = plan_reuse(this_raw, (prev_raw, prev_norm, prev_val), HEAD["pipeline_hash"])
    assert [r.key for r in plan.reused] == ["a.jsonl", "b.jsonl", "c.jsonl"]
    entries = [r.with_results(plan.results[r.key]) for r in plan.reused]
    report = compact(HEAD, (e.validation for e in entries))
    assert report == validated("laas-manifest-v5").validation
    assert hash_plain(report) == V5[1]
