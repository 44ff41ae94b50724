"""Expectation suites as code, for the kinds of data training teams ingest. A spec names one
with `suite: {builtin: NAME, params: {...}}`; the result is an ordinary SuiteSpec, hashed and
committed like a hand-written one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from laas.validators.report import ExpectationOutcome
from laas.validators.spec import ExpectationSpec, SuiteSpec
from laas.validators.text import CONTROL_OR_REPLACEMENT, PII_PATTERNS, TEXT_HASH_COLUMN


def _e(type_: str, severity: str = "error", **kwargs: Any) -> ExpectationSpec:
    return ExpectationSpec(type=type_, kwargs=kwargs, severity=severity)


def instruction_corpus(
    *,
    name: str = "instruction-corpus",
    required: Sequence[str] = ("prompt", "response", "source", "license", "lang"),
    text_columns: Sequence[str] = ("prompt", "response"),
    min_chars: int = 1,
    max_chars: int = 32_000,
    langs: Sequence[str] | None = None,
    licenses: Sequence[str] | None = None,
    max_duplicate_rate: float = 0.0,
    pii: str = "error",
    clean_text: str = "warn",
) -> SuiteSpec:
    """Text / instruction corpora: required fields present and non-empty, length bounds,
    allowed languages and licenses, exact-duplicate rate by normalized text, a PII screen and
    well-formed text. `pii` and `clean_text` are severities ("error", "warn") or "off"."""
    es = [_e("expect_column_values_to_not_be_null", column=c) for c in required]
    es += [_e("expect_column_value_lengths_to_be_between", column=c, min_value=min_chars,
              max_value=max_chars) for c in text_columns]
    if langs:
        es.append(_e("expect_column_values_to_be_in_set", column="lang", value_set=list(langs)))
    if licenses:
        es.append(_e("expect_column_values_to_be_in_set", column="license",
                     value_set=list(licenses)))
    es.append(_e("expect_column_values_to_be_unique", column=TEXT_HASH_COLUMN,
                 mostly=1.0 - max_duplicate_rate))
    # The patterns go into the kwargs so the suite hash commits to exactly what was screened.
    if pii != "off":
        es += [_e("expect_column_values_to_be_free_of_pii", pii, column=c,
                  regex_list=list(PII_PATTERNS)) for c in text_columns]
    if clean_text != "off":
        es += [_e("expect_column_values_to_be_clean_text", clean_text, column=c,
                  regex=CONTROL_OR_REPLACEMENT) for c in text_columns]
    return SuiteSpec(name=name, expectations=tuple(es), text_hash_of=tuple(text_columns),
                     max_dataset_duplicate_rate=max_duplicate_rate)


def text_corpus(*, name: str = "text-corpus", column: str = "text", min_chars: int = 1,
                max_chars: int = 1_000_000, max_duplicate_rate: float = 0.0, pii: str = "error",
                clean_text: str = "warn") -> SuiteSpec:
    """Plain text (`format: text`: documents, paragraphs or lines in one column): the checks of
    instruction_corpus on that column (present, lengths, duplicates, PII, clean text)."""
    return instruction_corpus(name=name, required=(column,), text_columns=(column,),
                              min_chars=min_chars, max_chars=max_chars,
                              max_duplicate_rate=max_duplicate_rate, pii=pii,
                              clean_text=clean_text)


def tabular_features(
    *,
    name: str = "tabular-features",
    columns: Sequence[str],
    key_columns: Sequence[str] = (),
    max_null_rate: dict[str, float] | None = None,
    ranges: dict[str, Sequence[float | None]] | None = None,
) -> SuiteSpec:
    """Tabular features: the column set, null rates, value ranges and unique keys."""
    es = [_e("expect_table_columns_to_match_set", column_set=list(columns), exact_match=True)]
    for col, rate in (max_null_rate or {}).items():
        es.append(_e("expect_column_values_to_not_be_null", column=col, mostly=1.0 - rate))
    for col, (lo, hi) in (ranges or {}).items():
        es.append(_e("expect_column_values_to_be_between", column=col, min_value=lo,
                     max_value=hi))
    if len(key_columns) == 1:
        es.append(_e("expect_column_values_to_be_unique", column=key_columns[0]))
    elif key_columns:
        es.append(_e("expect_compound_columns_to_be_unique", column_list=list(key_columns)))
    return SuiteSpec(name=name, expectations=tuple(es))


def duplicate_rate_outcome(max_rate: float, rows: int, distinct: int) -> ExpectationOutcome:
    """The dataset-wide duplicate check: duplicates are rows beyond the first of each text."""
    duplicates = rows - distinct
    rate = duplicates / rows if rows else 0.0
    return ExpectationOutcome(
        type="laas_dataset_duplicate_rate_at_most", column=None, severity="error",
        success=rate <= max_rate, unexpected_count=duplicates,
        observed={"rate": round(rate, 6), "max_rate": max_rate, "rows": rows},
    )


def dropped_rows_outcome(max_rate: float, entries: list,
                         unreadable: dict[str, int] | None = None) -> ExpectationOutcome:
    """The dataset-wide bound of drop_rows: rows dropped from the shards kept, over the rows
    they had (shards set aside whole are not counted: they are not in the dataset), the
    source records left out as unreadable (by shard key) counted as dropped rows too."""
    unreadable = unreadable or {}
    kept = [e for e in entries if e.status == "ok"]
    read = sum(unreadable.get(e.key, 0) for e in kept)
    rows_in = read + sum(e.rows_in if e.rows_in is not None else e.rows for e in kept)
    dropped = read + sum(e.rows_in - e.rows for e in kept if e.rows_in is not None)
    rate = dropped / rows_in if rows_in else 0.0
    return ExpectationOutcome(
        type="laas_dataset_dropped_rows_at_most", column=None, severity="error",
        success=rate <= max_rate, unexpected_count=dropped,
        observed={"rate": round(rate, 6), "max_rate": max_rate, "rows": rows_in},
    )


BUILTIN: dict[str, Callable[..., SuiteSpec]] = {
    "instruction_corpus": instruction_corpus,
    "tabular_features": tabular_features,
    "text_corpus": text_corpus,
}
