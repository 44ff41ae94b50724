"""The Arrow executor against Great Expectations' own pandas engine: for every row-wise type
it runs, on a corpus of edge cases, both give the same verdict, the same unexpected count and
the same failing rows. The one intended difference is the regex dialect (RE2, ASCII \\w): GX's
pandas engine reads \\w with Python's re once a batch holds non-ASCII text, so the \\w case
runs on ASCII rows here and the difference has its own test below."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from laas.errors import ConfigError
from laas.validators.arrow_exec import compile_check, run_check
from laas.validators.gx_engine import _run, build_suites
from laas.validators.gx_suite import check_frame
from laas.validators.mask_results import Counts, holds
from laas.validators.spec import ExpectationSpec, SuiteSpec
from laas.validators.text import CONTROL_OR_REPLACEMENT, PII_PATTERNS

HUGE = "x" * 1_000_000
TEXT = ["abc", None, "", "naïve café", "line\nbreak", "Ünïcödé ✓", HUGE, "abc",
        "josé@example.com", HUGE + " mail bob@example.org", "tab\there", "caf\ufffd",
        "call +44 20 7946 0958", None, "zzz", "ABC123", "42", "abc"]
N = len(TEXT)
NUM = [1.5, None, 0.0, -3.0, 10.0, float("nan"), 2.0, 1.5, 7.0, None, 5.0, 5.0, 0.5, 9.0,
       100.0, -0.5, 3.0, 1.5]
KEY = ["a", "b", None, "a", "c", "d", None, "e", "f", "g", "h", "i", "j", "k", "l", "b", "m",
       "n"]
KEY2 = [1, 2, 3, 1, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 2, 17, 18]
ASCII_WORDS = ["abc", None, "", "a b", "under_score", "x" * 100_000, "42", "tab\t", "ok"] * 2

CASES = [  # (type, kwargs); column "s" is text, "n" numbers, "k"/"k2" keys, "z" all null
    ("expect_column_values_to_not_be_null", {"column": "s"}),
    ("expect_column_values_to_not_be_null", {"column": "n"}),
    ("expect_column_values_to_be_null", {"column": "k"}),
    ("expect_column_values_to_be_null", {"column": "z"}),
    ("expect_column_values_to_be_in_set", {"column": "s", "value_set": ["abc", "", "zzz"]}),
    ("expect_column_values_to_not_be_in_set", {"column": "k", "value_set": ["a", "b"]}),
    ("expect_column_values_to_be_in_set", {"column": "k2", "value_set": [1, 2, 3]}),
    ("expect_column_values_to_be_between", {"column": "n", "min_value": 0, "max_value": 9}),
    ("expect_column_values_to_be_between", {"column": "n", "min_value": 0, "max_value": 9,
                                            "strict_min": True, "strict_max": True}),
    ("expect_column_values_to_be_between", {"column": "k2", "max_value": 10}),
    ("expect_column_value_lengths_to_be_between", {"column": "s", "min_value": 1,
                                                   "max_value": 20}),
    ("expect_column_value_lengths_to_be_between", {"column": "z", "min_value": 1}),
    ("expect_column_value_lengths_to_equal", {"column": "s", "value": 3}),
    ("expect_column_values_to_match_regex", {"column": "s", "regex": "^[a-z]+$"}),
    ("expect_column_values_to_not_match_regex", {"column": "s", "regex": "\n|é"}),
    ("expect_column_values_to_match_regex_list", {"column": "s", "regex_list": ["a", "c"],
                                                  "match_on": "all"}),
    ("expect_column_values_to_match_regex_list", {"column": "s", "regex_list": ["^a", "z$"]}),
    ("expect_column_values_to_not_match_regex_list", {"column": "s",
                                                      "regex_list": ["[0-9]", "✓"]}),
    ("expect_column_values_to_be_unique", {"column": "s"}),
    ("expect_column_values_to_be_unique", {"column": "k"}),
    ("expect_column_values_to_be_unique", {"column": "z"}),
    ("expect_compound_columns_to_be_unique", {"column_list": ["k", "k2"]}),
    ("expect_compound_columns_to_be_unique", {"column_list": ["k", "k2"],
                                              "ignore_row_if": "any_value_is_missing"}),
    ("expect_column_values_to_be_free_of_pii", {"column": "s",
                                                "regex_list": list(PII_PATTERNS)}),
    ("expect_column_values_to_be_clean_text", {"column": "s",
                                               "regex": CONTROL_OR_REPLACEMENT}),
]
ASCII_CASES = [  # \w and \d: GX's pandas engine is RE2 only while a batch is ASCII
    ("expect_column_values_to_match_regex", {"column": "s", "regex": r"^\w+$"}),
    ("expect_column_values_to_not_match_regex", {"column": "s", "regex": r"\d|\s"}),
]


def corpus(text: list) -> pd.DataFrame:
    n = len(text)
    df = pd.DataFrame({"s": pd.Series(text, dtype="str"),
                       "n": pd.Series((NUM * 2)[:n], dtype="float64"),
                       "k": pd.Series((KEY * 2)[:n], dtype="str"),
                       "k2": pd.Series((KEY2 * 2)[:n], dtype="int64"),
                       "z": pd.Series([None] * n, dtype="str")})
    return df


def both_engines(df: pd.DataFrame, cases: list, mostly: float | None) -> None:
    es = [ExpectationSpec(type=t, kwargs=k | ({} if mostly is None else {"mostly": mostly}))
          for t, k in cases]
    spec = SuiteSpec(name="diff", expectations=tuple(es))
    by_gx = _run(df, build_suites(spec), {"result_format": "COMPLETE"}, None)
    table = pa.Table.from_pandas(df, preserve_index=False)
    for i, e in enumerate(es):
        check = compile_check(e)
        assert check is not None, f"{e.type} {e.kwargs} is not executed in Arrow"
        masks = run_check(check, table)
        assert masks is not None, f"{e.type} {e.kwargs}: column type left to GX"
        rows = np.flatnonzero(masks.unexpected).tolist()
        c = Counts(len(df), int(masks.considered.sum()), len(rows), [])
        gx = by_gx[i]
        res = gx.result or {}
        label = f"{e.type} {e.kwargs}"
        assert holds(e, c) == gx.success, label
        assert len(rows) == res.get("unexpected_count"), label
        assert rows == sorted(res.get("unexpected_index_list") or []), label


@pytest.mark.parametrize("mostly", [None, 0.5, 0.9, 1.0])
def test_every_type_agrees_with_gx_on_edge_cases(mostly: float | None) -> None:
    both_engines(corpus(TEXT), CASES, mostly)
    both_engines(corpus(ASCII_WORDS), ASCII_CASES, mostly)


def test_length_bounds_count_characters_of_one_to_four_bytes_at_every_edge() -> None:
    """Lengths are judged in characters while most rows are judged by their bytes alone: rows
    of 1-, 2-, 3- and 4-byte characters just inside, on and just outside each bound, strict
    or not, get GX's verdicts."""
    chars = ["a", "é", "✓", "😀"]
    text = [c * n for c in chars for n in (0, 1, 2, 3, 4, 5, 8, 9)] + ["a😀é✓"] * 4
    cases = [("expect_column_value_lengths_to_be_between",
              {"column": "s", "min_value": lo, "max_value": hi, "strict_min": smin,
               "strict_max": smax})
             for lo, hi in ((1, 8), (2, 4), (3, 3), (4, None), (None, 2), (0, 9),
                            (1.5, 7.5), (-1.5, 4.9), (2.0, 3.99))  # GX reads 1.5 as 1
             for smin in (False, True) for smax in (False, True)]
    both_engines(corpus(text), cases, None)


