"""One regex pass per text column for every expectation that forbids a pattern in it (the PII
screen and the clean-text check of a column, say): the union of their patterns finds the few
rows any of them could object to, and each expectation then looks at those rows only (the one
with the longest pattern only at those another one found: the rest hold its pattern). A scan
costs the same for one pattern as for an alternation of several, and most rows match none."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from laas.validators.arrow_exec import (
    Check,
    RowCheck,
    forbidden_pattern,
    is_text,
    mask,
    missing,
    run_check,
)
from laas.validators.spec import SuiteSpec

Job = Callable[[], dict[int, "RowCheck | None"]]


def shared_scans(spec: SuiteSpec, checks: dict[int, Check], table: pa.Table
                 ) -> dict[str, list[int]]:
    """Text column -> the expectations (two or more) that can share one scan of it."""
    by_column: dict[str, list[int]] = {}
    for i in checks:
        col = spec.expectations[i].kwargs.get("column")
        if col in table.column_names and is_text(table.schema.field(col).type) and \
                forbidden_pattern(spec.expectations[i]) is not None:
            by_column.setdefault(col, []).append(i)
    return {c: ids for c, ids in by_column.items() if len(ids) > 1}


def scan_job(spec: SuiteSpec, checks: dict[int, Check], table: pa.Table, column: str,
             ids: list[int], first: np.ndarray | None = None) -> Job:
    """`first`: per row, the first row of the table equal to it in this column (and maybe
    others), or None: a repeated row gets its first's verdict instead of a scan of its own
    (a third of the bytes of real documentation repeat within a batch)."""
    def job() -> dict[int, RowCheck | None]:
        values = table.column(column)
        union = "|".join(f"(?:{forbidden_pattern(spec.expectations[i])})" for i in ids)
        rows = _found(values, union, first if values.null_count == 0 else None)
        few = table.select([column]).take(rows)  # the checks read this column only
        considered = ~missing(values)
        # Each of these rows holds some pattern: the longest (the PII alternation, say) runs
        # only on the rows another one found; the rest are its own (no second full scan).
        last = max(ids, key=lambda i: len(forbidden_pattern(spec.expectations[i])))
        hits = {i: run_check(checks[i], few).unexpected for i in ids if i != last}
        other = np.zeros(len(rows), bool)
        for found in hits.values():
            other |= found
        hits[last] = ~other
        if other.any():
            hits[last][other] = run_check(checks[last], few.take(np.flatnonzero(other))).unexpected
        out: dict[int, RowCheck | None] = {}
        for i in ids:
            unexpected = np.zeros(table.num_rows, dtype=bool)
            unexpected[rows] = hits[i]
            out[i] = RowCheck(unexpected, considered)
        return out
    return job


def _found(values: pa.ChunkedArray, pattern: str, first: np.ndarray | None) -> np.ndarray:
    """The rows where the pattern is found, each distinct value scanned once. A column with
    nulls is scanned whole: `first` reads a null as "", which a pattern may match."""
    if first is None:
        return np.flatnonzero(mask(pc.match_substring_regex(values, pattern)))
    distinct = np.flatnonzero(first == np.arange(len(first)))
    found = mask(pc.match_substring_regex(values.take(distinct), pattern))
    return np.flatnonzero(found[np.searchsorted(distinct, first)])
