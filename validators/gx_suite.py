"""The adapter to Great Expectations 1.x: a SuiteSpec becomes a GX suite, a pandas frame is
validated in an ephemeral context, and the result is reduced to a ShardValidation."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import pandas as pd

from laas.validators.report import ExpectationOutcome, ShardValidation
from laas.validators.spec import SuiteSpec

_MAX_EXAMPLES = 3
_MAX_TEXT = 120


@lru_cache(maxsize=1)
def _batch_definition() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = ctx.data_sources.add_pandas("laas").add_dataframe_asset(name="shard")
    return ctx, asset.add_batch_definition_whole_dataframe("whole")


@lru_cache(maxsize=16)
def build_suite(spec: SuiteSpec) -> Any:
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    ctx, _ = _batch_definition()
    suite = gx.ExpectationSuite(name=f"{spec.name}-{spec.suite_hash[2:14]}")
    for e in spec.expectations:
        suite.add_expectation_configuration(ExpectationConfiguration(type=e.type, kwargs=e.kwargs))
    return ctx.suites.add_or_update(suite)


def _plain(v: Any) -> Any:
    if isinstance(v, str):
        return v if len(v) <= _MAX_TEXT else v[:_MAX_TEXT] + "…"
    if v is None or isinstance(v, bool | int | float):
        return v
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    if hasattr(v, "item"):  # numpy scalar
        return _plain(v.item())
    return str(v)


def validate_frame(key: str, df: pd.DataFrame, spec: SuiteSpec) -> ShardValidation:
    _, batch_def = _batch_definition()
    result = batch_def.get_batch(batch_parameters={"dataframe": df}).validate(
        build_suite(spec), result_format="SUMMARY"
    )
    outcomes = []
    # GX keeps the suite's order; pair each result with the spec entry it came from.
    for e, r in zip(spec.expectations, result.results, strict=True):
        res = r.result or {}
        outcomes.append(ExpectationOutcome(
            type=e.type,
            column=e.kwargs.get("column") or ",".join(e.kwargs.get("column_list", [])) or None,
            severity=e.severity,
            success=bool(r.success),
            unexpected_count=res.get("unexpected_count"),
            examples=tuple(_plain(x) for x in (res.get("partial_unexpected_list") or [])
                           [:_MAX_EXAMPLES]),
            observed=_plain(res.get("observed_value")),
        ))
    success = all(o.success for o in outcomes if o.severity == "error")
    return ShardValidation(key=key, success=success, outcomes=tuple(outcomes))