@pytest.mark.parametrize("rows", [0, 1], ids=["empty", "one-null-row"])
def test_empty_and_all_null_frames_agree_with_gx(rows: int) -> None:
    both_engines(corpus([None] * rows), CASES + ASCII_CASES, 0.9)
    both_engines(corpus([None] * rows), CASES + ASCII_CASES, None)


def test_the_regex_dialect_is_re2_whatever_the_batch_holds() -> None:
    """\\w is ASCII: 'café' is not all word characters, alone or next to ASCII rows (GX's
    pandas engine would say it is, through Python's re)."""
    spec = SuiteSpec(name="w", expectations=(ExpectationSpec(
        type="expect_column_values_to_match_regex", kwargs={"column": "s", "regex": r"^\w+$"}),))
    for rows in (["café"], ["café", "plain"], ["plain", "café", "naïve"]):
        (o,) = check_frame("d", pa.table({"s": rows}), spec).outcomes
        assert not o.success and o.unexpected_count == sum(not r.isascii() for r in rows)
    assert spec.model_dump()["regex_dialect"] == "re2"


def test_a_pattern_re2_cannot_run_is_refused_not_run_in_another_dialect() -> None:
    spec = SuiteSpec(name="lb", expectations=(ExpectationSpec(
        type="expect_column_values_to_not_match_regex",
        kwargs={"column": "s", "regex": r"(?<!\w)secret"}),))
    with pytest.raises(ConfigError, match="not valid RE2"):
        check_frame("x", pa.table({"s": ["a secret"]}), spec)


