"""Great Expectations' own engine, for the expectations the Arrow executor does not run:
a SuiteSpec (or the part of it GX must run) becomes GX suites, a pandas frame is validated in
an ephemeral context, and each shard gets GX's verdict, count and first unexpected values."""

from __future__ import annotations

import zlib
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from laas.validators.outcomes import EXAMPLES
from laas.validators.spec import SuiteSpec

ROW_COLUMN = "_laas_row"  # a row's position in the pooled frame: how GX's answers map back


class GxOutcome(NamedTuple):
    success: bool
    unexpected_count: int | None
    examples: list
    observed: Any = None


@lru_cache(maxsize=1)
def _batch_definition() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    import laas.validators.expectations  # noqa: F401 - registers the custom expectations

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = ctx.data_sources.add_pandas("laas").add_dataframe_asset(name="shard")
    return ctx, asset.add_batch_definition_whole_dataframe("whole")


_suites: dict[tuple, list[Any]] = {}  # a spec holds dicts, so key by its hash

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


def build_suites(spec: SuiteSpec, pooled: bool = False,
                 only: tuple[int, ...] | None = None) -> list[Any]:
    """GX keeps one expectation per (type, column) in a suite, so two of the same kind with
    different bounds (an `error` and a `warn` one, say) go into separate GX suites. Each
    expectation carries its index in the spec so results map back to it. `only`: the indices
    GX must run (the rest ran in the Arrow executor)."""
    cache = (spec.suite_hash, pooled, only)
    if cache in _suites:
        return _suites[cache]
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    ctx, _ = _batch_definition()
    layers: list[list[tuple[int, str, dict]]] = []
    for i, e in enumerate(spec.expectations):
        if only is not None and i not in only:
            continue
        type_, kwargs = _gx_config(e, pooled)
        d = _domain(type_, kwargs)
        layer = next((la for la in layers if all(_domain(t, k) != d for _, t, k in la)), None)
        if layer is None:
            layers.append(layer := [])
        layer.append((i, type_, kwargs))
    suites = []
    for n, layer in enumerate(layers):
        part = "" if only is None else f"gx{zlib.crc32(repr(only).encode()):08x}-"
        name = f"{spec.name}-{spec.suite_hash[2:14]}-{'pooled-' if pooled else ''}{part}{n}"
        suite = gx.ExpectationSuite(name=name)
        for i, type_, kwargs in layer:
            suite.add_expectation_configuration(
                ExpectationConfiguration(type=type_, kwargs=kwargs, meta={"laas_index": i}))
        suites.append(ctx.suites.add_or_update(suite))
    _suites[cache] = suites
    return suites


def _run(df: pd.DataFrame, suites: list[Any], result_format: Any,
         docs: list[str] | None) -> dict[int, Any]:
    """Each expectation's GX result, by its index in the spec."""
    _, batch_def = _batch_definition()
    batch = batch_def.get_batch(batch_parameters={"dataframe": df})
    by_index = {}
    for suite in suites:
        result = batch.validate(suite, result_format=result_format)
        for r in result.results:
            if r.result:  # numpy 2's repr of a scalar breaks GX's renderer (num_to_str)
                r.result = _plain(r.result)
            by_index[r.expectation_config.meta["laas_index"]] = r
        if docs is not None:
            docs.append(render_docs(result))
    return by_index


def _plain(v: Any) -> Any:
    """v with numpy scalars (GX's pandas engine observes np.float64 means, say) as Python's."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return type(v)(_plain(x) for x in v)
    return v


def run_alone(df: pd.DataFrame, spec: SuiteSpec, only: tuple[int, ...],
              docs: list[str] | None) -> dict[int, GxOutcome]:
    """The expectations `only` on one shard's frame."""
    by_index = _run(df, build_suites(spec, only=only), "SUMMARY", docs)
    out = {}
    for i in only:
        res = by_index[i].result or {}
        out[i] = GxOutcome(bool(by_index[i].success), res.get("unexpected_count"),
                           (res.get("partial_unexpected_list") or [])[:EXAMPLES],
                           res.get("observed_value"))
    return out


def run_pooled(lengths: list[int], frame: pd.DataFrame, spec: SuiteSpec, only: tuple[int, ...],
               docs: list[str] | None) -> list[dict[int, GxOutcome]]:
    """Row-wise expectations `only` over shards concatenated in one frame (`lengths` rows
    each), in one GX run, each shard judged on its own rows. Unexpected rows are located by
    GX's unexpected_index_list alone (GX caps unexpected_list at 200 values but not the index
    list), and their values taken from the frame, so any number of them is fine."""
    shard = np.repeat(np.arange(len(lengths)), lengths)
    frame = frame.assign(**{SHARD_COLUMN: shard, ROW_COLUMN: np.arange(len(frame))})
    by_index = _run(frame, build_suites(spec, pooled=True, only=only),
                    {"result_format": "COMPLETE",
                     "unexpected_index_column_names": [SHARD_COLUMN, ROW_COLUMN]}, docs)
    out: list[dict[int, GxOutcome]] = [{} for _ in lengths]
    for i in only:
        e = spec.expectations[i]
        col = e.kwargs.get("column")
        raised = (by_index[i].exception_info or {}).get("raised_exception")
        if raised or col not in frame:  # GX could not run it (a missing column, say): failed
            for shard in out:
                shard[i] = GxOutcome(False, None, [])
            continue
        rows = np.array(sorted(int(w[ROW_COLUMN]) for w in
                               (by_index[i].result or {}).get("unexpected_index_list") or []),
                        dtype=np.int64)
        counted = np.ones(len(frame), bool) if e.type == "expect_column_values_to_not_be_null" \
            else frame[col].notna().to_numpy()
        bad = np.zeros(len(frame), bool)
        bad[rows] = True
        for n, (a, b) in enumerate(zip(np.cumsum([0, *lengths[:-1]]), np.cumsum(lengths),
                                       strict=True)):
            k, m = int(bad[a:b].sum()), int(counted[a:b].sum())
            examples = frame[col].iloc[rows[(rows >= a) & (rows < b)][:EXAMPLES]].tolist()
            ok = m == 0 or (m - k) / m >= e.kwargs.get("mostly", 1.0)
            out[n][i] = GxOutcome(ok, k, examples)
    return out


@lru_cache(maxsize=1)
def _page_view() -> Any:
    """One view for every page: its Jinja environment caches the compiled templates, which a
    fresh view compiles again (~0.1 s of a ~0.12 s page)."""
    from great_expectations.render.view import DefaultJinjaPageView

    return DefaultJinjaPageView()


def render_docs(result: Any) -> str:
    """The Data Docs page GX renders for one validation result."""
    from great_expectations.render.renderer import ValidationResultsPageRenderer

    return _page_view().render(ValidationResultsPageRenderer().render(result))
