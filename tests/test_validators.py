"""A seeded defect corpus: every expectation of the builtin suites catches its defect, with
its severity, the shard, the column and an example; clean data passes."""

from __future__ import annotations

import pandas as pd
import pytest

from laas.datasets.make_sample import rows
from laas.tasks.dataset_spec import DatasetSpec
from laas.validators.gx_suite import check_frame, check_frames_pooled, merge, poolable
from laas.validators.report import ShardValidation
from laas.validators.suites import instruction_corpus, tabular_features
from laas.validators.text import TEXT_HASH_COLUMN

SUITE = instruction_corpus(langs=["en", "de", "fr", "es"],
                           licenses=["cc-by-4.0", "cc0-1.0", "mit", "apache-2.0"],
                           max_chars=2000, pii="error", clean_text="warn")


def clean() -> list[dict]:
    return rows(42, 60)


# kind: (row, field, new value, expectation that must catch it, its column, severity)
DEFECTS = {
    "null": (3, "source", None, "expect_column_values_to_not_be_null", "source", "error"),
    "empty": (5, "response", "", "expect_column_value_lengths_to_be_between", "response",
              "error"),
    "too_long": (7, "prompt", "x" * 2001, "expect_column_value_lengths_to_be_between", "prompt",
                 "error"),
    "lang": (9, "lang", "xx", "expect_column_values_to_be_in_set", "lang", "error"),
    "license": (11, "license", "all-rights-reserved", "expect_column_values_to_be_in_set",
                "license", "error"),
    "email": (15, "response", "Write to jane.doe@example.org for the answer.",
              "expect_column_values_to_be_free_of_pii", "response", "error"),
    "phone": (16, "prompt", "Call me at +1 (415) 555-0100 tonight",
              "expect_column_values_to_be_free_of_pii", "prompt", "error"),
    "card": (17, "response", "my card is 4111 1111 1111 1111 ok",
             "expect_column_values_to_be_free_of_pii", "response", "error"),
    "mojibake": (19, "response", "caf\ufffd au lait", "expect_column_values_to_be_clean_text",
                 "response", "warn"),
}
KINDS = [*DEFECTS, "near_duplicate"]


def defect(kind: str) -> tuple[list[dict], str, str | None, str]:
    """(rows, expectation type, column, severity) for one seeded defect."""
    rs = clean()
    if kind == "near_duplicate":  # same text up to case, spacing and Unicode form
        rs[13] = {**rs[12], "prompt": "  " + rs[12]["prompt"].upper().replace(" ", "\t ")}
        return rs, "expect_column_values_to_be_unique", TEXT_HASH_COLUMN, "error"
    row, field, value, type_, column, severity = DEFECTS[kind]
    rs[row][field] = value
    return rs, type_, column, severity


def test_clean_corpus_passes_every_expectation() -> None:
    result = check_frame("clean.jsonl", pd.DataFrame(clean()), SUITE)
    assert result.success and not result.failures, result.summary()


@pytest.mark.parametrize("kind", KINDS)
def test_each_defect_is_caught_with_its_severity_column_and_example(kind: str) -> None:
    rs, type_, column, severity = defect(kind)
    result = check_frame(f"{kind}.jsonl", pd.DataFrame(rs), SUITE)
    failed = [o for o in result.failures if o.type == type_ and o.column == column]
    assert failed, result.summary()
    (o,) = failed
    assert o.severity == severity and o.unexpected_count >= 1 and o.examples
    assert result.success is (severity == "warn")  # a warning alone does not fail the shard
    others = [x for x in result.failures if x is not o]
    assert not others, f"{kind} tripped more than its own expectation: {result.summary()}"
    assert result.key == f"{kind}.jsonl"


def test_results_of_batches_merge_into_one_per_shard() -> None:
    a = check_frame("s", pd.DataFrame(defect("email")[0]), SUITE)
    b = check_frame("s", pd.DataFrame(defect("lang")[0]), SUITE)
    merged = merge([a, b])
    assert isinstance(merged, ShardValidation) and not merged.success
    assert {o.type for o in merged.failures} == {"expect_column_values_to_be_free_of_pii",
                                                 "expect_column_values_to_be_in_set"}


@pytest.mark.parametrize("suite", [SUITE, instruction_corpus(max_duplicate_rate=0.05)],
                         ids=["strict", "mostly"])
def test_small_shards_validated_together_get_the_results_they_get_alone(suite) -> None:
    # Every defect in its own small shard, a clean shard, and the same rows in two shards
    # (duplicates across shards are the dataset check's business, not a shard's).
    parts = [(kind, pd.DataFrame(defect(kind)[0][:25])) for kind in KINDS]
    parts += [("clean", pd.DataFrame(clean()[:10])), ("twin", pd.DataFrame(clean()[:10]))]
    parts += [("dupes", pd.DataFrame([clean()[0]] * 2 + clean()[1:40]))]
    assert poolable(suite)
    alone = [check_frame(k, df, suite) for k, df in parts]
    together = check_frames_pooled(parts, suite)
    assert together == alone
    failed = {r.key for r in together if not r.success}
    assert {"null", "empty", "email", "phone", "card"} <= failed
    assert ("dupes" in failed) is (suite is SUITE)  # 2 of 41 rows is within mostly=0.95
    assert not failed & {"clean", "twin", "mojibake"}


