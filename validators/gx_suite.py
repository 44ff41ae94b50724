"""The adapter to Great Expectations 1.x: a SuiteSpec becomes a GX suite, a pandas frame is
validated in an ephemeral context, and the result is reduced to a ShardValidation."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import pandas as pd

from laas.validators.report import ExpectationOutcome, ShardValidation
from laas.validators.spec import SuiteSpec
from laas.validators.text import TEXT_HASH_COLUMN, text_hash

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


_suites: dict[str, list[Any]] = {}  # by suite hash: a spec holds dicts, so it is not hashable


def _domain(e: Any) -> tuple:
    return e.type, e.kwargs.get("column"), tuple(e.kwargs.get("column_list", ()))


def build_suites(spec: SuiteSpec) -> list[Any]:
    """GX keeps one expectation per (type, column) in a suite, so two of the same kind with
    different bounds (an `error` and a `warn` one, say) go into separate GX suites. Each
    expectation carries its index in the spec so results map back to it."""
    if spec.suite_hash in _suites:
        return _suites[spec.suite_hash]
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    ctx, _ = _batch_definition()
    layers: list[list[tuple[int, Any]]] = []
    for i, e in enumerate(spec.expectations):
        layer = next((la for la in layers if all(_domain(x) != _domain(e) for _, x in la)), None)
        if layer is None:
            layers.append(layer := [])
        layer.append((i, e))
    suites = []
    for n, layer in enumerate(layers):
        suite = gx.ExpectationSuite(name=f"{spec.name}-{spec.suite_hash[2:14]}-{n}")
        for i, e in layer:
            suite.add_expectation_configuration(
                ExpectationConfiguration(type=e.type, kwargs=e.kwargs, meta={"laas_index": i}))
        suites.append(ctx.suites.add_or_update(suite))
    _suites[spec.suite_hash] = suites
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


def validate_frame(key: str, df: pd.DataFrame, spec: SuiteSpec,
                   docs: list[str] | None = None) -> ShardValidation:
    """Validate one frame; with `docs`, append the GX Data Docs HTML page of each result."""
    _, batch_def = _batch_definition()
    if spec.text_hash_of:
        df = df.assign(**{TEXT_HASH_COLUMN: [
            text_hash(list(row)) for row in zip(*(df[c] for c in spec.text_hash_of), strict=True)
        ]})
    batch = batch_def.get_batch(batch_parameters={"dataframe": df})
    by_index = {}
    for suite in build_suites(spec):
        result = batch.validate(suite, result_format="SUMMARY")
        for r in result.results:
            by_index[r.expectation_config.meta["laas_index"]] = r
        if docs is not None:
            docs.append(render_docs(result))
    outcomes = []
    for i, e in enumerate(spec.expectations):
        r = by_index[i]
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
    success = all(o.success for o in outcomes if o.severity == "error")
    return ShardValidation(key=parts[0].key, success=success, outcomes=tuple(outcomes))
