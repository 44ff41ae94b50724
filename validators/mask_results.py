"""From the row masks of arrow_exec to what GX itself would report: a shard's counts and first
unexpected values, the verdict under `mostly`, and real GX result objects for Data Docs."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from laas.validators.arrow_exec import RowCheck
from laas.validators.spec import ExpectationSpec, SuiteSpec

PARTIAL = 20  # GX's partial_unexpected_list length under SUMMARY
_SHOWN = 300  # characters of a value shown on a Data Docs page (a row may be a 30 kB text)


def _shown(v: Any) -> Any:
    return v[:_SHOWN] + "…" if isinstance(v, str) and len(v) > _SHOWN else v


class Counts(NamedTuple):
    rows: int
    considered: int
    unexpected: int
    examples: list  # the first unexpected values, in row order
    positions: list[int] = []  # and their rows in the batch


class Tally:
    """One expectation's masks over a (pooled) table, counted over any row range (each shard
    of a pool is counted once: counting its own rows costs less than prefix sums of all)."""

    def __init__(self, e: ExpectationSpec, check: RowCheck, table: pa.Table):
        self.e, self.check, self.table = e, check, table

    def counts(self, a: int, b: int, examples: int) -> Counts:
        bad = self.check.unexpected[a:b]
        where = np.flatnonzero(bad)[:examples] + a if examples > 0 else np.zeros(0, np.int64)
        return Counts(b - a, int(np.count_nonzero(self.check.considered[a:b])),
                      int(np.count_nonzero(bad)), self._values(where), (where - a).tolist())

    def _values(self, rows: np.ndarray) -> list:
        if not len(rows):
            return []
        if "column_list" in self.e.kwargs:  # GX reports a compound key as {column: value}
            return self.table.select(self.e.kwargs["column_list"]).take(rows).to_pylist()
        values = self.table.column(self.e.kwargs["column"]).take(rows)
        if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            # no more of a value than is ever shown (a row may be a 30 kB text): one character
            # past _SHOWN still tells _shown, and outcomes.plain, that it was cut
            values = pc.utf8_slice_codeunits(values, 0, _SHOWN + 1)
        return values.to_pylist()


def holds(e: ExpectationSpec, c: Counts) -> bool:
    """GX's verdict: vacuously true with nothing to count, else the expected share of the rows
    counted must reach `mostly` (computed as GX computes it, in floats)."""
    if c.rows == 0 or c.considered == 0:
        return True
    return (float(c.considered) - float(c.unexpected)) / float(c.considered) >= \
        e.kwargs.get("mostly", 1.0)


def gx_result(e: ExpectationSpec, index: int, c: Counts) -> Any:
    """The ExpectationValidationResult GX would have built, under result_format SUMMARY."""
    from great_expectations.core import ExpectationValidationResult
    from great_expectations.expectations.expectation import _format_map_output
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    import laas.validators.expectations  # noqa: F401 - GX must know the custom types

    every_row = e.type in ("expect_column_values_to_not_be_null",
                           "expect_column_values_to_be_null")
    ok = holds(e, c)
    # GX's own formatter, so the result dict has exactly GX's keys and percentages.
    result = _format_map_output(
        result_format={"result_format": "SUMMARY", "partial_unexpected_count": PARTIAL,
                       "include_unexpected_rows": False},
        success=ok, element_count=c.rows, nonnull_count=None if every_row else c.considered,
        unexpected_count=c.unexpected, unexpected_list=[_shown(v) for v in c.examples],
        unexpected_index_list=c.positions or None)["result"]
    config = ExpectationConfiguration(type=e.type, kwargs=dict(e.kwargs),
                                      meta={"laas_index": index})
    return ExpectationValidationResult(success=ok, expectation_config=config, result=result)


def suite_result(spec: SuiteSpec, results: list[Any]) -> Any:
    """The ExpectationSuiteValidationResult of the expectations the executor ran."""
    from great_expectations.core import ExpectationSuiteValidationResult

    done = sum(bool(r.success) for r in results)
    return ExpectationSuiteValidationResult(
        success=done == len(results), results=results,
        suite_name=f"{spec.name}-{spec.suite_hash[2:14]}-arrow",
        statistics={"evaluated_expectations": len(results), "successful_expectations": done,
                    "unsuccessful_expectations": len(results) - done,
                    "success_percent": 100.0 * done / len(results) if results else None},
        meta={"engine": "laas arrow executor (RE2)"})


class Page:
    """The Data Docs page of a shard validated in batches, one page for the whole shard:
    each expectation's counts summed over the batches so far and its first unexpected values
    (and their rows in the shard), in shard order."""

    def __init__(self) -> None:
        self.counts: dict[int, Counts] = {}
        self.rows = 0

    def add(self, tallies: dict[int, Tally], rows: int) -> None:
        for i, t in tallies.items():
            old = self.counts.get(i, Counts(0, 0, 0, [], []))
            c = t.counts(0, rows, PARTIAL - len(old.examples))  # values only while needed
            self.counts[i] = Counts(old.rows + c.rows, old.considered + c.considered,
                                    old.unexpected + c.unexpected, old.examples + c.examples,
                                    old.positions + [p + self.rows for p in c.positions])
        self.rows += rows

    def results(self, spec: SuiteSpec) -> list[Any]:
        return [gx_result(spec.expectations[i], i, c) for i, c in self.counts.items()]
