"""A seeded defect corpus: every expectation of the builtin suites catches its defect, with
its severity, the shard, the column and an example; clean data passes."""

from __future__ import annotations

import pandas as pd
import pytest

from laas.datasets.make_sample import rows
from laas.validators.gx_suite import merge, validate_frame
from laas.validators.report import ShardValidation
from laas.validators.spec import DatasetSpec
from laas.validators.suites import instruction_corpus, tabular_features
from laas.validators.text import TEXT_HASH_COLUMN

SUITE = instruction_corpus(langs=["en", "de", "fr", "es"],
                           licenses=["cc-by-4.0", "cc0-1.0", "mit", "apache-2.0"],
                           max_chars=2000, pii="error", clean_text="warn")


def clean() -> list[dict]:
    return rows(42, 60)


def defect(kind: str) -> tuple[list[dict], str, str | None, str]:
    """(rows, expectation type, column, severity) for one seeded defect."""
    rs = clean()
    if kind == "null":
        rs[3]["source"] = None
        return rs, "expect_column_values_to_not_be_null", "source", "error"
    if kind == "empty":
        rs[5]["response"] = ""
        return rs, "expect_column_value_lengths_to_be_between", "response", "error"
    if kind == "too_long":
        rs[7]["prompt"] = "x" * 2001
        return rs, "expect_column_value_lengths_to_be_between", "prompt", "error"
    if kind == "lang":
        rs[9]["lang"] = "xx"
        return rs, "expect_column_values_to_be_in_set", "lang", "error"
    if kind == "license":
        rs[11]["license"] = "all-rights-reserved"
        return rs, "expect_column_values_to_be_in_set", "license", "error"
    if kind == "near_duplicate":  # same text up to case, spacing and Unicode form
        rs[13] = {**rs[12], "prompt": "  " + rs[12]["prompt"].upper().replace(" ", "\t ")}
        return rs, "expect_column_values_to_be_unique", TEXT_HASH_COLUMN, "error"
    if kind == "email":
        rs[15]["response"] = "Write to jane.doe@example.org for the answer."
        return rs, "expect_column_values_to_be_free_of_pii", "response", "error"
    if kind == "phone":
        rs[16]["prompt"] = "Call me at +1 (415) 555-0100 tonight"
        return rs, "expect_column_values_to_be_free_of_pii", "prompt", "error"
    if kind == "card":
        rs[17]["response"] = "my card is 4111 1111 1111 1111 ok"
        return rs, "expect_column_values_to_be_free_of_pii", "response", "error"
    if kind == "mojibake":
        rs[19]["response"] = "caf\ufffd au lait"
        return rs, "expect_column_values_to_be_clean_text", "response", "warn"
    raise ValueError(kind)


KINDS = ["null", "empty", "too_long", "lang", "license", "near_duplicate", "email", "phone",
         "card", "mojibake"]


def test_clean_corpus_passes_every_expectation() -> None:
    result = validate_frame("clean.jsonl", pd.DataFrame(clean()), SUITE)
    assert result.success and not result.failures, result.summary()


@pytest.mark.parametrize("kind", KINDS)
def test_each_defect_is_caught_with_its_severity_column_and_example(kind: str) -> None:
    rs, type_, column, severity = defect(kind)
    result = validate_frame(f"{kind}.jsonl", pd.DataFrame(rs), SUITE)
    failed = [o for o in result.failures if o.type == type_ and o.column == column]
    assert failed, result.summary()
    (o,) = failed
    assert o.severity == severity and o.unexpected_count >= 1 and o.examples
    assert result.success is (severity == "warn")  # a warning alone does not fail the shard
    others = [x for x in result.failures if x is not o]
    assert not others, f"{kind} tripped more than its own expectation: {result.summary()}"
    assert result.key == f"{kind}.jsonl"


def test_results_of_batches_merge_into_one_per_shard() -> None:
    a = validate_frame("s", pd.DataFrame(defect("email")[0]), SUITE)
    b = validate_frame("s", pd.DataFrame(defect("lang")[0]), SUITE)
    merged = merge([a, b])
    assert isinstance(merged, ShardValidation) and not merged.success
    assert {o.type for o in merged.failures} == {"expect_column_values_to_be_free_of_pii",
                                                 "expect_column_values_to_be_in_set"}


def test_tabular_suite_checks_schema_nulls_ranges_and_keys() -> None:
    suite = tabular_features(columns=["id", "x", "label"], key_columns=["id"],
                             max_null_rate={"x": 0.1}, ranges={"x": [0, 1]})
    ok = pd.DataFrame({"id": range(20), "x": [i / 20 for i in range(20)], "label": ["a"] * 20})
    assert validate_frame("t", ok, suite).success
    bad = ok.copy()
    bad.loc[0, "id"] = 1
    bad.loc[1:5, "x"] = None
    bad.loc[6, "x"] = 7.0
    failed = {(o.type, o.column) for o in validate_frame("t", bad, suite).failures}
    assert failed == {("expect_column_values_to_be_unique", "id"),
                      ("expect_column_values_to_not_be_null", "x"),
                      ("expect_column_values_to_be_between", "x")}
    extra = ok.assign(leak=1)
    failed = {o.type for o in validate_frame("t", extra, suite).failures}
    assert failed == {"expect_table_columns_to_match_set"}


def test_spec_can_name_a_builtin_suite() -> None:
    spec = DatasetSpec.model_validate({
        "name": "x", "source": "s/*", "schema": [{"name": "prompt", "type": "string"}],
        "suite": {"builtin": "instruction_corpus", "params": {"langs": ["en"]}}})
    assert spec.suite.text_hash_of == ("prompt", "response")
    with pytest.raises(ValueError, match="no builtin suite 'nope'"):
        DatasetSpec.model_validate({
            "name": "x", "source": "s/*", "schema": [{"name": "p", "type": "string"}],
            "suite": {"builtin": "nope"}})