def test_other_types_still_run_in_gx_and_the_verdicts_combine() -> None:
    es = (ExpectationSpec(type="expect_column_values_to_not_be_null", kwargs={"column": "s"}),
          ExpectationSpec(type="expect_column_mean_to_be_between",
                          kwargs={"column": "n", "min_value": 100, "max_value": 200}),
          ExpectationSpec(type="expect_table_columns_to_match_set",
                          kwargs={"column_set": ["s", "n"], "exact_match": True}))
    result = check_frame("c", pa.table({"s": ["a", None], "n": [1.0, 2.0]}),
                         SuiteSpec(name="mixed", expectations=es))
    null, mean, cols = result.outcomes
    assert (null.success, null.unexpected_count, mean.success, cols.success) == (
        False, 1, False, True)
    assert mean.observed == 1.5  # GX's own observed value


def test_data_docs_render_from_executor_results() -> None:
    pages: list[str] = []
    spec = SuiteSpec(name="docs", expectations=(ExpectationSpec(
        type="expect_column_values_to_be_free_of_pii",
        kwargs={"column": "s", "regex_list": list(PII_PATTERNS)}),))
    check_frame("d", pa.table({"s": ["ok", "mail jane@example.org"]}), spec, docs=pages)
    (page,) = pages
    assert "<html" in page.lower() and "jane@example.org" in page


def test_data_docs_show_what_gx_observed_as_a_number(caplog) -> None:
    """GX's pandas engine observes a column's mean as a numpy scalar, whose repr under numpy
    2 its own renderer cannot read: the page lost the value, with a traceback in the log."""
    spec = SuiteSpec(name="mean", expectations=(ExpectationSpec(
        type="expect_column_mean_to_be_between",
        kwargs={"column": "n", "min_value": 0, "max_value": 5}),))
    pages: list[str] = []
    (o,) = check_frame("m", pa.table({"n": [1, 2]}), spec, docs=pages).outcomes
    assert o.success and o.observed == 1.5 and type(o.observed) is float
    assert "1.5" in pages[0] and "num_to_str" not in caplog.text


