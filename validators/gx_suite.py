"""The adapter to Great Expectations 1.x: a SuiteSpec becomes a GX suite, a pandas frame is
validated in an ephemeral context, and the result is reduced to a ShardValidation."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from laas.validators.report import ExpectationOutcome, ShardValidation
from laas.validators.spec import SuiteSpec
from laas.validators.text import TEXT_HASH_COLUMN, text_hashes

_MAX_EXAMPLES = 3
_MAX_TEXT = 60


@lru_cache(maxsize=1)
def _batch_definition() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    import laas.validators.expectations  # noqa: F401 - registers the custom expectations

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = ctx.data_sources.add_pandas("laas").add_dataframe_asset(name="shard")
    return ctx, asset.add_batch_definition_whole_dataframe("whole")


_suites: dict[tuple[str, bool], list[Any]] = {}  # a spec holds dicts, so key by its hash

SHARD_COLUMN = "_laas_shard"  # which shard a row came from, when shards are validated together
# Expectations whose verdict on a row depends on that row alone, so shards can be validated
# together and the unexpected rows attributed back; uniqueness is made per-shard by adding the
# shard to its key. Anything else (table shape, aggregates, order) is validated shard by shard.
ROW_WISE = frozenset({
    "expect_column_values_to_not_be_null", "expect_column_values_to_be_null",
    "expect_column_values_to_be_in_set", "expect_column_values_to_not_be_in_set",
    "expect_column_values_to_be_between", "expect_column_value_lengths_to_be_between",
    "expect_column_value_lengths_to_equal", "expect_column_values_to_match_regex",
    "expect_column_values_to_not_match_regex", "expect_column_values_to_match_regex_list",
    "expect_column_values_to_not_match_regex_list", "expect_column_values_to_be_json_parseable",
    "expect_column_values_to_match_strftime_format",
    "expect_column_values_to_be_dateutil_parseable",
    "expect_column_values_to_be_free_of_pii", "expect_column_values_to_be_clean_text",
})
_UNIQUE = "expect_column_values_to_be_unique"


def poolable(spec: SuiteSpec) -> bool:
    return all(e.type in ROW_WISE or e.type == _UNIQUE for e in spec.expectations)


def _gx_config(e: Any, pooled: bool) -> tuple[str, dict]:
    if pooled and e.type == _UNIQUE:
        kwargs = {k: v for k, v in e.kwargs.items() if k != "column"}
        return "expect_compound_columns_to_be_unique", kwargs | {
            "column_list": [SHARD_COLUMN, e.kwargs["column"]],
            "ignore_row_if": "any_value_is_missing"}  # nulls are not duplicates, as per column
    return e.type, dict(e.kwargs)


def _domain(type_: str, kwargs: dict) -> tuple:
    return type_, kwargs.get("column"), tuple(kwargs.get("column_list", ()))


def build_suites(spec: SuiteSpec, pooled: bool = False) -> list[Any]:
    """GX keeps one expectation per (type, column) in a suite, so two of the same kind with
    different bounds (an `error` and a `warn` one, say) go into separate GX suites. Each
    expectation carries its index in the spec so results map back to it."""
    if (spec.suite_hash, pooled) in _suites:
        return _suites[spec.suite_hash, pooled]
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    ctx, _ = _batch_definition()
    layers: list[list[tuple[int, str, dict]]] = []
    for i, e in enumerate(spec.expectations):
        type_, kwargs = _gx_config(e, pooled)
        d = _domain(type_, kwargs)
        layer = next((la for la in layers if all(_domain(t, k) != d for _, t, k in la)), None)
        if layer is None:
            layers.append(layer := [])
        layer.append((i, type_, kwargs))
    suites = []
    for n, layer in enumerate(layers):
        name = f"{spec.name}-{spec.suite_hash[2:14]}-{'pooled-' if pooled else ''}{n}"
        suite = gx.ExpectationSuite(name=name)
        for i, type_, kwargs in layer:
            suite.add_expectation_configuration(
                ExpectationConfiguration(type=type_, kwargs=kwargs, meta={"laas_index": i}))
        suites.append(ctx.suites.add_or_update(suite))
    _suites[spec.suite_hash, pooled] = suites
    return suites


def _plain(v: Any) -> Any:
    if isinstance(v, str):
        return v if len(v) <= _MAX_TEXT else v[:_MAX_TEXT] + "…"
    if v is None or isinstance(v, bool | int | float):
        return v
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    if hasattr(v, "item"):  # numpy scalar
        return _plain(v.item())
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    return _plain(str(v))


def _with_text_hash(df: pd.DataFrame, spec: SuiteSpec) -> pd.DataFrame:
    if not spec.text_hash_of or TEXT_HASH_COLUMN in df:  # the caller may have it already
        return df
    return df.assign(**{TEXT_HASH_COLUMN: text_hashes([df[c] for c in spec.text_hash_of])})


def _run(df: pd.DataFrame, suites: list[Any], result_format: Any,
         docs: list[str] | None) -> dict[int, Any]:
    """Each expectation's GX result, by its index in the spec."""
    _, batch_def = _batch_definition()
    batch = batch_def.get_batch(batch_parameters={"dataframe": df})
    by_index = {}
    for suite in suites:
        result = batch.validate(suite, result_format=result_format)
        for r in result.results:
            by_index[r.expectation_config.meta["laas_index"]] = r
        if docs is not None:
            docs.append(render_docs(result))
    return by_index


