"""A stored manifest read straight into columns (core.shard_columns), for a caller that parks
it anyway (an incremental run proving its previous run: three manifests of every shard).

Pydantic made an entry per shard (its post-init hook, in Python, each time) only for the
manifest to be parked into columns at once: ~3 s of a 100,000-shard second run's flow,
competing for the interpreter with the raw stage's hashing. Here the JSON is parsed once and
each field's column is checked as a whole. It accepts only what the model would accept and
read to the same values: every field of exactly its type (a str is a str, an int an int, never
a bool), every status one the model knows, no field the model does not have. Anything else
(lax values pydantic would convert, a malformed manifest) returns None, and the caller reads
the manifest with the model instead, which accepts or refuses it and says why. The manifest's
own fields go through the model (its validators: version, names, format), the shards through
formats.shards_problem, the report through formats.report_problem, as the model does."""

from __future__ import annotations

import sys
from itertools import compress
from typing import Any

from laas.anchors.core.entries import _FIELD_SETS, _REPEATED, ShardEntry, _share
from laas.anchors.core.shard_columns import FIELDS, ShardColumns

_NONE = type(None)
_TEXT = {str}
_TEXT_OR_NONE = {str, _NONE}
_DEFAULTS = {k: f.default for k, f in ShardEntry.model_fields.items() if not f.is_required()}
_REQUIRED = frozenset(k for k, f in ShardEntry.model_fields.items() if f.is_required())
# each field's JSON types: what the model reads to the same value (anything else: the model)
_TYPES: dict[str, set[type]] = {
    **{k: _TEXT_OR_NONE for k in FIELDS}, **{k: _TEXT for k in _REQUIRED},
    "byte_size": {int}, "rows": {int}, "status": _TEXT, "rows_in": {int, _NONE},
    "validation": {dict, _NONE}, "dropped": {dict, _NONE}, "licenses": {list, _NONE}}
_STATUSES = frozenset(("ok", "failed", "quarantined"))
_MISSING = object()


def parked_manifest(data: bytes) -> Any:
    """The manifest in `data`, its shards parked, or None: the model must read it (see
    module doc). `data` is the bytes already checked against the chain."""
    import orjson

    from laas.anchors.core.formats import COMPACT, shards_problem
    from laas.anchors.core.models import StageManifest
    from laas.anchors.core.results import report_problem

    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:  # ints beyond 64 bits among them: the model reads those
        return None
    if type(doc) is not dict or type(shards := doc.get("shards")) is not list \
            or type(report := doc.get("validation")) not in (dict, _NONE):
        return None
    parked = _columns(shards)
    if parked is None:
        return None
    try:  # the manifest's own fields, through the model and its validators
        m = StageManifest.model_validate_json(orjson.dumps(
            {k: v for k, v in doc.items() if k != "validation"} | {"shards": []}))
    except ValueError:
        return None
    if shards_problem(m.version, m.stage, parked) or report_problem(report, m.version in COMPACT):
        return None
    m.__dict__["shards"], m.__dict__["validation"] = parked, report
    object.__setattr__(m, "__pydantic_fields_set__", set(doc))
    _share(m)
    return m


def _columns(shards: list) -> ShardColumns | None:
    """The shards as columns, or None if any is not exactly what the model reads as is."""
    if any(type(s) is not dict for s in shards):
        return None
    keys = set().union(*shards)
    if not keys <= set(FIELDS):
        return None
    cols = []
    for k in FIELDS:
        col = _col(shards, k) if k in keys else [_DEFAULTS.get(k, _MISSING)] * len(shards)
        if not set(map(type, col)) <= _TYPES[k]:  # a required field missing too
            return None
        cols.append(_checked(k, col))
        if cols[-1] is None:
            return None
    memo: dict[frozenset, set] = {}
    sets = [memo.get(f) or memo.setdefault(f, _FIELD_SETS.setdefault(f, set(f)))
            for f in map(frozenset, shards)]
    return ShardColumns.of_columns(len(shards), [*cols, sets])


def _col(shards: list[dict], k: str) -> list:
    try:  # most fields are in every entry: read by subscript, ~3x faster than get()
        return [s[k] for s in shards]
    except KeyError:
        default = _DEFAULTS.get(k, _MISSING)
        return [s.get(k, default) for s in shards]


def _checked(k: str, col: list) -> list | None:
    """A column's values as the model holds them (None: one is not of its type inside)."""
    if k == "status":
        return col if set(col) <= _STATUSES else None
    if k in _REPEATED:  # shared with the run's other entries of the shard, as _share does
        return [v if v is None else sys.intern(v) for v in col]
    if k == "licenses":
        given = list(compress(col, col))
        if any(type(x) is not str for v in given for x in v):
            return None
        return [v if v is None else tuple(v) for v in col]
    if k == "dropped":
        given = list(compress(col, col))
        if any(type(x) is not int for v in given for x in v.values()):
            return None
    return col