def test_tabular_suite_checks_schema_nulls_ranges_and_keys() -> None:
    suite = tabular_features(columns=["id", "x", "label"], key_columns=["id"],
                             max_null_rate={"x": 0.1}, ranges={"x": [0, 1]})
    ok = pd.DataFrame({"id": range(20), "x": [i / 20 for i in range(20)], "label": ["a"] * 20})
    assert check_frame("t", ok, suite).success
    bad = ok.copy()
    bad.loc[0, "id"] = 1
    bad.loc[1:5, "x"] = None
    bad.loc[6, "x"] = 7.0
    failed = {(o.type, o.column) for o in check_frame("t", bad, suite).failures}
    assert failed == {("expect_column_values_to_be_unique", "id"),
                      ("expect_column_values_to_not_be_null", "x"),
                      ("expect_column_values_to_be_between", "x")}
    extra = ok.assign(leak=1)
    failed = {o.type for o in check_frame("t", extra, suite).failures}
    assert failed == {"expect_table_columns_to_match_set"}


def test_spec_can_name_a_builtin_suite() -> None:
    spec = DatasetSpec.model_validate({
        "name": "x", "source": "s/*", "schema": [
            {"name": c, "type": "string"}
            for c in ("prompt", "response", "source", "license", "lang")],
        "suite": {"builtin": "instruction_corpus", "params": {"langs": ["en"]}}})
    assert spec.suite.text_hash_of == ("prompt", "response")
    with pytest.raises(ValueError, match="no builtin suite 'nope'"):
        DatasetSpec.model_validate({
            "name": "x", "source": "s/*", "schema": [{"name": "p", "type": "string"}],
            "suite": {"builtin": "nope"}})


def test_a_validated_manifest_holds_each_distinct_outcome_list_once() -> None:
    """The manifest puts the workers' ShardValidation dumps into the report as they are
    (equal outcomes one object, for memory): the same JSON and result hash as the report
    built from the records in laas-report-v2 (laas-manifest-v5), and the same results read
    back."""
    from laas.anchors.core.models import ShardEntry
    from laas.anchors.core.results import shard_results
    from laas.tasks.manifests import build_manifest
    from laas.validators.outcomes import share_outcomes
    from laas.validators.report import ValidationReport

    spec = DatasetSpec.model_validate({"name": "m", "source": "/x/*.jsonl", "format": "jsonl",
                                       "schema": [{"name": c, "type": "string"} for c in
                                                  ("prompt", "response", "source", "license",
                                                   "lang")], "suite": SUITE.model_dump()})
    bad = pd.DataFrame(clean()).assign(source=[None] + ["s"] * 59)
    results = check_frames_pooled([("a", pd.DataFrame(clean())), ("b", bad),
                                   ("c", pd.DataFrame(rows(7, 30)))], SUITE)
    dumps = share_outcomes([r.model_dump(mode="json") for r in results])
    assert dumps == [r.model_dump(mode="json") for r in results]
    assert dumps[0]["outcomes"][0] is dumps[2]["outcomes"][0]  # one dict for both shards
    assert dumps[1]["outcomes"][2]["unexpected_count"] == 1
    entries = [ShardEntry(key=r.key, uri=f"/n/{r.key}", source_uri=f"/s/{r.key}", rows=1,
                          content_hash="0x" + "00" * 32, validation=d)
               for r, d in zip(results, dumps, strict=True)]
    m = build_manifest(spec, "r1", "validated", entries)
    from laas.tasks.reuse_work import pipeline_hash

    report = ValidationReport(suite=spec.suite.name, suite_hash=spec.suite.suite_hash,
                              shards=tuple(results), pipeline_hash=pipeline_hash(spec),
                              format="laas-report-v2")
    assert m.validation == report.model_dump(mode="json") and m.version == "laas-manifest-v5"
    assert m.result_hash == report.result_hash
    assert all(s.validation is None for s in m.shards)  # stored once, in the report
    assert len(m.validation["outcomes"]) == 2  # a and c met every expectation: one list
    assert shard_results(m.validation) == [r.model_dump(mode="json") for r in results]
    # The flow's way: results kept apart from the entries as the batches arrive (pickled
    # copies), equal lists one object across batches; the same manifest bytes.
    import pickle

    from laas.tasks.manifests import SharedOutcomes

    shared = SharedOutcomes()
    bare = [e for batch in (entries[:2], entries[2:])
            for e in shared(pickle.loads(pickle.dumps(batch)))]
    assert all(e.validation is None for e in bare)
    assert shared.results["a"]["outcomes"] is shared.results["c"]["outcomes"]
    apart = build_manifest(spec, "r1", "validated", bare, results=shared.results)
    assert apart.model_copy(update={"created_at": m.created_at}).to_bytes() == m.to_bytes()
