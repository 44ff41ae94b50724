"""Which rows `on_failure: drop_rows` removes, and which failures still set a shard aside.

A row is dropped when it fails a strict (`mostly` 1, severity `error`) row-wise expectation
that the Arrow executor runs, or when it repeats, later in the dataset, the text of an
earlier row (the suite's strict uniqueness check on the text-hash column: the first is kept). Any
other failed `error` expectation (table-level ones such as the column set or the row count,
one with `mostly` below 1, one that only GX's engine runs) judges the shard as a whole."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from laas.validators.arrow_exec import compile_check, run_check
from laas.validators.gx_engine import ROW_WISE
from laas.validators.spec import ExpectationSpec, SuiteSpec
from laas.validators.text import TEXT_HASH_COLUMN


def label(type_: str, column: str | None) -> str:
    """How an expectation is named in a manifest's per-shard `dropped` counts."""
    return f"{type_}({column or ''})"


def is_dedupe(e: ExpectationSpec) -> bool:
    """The suite's strict uniqueness check on the text-hash column: its later copies are
    dropped. One with `mostly` below 1 (`max_duplicate_rate` above 0: the suite tolerates
    duplicates) judges its shard whole, as any such expectation, and drops no row."""
    return e.type == "expect_column_values_to_be_unique" and \
        e.kwargs.get("column") == TEXT_HASH_COLUMN and e.severity == "error" and \
        e.kwargs.get("mostly", 1.0) >= 1


def droppable(spec: SuiteSpec) -> dict[str, ExpectationSpec]:
    """The expectations whose failing rows are dropped, by label."""
    out = {}
    for e in spec.expectations:
        strict = e.severity == "error" and e.kwargs.get("mostly", 1.0) >= 1
        if is_dedupe(e) or (strict and e.type in ROW_WISE and compile_check(e) is not None):
            out[label(e.type, e.kwargs.get("column"))] = e
    return out


def whole_shard_problem(validation: dict[str, Any] | None, spec: SuiteSpec) -> str | None:
    """A failed `error` expectation that rows cannot be dropped for, if any (one line)."""
    rows_can = droppable(spec)
    for o in (validation or {}).get("outcomes", []):
        if not o["success"] and o["severity"] == "error" \
                and label(o["type"], o["column"]) not in rows_can:
            return f"failed expectations: {o['type']}({o['column'] or ''}) " \
                   f"{o['unexpected_count'] or 0} unexpected"
    return None


def set_aside_anyway(validation: dict[str, Any] | None, rows: int | None, spec: SuiteSpec,
                     max_dropped: float) -> bool:
    """Whether a shard goes aside whatever rows repeat other shards: a whole-shard failure,
    or more of its rows failing one droppable expectation than max_dropped allows (a row
    count from the same masks the filter drops by, so a lower bound of what it drops). Such
    a shard keeps no row, so none of its rows may be the kept first of a duplicate: a later
    shard's copy would be dropped for a row the dataset does not hold."""
    if whole_shard_problem(validation, spec) is not None:
        return True
    rows_can = droppable(spec)
    worst = max((o["unexpected_count"] or 0 for o in (validation or {}).get("outcomes", [])
                 if not o["success"] and (e := rows_can.get(label(o["type"], o["column"])))
                 is not None and not is_dedupe(e)), default=0)
    return bool(rows) and (worst == rows or worst / rows > max_dropped)


def failing_rows(table: pa.Table, spec: SuiteSpec) -> dict[str, np.ndarray]:
    """Per droppable expectation (dedupe aside), the rows of `table` that fail it."""
    out = {}
    for name, e in droppable(spec).items():
        if is_dedupe(e):
            continue
        check = run_check(compile_check(e), table)
        if check is not None:  # a column type the executor leaves to GX: judged whole
            out[name] = check.unexpected
    return out


def dedupe_label(spec: SuiteSpec) -> str | None:
    e = next((e for e in spec.expectations if is_dedupe(e)), None)
    return label(e.type, TEXT_HASH_COLUMN) if e is not None else None
