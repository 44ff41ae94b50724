"""A validated stage's per-shard results, read from a report of any format: the one accessor
every reader (gate, Croissant card, reuse, artifacts, logs) goes through.

Report formats (the report is the validated manifest's `validation`; its keccak256 is the
checkpoint's result hash, so a format is never changed, only added):
- laas-manifest-v1: each shard's results sit in its manifest entry (`ShardEntry.validation`).
- v2-v4 (no `format` in the report): `shards` lists each shard's results whole,
  `{"key", "success", "outcomes": [outcome, ...]}`.
- laas-report-v2 (laas-manifest-v5): `outcomes` lists each distinct outcome list once, in
  first-seen order over the shards (sorted by key), and each of `shards` names its list by
  index, `{"key", "success", "outcome_list": n}`. Most shards of a dataset meet every
  expectation and have the same list (~2.4 KB of JSON each for the instruction suite): a
  report of 100,000 shards is a few MB instead of ~240 MB.
Pure: no I/O."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from laas.anchors.core.shard_columns import column

REPORT_FORMAT = "laas-report-v2"  # what a laas-manifest-v5 validated report is
_REF = "outcome_list"


def compact(head: dict[str, Any], results: Iterable[dict[str, Any] | None]) -> dict[str, Any]:
    """The laas-report-v2 report of `head` (a report's fields besides its shards) and the
    shards' results (ShardValidation dumps, in key order; None: no result). Lists are equal
    when their canonical JSON is: what the report's hash would tell apart is kept apart."""
    lists: list[Any] = []
    by_text: dict[str, int] = {}
    by_ids: dict[tuple[int, ...], int] = {}  # the same outcome objects: no need to encode
    held = []  # keeps the lists by_ids names alive, so no id is reused meanwhile
    shards = []
    for r in results:
        if r is None:
            continue
        outcomes = r["outcomes"]
        ids = tuple(map(id, outcomes))
        n = by_ids.get(ids)
        if n is None:
            text = json.dumps(outcomes, sort_keys=True, separators=(",", ":"),
                              ensure_ascii=False)
            n = by_ids[ids] = by_text.setdefault(text, len(lists))
            held.append(outcomes)
            if n == len(lists):
                lists.append(outcomes)
        shards.append({"key": r["key"], "success": r["success"], _REF: n})
    return {**head, "format": REPORT_FORMAT, "outcomes": lists, "shards": shards}


def shard_results(report: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Each shard's results, `{"key", "success", "outcomes": [...]}`, from a report of any
    format (v5's lists shared, not copied: read them, never change them)."""
    if not report:
        return []
    shards = [s for s in report.get("shards", ()) if isinstance(s, dict)]
    if report.get("format") != REPORT_FORMAT:
        return shards
    lists = report["outcomes"]
    return [{"key": s["key"], "success": s["success"], "outcomes": lists[s[_REF]]}
            for s in shards]


def results_of(m: Any) -> dict[str, dict[str, Any]]:
    """A validated manifest's results by shard key, whatever its version (v1's from its
    entries)."""
    # by column: a parked manifest makes no entry (v2 and later carry none of these)
    out = {k: v for k, v in zip(column(m.shards, "key"), column(m.shards, "validation"),
                                strict=True) if v is not None}
    return out | {r["key"]: r for r in shard_results(m.validation)}


def failed_results(m: Any) -> list[tuple[str, list[dict[str, Any]]]]:
    """(shard key, its outcomes) of each shard with a failed outcome, in key order: an
    outcome list shared by many shards (laas-report-v2) is looked through once."""
    failing: dict[int, bool] = {}
    out = []
    for key, r in results_of(m).items():
        outcomes = r.get("outcomes", ())
        bad = failing.get(id(outcomes))
        if bad is None:
            bad = failing[id(outcomes)] = any(not o["success"] for o in outcomes)
        if bad:
            out.append((key, outcomes))
    return sorted(out, key=lambda pair: pair[0])


def outcomes_of(m: Any) -> list[tuple[str, dict[str, Any]]]:
    """(shard key, outcome) for every outcome of every shard of a validated manifest."""
    return [(k, o) for k, r in results_of(m).items() for o in r.get("outcomes", ())]


def report_problem(report: dict[str, Any] | None, compact_format: bool) -> str | None:
    """Why `report` is not one a manifest of its version may carry (`compact_format`: a
    laas-manifest-v5), if it is not: checked when a manifest is read, so no reader meets a
    list index out of range or a format it would misread."""
    if report is None:
        return None
    fmt = report.get("format")
    if not compact_format:
        return None if fmt is None else (
            f"a validation report of format {fmt!r} needs a laas-manifest-v5 manifest")
    if fmt != REPORT_FORMAT:
        return (f"unknown validation report format {fmt!r} (this laas reads "
                f"{REPORT_FORMAT}); upgrade laas")
    lists, shards = report.get("outcomes"), report.get("shards")
    if not isinstance(lists, list) or not isinstance(shards, list) \
            or not all(isinstance(x, list) for x in lists):
        return "a laas-report-v2 report needs `outcomes` (lists) and `shards` (a list)"
    for s in shards:
        n = s.get(_REF) if isinstance(s, dict) else None
        if not (isinstance(n, int) and not isinstance(n, bool) and 0 <= n < len(lists)) \
                or not isinstance(s.get("key"), str):
            return f"shard result {str(s)[:80]} names no outcome list of its report"
    return None