def _outcome(e: Any, success: bool, count: int | None, examples: list,
             observed: Any = None) -> ExpectationOutcome:
    return ExpectationOutcome(
        type=e.type,
        column=e.kwargs.get("column") or ",".join(e.kwargs.get("column_list", [])) or None,
        severity=e.severity, success=success, unexpected_count=count,
        examples=tuple(_plain(x) for x in examples[:_MAX_EXAMPLES]), observed=_plain(observed))


def _shard_result(key: str, outcomes: list[ExpectationOutcome]) -> ShardValidation:
    success = all(o.success for o in outcomes if o.severity == "error")
    return ShardValidation(key=key, success=success, outcomes=tuple(outcomes))


def validate_frame(key: str, df: pd.DataFrame, spec: SuiteSpec,
                   docs: list[str] | None = None) -> ShardValidation:
    """Validate one frame; with `docs`, append the GX Data Docs HTML page of each result."""
    by_index = _run(_with_text_hash(df, spec), build_suites(spec), "SUMMARY", docs)
    outcomes = []
    for i, e in enumerate(spec.expectations):
        r = by_index[i]
        res = r.result or {}
        outcomes.append(_outcome(e, bool(r.success), res.get("unexpected_count"),
                                 res.get("partial_unexpected_list") or [],
                                 res.get("observed_value")))
    return _shard_result(key, outcomes)


def validate_frames(parts: list[tuple[str, pd.DataFrame]], spec: SuiteSpec,
                    docs: list[str] | None = None) -> list[ShardValidation]:
    """Validate several small shards in one GX run (a run costs ~0.15 s whatever its size) and
    give each shard the result it would have had on its own."""
    if len(parts) < 2 or not poolable(spec):  # nothing to pool: no concat
        return [validate_frame(k, df, spec, docs) for k, df in parts]
    frame = pd.concat([df for _, df in parts], ignore_index=True)
    return validate_pooled([k for k, _ in parts], [len(df) for _, df in parts], frame, spec,
                           docs)


def validate_pooled(keys: list[str], lengths: list[int], frame: pd.DataFrame, spec: SuiteSpec,
                    docs: list[str] | None = None) -> list[ShardValidation]:
    """validate_frames over shards already concatenated (`lengths` rows each, in order): the
    unexpected rows are traced back to their shard, and `mostly` is judged per shard. Every
    per-shard figure comes from one vectorised pass, not one pandas call per shard. A single
    shard, or a suite that cannot be pooled, is validated shard by shard."""
    if len(keys) < 2 or not poolable(spec):
        starts = np.cumsum([0, *lengths[:-1]])
        return [validate_frame(k, frame.iloc[a:a + m].reset_index(drop=True), spec, docs)
                for k, a, m in zip(keys, starts, lengths, strict=True)]
    frame = _with_text_hash(frame, spec)
    frame[SHARD_COLUMN] = np.repeat(np.arange(len(keys)), lengths)
    by_index = _run(frame, build_suites(spec, pooled=True),
                    {"result_format": "COMPLETE", "unexpected_index_column_names": [SHARD_COLUMN]},
                    docs)
    hits: dict[int, dict[int, list[Any]]] = {}  # expectation -> shard -> unexpected values
    for i, e in enumerate(spec.expectations):
        res = by_index[i].result or {}
        per_shard = hits[i] = {}
        for where, value in zip(res.get("unexpected_index_list") or [],
                                res.get("unexpected_list") or [], strict=True):
            if isinstance(value, dict):  # the compound key of a pooled uniqueness check
                value = value[e.kwargs["column"]]
            per_shard.setdefault(int(where[SHARD_COLUMN]), []).append(value)
    columns = sorted({e.kwargs["column"] for e in spec.expectations})
    non_null = frame.groupby(SHARD_COLUMN)[columns].count().reindex(
        range(len(keys)), fill_value=0)
    non_null = {c: non_null[c].to_numpy() for c in columns}
    results = []
    for n, key in enumerate(keys):
        outcomes = []
        for i, e in enumerate(spec.expectations):
            values = hits[i].get(n, [])
            col = e.kwargs["column"]
            counted = lengths[n] if e.type == "expect_column_values_to_not_be_null" \
                else int(non_null[col][n])
            mostly = e.kwargs.get("mostly", 1.0)
            ok = not values if mostly >= 1 else \
                counted == 0 or (counted - len(values)) / counted >= mostly
            outcomes.append(_outcome(e, ok, len(values), values))
        results.append(_shard_result(key, outcomes))
    return results


def render_docs(result: Any) -> str:
    """The Data Docs page GX renders for one validation result."""
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView

    return DefaultJinjaPageView().render(ValidationResultsPageRenderer().render(result))


def merge(parts: list[ShardValidation]) -> ShardValidation:
    """One shard's result from its batches: counts add up, examples come from the first
    batches that have them, an expectation holds only if it held in every batch."""
    if len(parts) == 1:
        return parts[0]
    outcomes = []
    for per_batch in zip(*(p.outcomes for p in parts), strict=True):
        first = per_batch[0]
        counts = [o.unexpected_count for o in per_batch if o.unexpected_count is not None]
        examples = [x for o in per_batch for x in o.examples][:_MAX_EXAMPLES]
        outcomes.append(first.model_copy(update={
            "success": all(o.success for o in per_batch),
            "unexpected_count": sum(counts) if counts else None,
            "examples": tuple(examples),
        }))
    return _shard_result(parts[0].key, outcomes)