def test_one_shared_scan_per_column_gives_what_each_check_gives_alone() -> None:
    """The PII, clean-text and other forbidding patterns of a column share one regex pass;
    the counts and examples are those of each check run on its own."""
    from laas.validators.regex_screen import shared_scans

    spec = SuiteSpec(name="shared", expectations=tuple(
        ExpectationSpec(type=t, kwargs=k) for t, k in CASES))
    table = pa.Table.from_pandas(corpus(TEXT), preserve_index=False)
    checks = {i: compile_check(e) for i, e in enumerate(spec.expectations)}
    assert len(shared_scans(spec, checks, table)["s"]) == 4
    result = check_frame("t", table, spec)
    for e, o in zip(spec.expectations, result.outcomes, strict=True):
        alone = run_check(compile_check(e), table)
        rows = np.flatnonzero(alone.unexpected)
        assert o.unexpected_count == len(rows), e.type
        column = e.kwargs.get("column")
        if column and o.examples:
            want = [v if not isinstance(v, str) or len(v) <= 60 else v[:60] + "…"
                    for v in table.column(column).take(rows[:3]).to_pylist()]
            assert list(o.examples) == want, e.type


@pytest.mark.parametrize("twins", [2, 40], ids=["few-duplicates", "many-duplicates"])
def test_fixed_width_keys_unique_alone_and_pooled(twins: int) -> None:
    """A key column whose values all have one width (the 32-hex duplicate keys) is checked by
    sorting one number per row: the same rows as GX alone, and pooled, a key repeated only in
    another shard is no duplicate."""
    keys = [f"{i % (80 - twins):032x}" for i in range(80)]  # the last rows repeat the first
    keys[10] = keys[11]  # and two rows of the first shard are twins
    unique_h = [("expect_column_values_to_be_unique", {"column": "h"})]
    for part in (keys, keys[:40], keys[40:]):
        both_engines(pd.DataFrame({"h": pd.Series(part, dtype="str")}), unique_h, None)
    check = compile_check(ExpectationSpec(type=unique_h[0][0], kwargs=unique_h[0][1]))
    table = pa.table({"h": keys})
    pooled = run_check(check, table, np.repeat([0, 1], 40)).unexpected
    alone = [run_check(check, table.slice(a, 40)).unexpected for a in (0, 40)]
    assert pooled.tolist() == np.concatenate(alone).tolist()
    assert np.flatnonzero(pooled[:40]).tolist() == [10, 11]


def test_a_repeated_row_gets_the_regex_verdict_of_its_first_and_a_null_is_no_empty_text() -> None:
    """Rows repeated within a batch are screened once (the repeats the duplicate keys find):
    every check still gives what it gives alone, in one pass and batch by batch, and a null
    (which the keys read as "") never takes the verdict of an empty text or gives its own."""
    from laas.validators.gx_suite import check_in_batches

    forbid = [("expect_column_values_to_be_free_of_pii", {"regex_list": list(PII_PATTERNS)}),
              ("expect_column_values_to_be_clean_text", {"regex": CONTROL_OR_REPLACEMENT}),
              ("expect_column_values_to_not_match_regex", {"regex": "^$"})]
    spec = SuiteSpec(name="repeats", text_hash_of=("s", "t"), expectations=tuple(
        ExpectationSpec(type=t, kwargs=k | {"column": c}) for c in ("s", "t") for t, k in forbid))
    s = ["", None, "mail bob@example.org", "plain", "caf\ufffd", "", None, "plain"] * 3
    t = ["x", "x", "y", "call 415 555 0199", "z", "x", "x", "call 415 555 0199"] * 3
    for s_col in (s, [v or "" for v in s]):  # with nulls (scanned whole), and without
        table = pa.table({"s": pa.array(s_col, pa.string()), "t": t})
        alone = [int(run_check(compile_check(e), table).unexpected.sum())
                 for e in spec.expectations]
        assert alone[2] == (6 if None in s_col else 12)  # the empty texts, never a null
        one = check_frame("one", table, spec)
        batches = check_in_batches("b", [table.slice(a, 7) for a in range(0, len(t), 7)], spec)
        for result in (one, batches):
            assert [o.unexpected_count for o in result.outcomes] == alone
