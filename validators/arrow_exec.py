"""Row-wise expectations compiled to pyarrow.compute: one boolean mask per expectation per batch,
instead of Great Expectations' pandas engine (which runs Python's `re` per row whenever a
batch holds non-ASCII text). Semantics follow GX's pandas engine: a column-map expectation
ignores missing values (null, and NaN in float columns) except not_null / be_null, and
`mostly` is judged over the rows considered. Regexes run in RE2, the dialect a SuiteSpec
commits to, whatever the batch holds. A type or argument not handled here returns None from
`compile_check`, and that expectation goes to GX's own engine."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, reduce
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from laas.errors import ConfigError
from laas.validators.fixed_keys import twins
from laas.validators.lengths import lengths_within, whole_bounds
from laas.validators.spec import ExpectationSpec
from laas.validators.text import CONTROL_OR_REPLACEMENT, PII_PATTERNS


class RowCheck(NamedTuple):
    """Per row: is it unexpected, and is it counted (the denominator of `mostly`)."""
    unexpected: np.ndarray
    considered: np.ndarray


# groups: per-row group ids (the shard of each row when shards are pooled) or None.
Check = Callable[[pa.Table, "np.ndarray | None"], RowCheck]
_COMMON = {"column", "mostly"}  # kwargs every compiled type accepts; anything else -> GX


def flat(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    """One array; a row batch's column (one chunk) is its chunk: combine_chunks copies it."""
    if not isinstance(col, pa.ChunkedArray):
        return col
    return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()


def mask(bools: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(flat(pc.fill_null(bools, False)).to_numpy(zero_copy_only=False), bool)


def missing(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    # pandas counts NaN as missing, and GX sees the batch through pandas.
    nan = pa.types.is_floating(col.type)
    return mask(pc.is_null(col, nan_is_null=nan))


def _values(col: Any, ok: Callable[[pa.DataType], bool], fn: Callable[[Any], Any]) -> Check:
    """A check whose verdict on a non-missing row is `fn(column)` (True = expected)."""
    def check(table: pa.Table, groups: np.ndarray | None) -> RowCheck:
        c = table.column(col)
        if not ok(c.type):
            raise _Unsupported
        present = ~missing(c)
        return RowCheck(present & ~mask(fn(c)), present)
    return check


class _Unsupported(Exception):  # noqa: N818 - internal signal: this column's type goes to GX
    pass


def is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _is_number(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t)


def _is_plain(t: pa.DataType) -> bool:
    return is_text(t) or _is_number(t) or pa.types.is_boolean(t)


@lru_cache(maxsize=256)  # checked once per process: RE2 compiles a PII alternation in ms
def regex(pattern: str) -> str:
    """The pattern, checked to compile in RE2 (a suite that RE2 cannot run is refused rather
    than run in another dialect)."""
    try:
        pc.match_substring_regex(pa.array([""]), pattern)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise ConfigError(f"regex {pattern!r} is not valid RE2, the suites' regex dialect "
                          f"(no lookarounds, no backreferences): {e}") from None
    return pattern


def any_of(patterns: list[str]) -> str:
    """One alternation: RE2 scans each row once for all of them."""
    return "|".join(f"(?:{regex(p)})" for p in patterns)


def _matches(pattern: str) -> Callable[[Any], Any]:
    return lambda c: pc.match_substring_regex(c, pattern)


def _not(f: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda c: pc.invert(f(c))


def _between(lo: Any, hi: Any, strict_lo: bool, strict_hi: bool) -> Callable[[Any], Any]:
    def fn(v: Any) -> Any:
        ok = pa.scalar(True)
        if lo is not None:
            ok = pc.and_(ok, (pc.greater if strict_lo else pc.greater_equal)(v, lo))
        if hi is not None:
            ok = pc.and_(ok, (pc.less if strict_hi else pc.less_equal)(v, hi))
        return ok
    return fn


def _in_set(value_set: list) -> Callable[[Any], Any]:
    def fn(c: Any) -> Any:
        try:
            vs = pa.array(value_set).cast(c.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            raise _Unsupported from None  # a set GX would compare across types
        return pc.is_in(c, value_set=vs)
    return fn


def codes(table: pa.Table, columns: list[str], groups: np.ndarray | None) -> np.ndarray:
    """One int per row, equal iff the rows agree on every column (and group); nulls equal
    nulls, as pandas' duplicated() has it."""
    key = None if groups is None else np.asarray(groups, np.int64)
    for name in columns:
        enc = _same_width(flat(table.column(name))).dictionary_encode()
        c = enc.indices.fill_null(len(enc.dictionary)).to_numpy().astype(np.int64)
        # dictionary indices are dense already: only a combined key needs renumbering
        key = c if key is None else \
            np.unique(key * (len(enc.dictionary) + 1) + c, return_inverse=True)[1]
    return np.zeros(table.num_rows, np.int64) if key is None else key


def _same_width(arr: pa.Array) -> pa.Array:
    """Text whose values all have one byte length (the 32-hex text keys) as fixed-size
    binary: the same bytes, so the same groups, hashed ~1.5x faster."""
    if not is_text(arr.type) or not len(arr):
        return arr
    width = pc.min_max(pc.binary_length(arr))
    if width["min"].as_py() != width["max"].as_py() or not width["min"].as_py():
        return arr
    binary = pa.large_binary() if pa.types.is_large_string(arr.type) else pa.binary()
    return arr.cast(binary).cast(pa.binary(width["min"].as_py()))


def duplicated(key: np.ndarray, considered: np.ndarray) -> np.ndarray:
    """Every considered row whose key another considered row shares (keep=False)."""
    counts = np.bincount(key[considered], minlength=int(key.max(initial=-1)) + 1)
    return considered & (counts[key] > 1)


def _unique(columns: list[str], ignore: str) -> Check:
    def check(table: pa.Table, groups: np.ndarray | None) -> RowCheck:
        gone = np.stack([missing(table.column(c)) for c in columns]) if table.num_rows else \
            np.zeros((len(columns), 0), bool)
        considered = {"all_values_are_missing": ~gone.all(axis=0),
                      "any_value_is_missing": ~gone.any(axis=0),
                      "never": np.ones(table.num_rows, bool)}[ignore]
        exact = lambda t, g, c: duplicated(codes(t, columns, g), c)  # noqa: E731
        return RowCheck(twins(table, columns, groups, considered, exact), considered)
    return check


def compile_check(e: ExpectationSpec) -> Check | None:
    """The check for one expectation, or None when GX's engine must run it."""
    k, t = e.kwargs, e.type.removeprefix("expect_")
    col = k.get("column")
    extra = set(k) - _COMMON
    bounds = (k.get("min_value"), k.get("max_value"), bool(k.get("strict_min")),
              bool(k.get("strict_max")))
    numeric_bounds = all(b is None or (isinstance(b, int | float) and not isinstance(b, bool))
                         for b in bounds[:2]) and bounds[:2] != (None, None)
    bounded = numeric_bounds and extra <= {"min_value", "max_value", "strict_min", "strict_max"}
    if t in ("column_values_to_not_be_null", "column_values_to_be_null") and not extra:
        flip = t == "column_values_to_be_null"  # GX counts every row for these two
        return lambda table, groups: RowCheck(
            missing(table.column(col)) ^ flip, np.ones(table.num_rows, bool))
    if t in ("column_values_to_be_in_set", "column_values_to_not_be_in_set") and \
            extra == {"value_set"} and isinstance(k["value_set"], list) and \
            None not in k["value_set"]:
        f = _in_set(k["value_set"])
        return _values(col, _is_plain, f if t == "column_values_to_be_in_set" else _not(f))
    if t == "column_values_to_be_between" and bounded:
        return _values(col, _is_number, _between(*bounds))
    if t == "column_value_lengths_to_be_between" and bounded and \
            (whole := whole_bounds(*bounds[:2])) is not None:
        return _values(col, is_text, lengths_within(_between(*whole, *bounds[2:])))
    if t == "column_value_lengths_to_equal" and extra == {"value"}:
        return _values(col, is_text, lambda c: pc.equal(pc.utf8_length(c), k["value"]))
    regex_fn = _regex_fn(t, k, extra)
    if regex_fn is not None:
        return _values(col, is_text, regex_fn)
    if t == "column_values_to_be_unique" and not extra:
        return _unique([col], "all_values_are_missing")
    if t == "compound_columns_to_be_unique" and set(k) <= {"column_list", "mostly",
                                                           "ignore_row_if"}:
        return _unique(list(k["column_list"]), k.get("ignore_row_if", "all_values_are_missing"))
    return None


_FORBIDDING = ("column_values_to_not_match_regex", "column_values_to_be_clean_text",
               "column_values_to_not_match_regex_list", "column_values_to_be_free_of_pii")


def forbidden_pattern(e: ExpectationSpec) -> str | None:
    """For an expectation whose rows are unexpected exactly when a pattern is found in them:
    that pattern (a regex list as one alternation), checked to be RE2."""
    k, t = e.kwargs, e.type.removeprefix("expect_")
    extra = set(k) - _COMMON
    if t not in _FORBIDDING:
        return None
    if t in _FORBIDDING[:2] and extra <= {"regex"}:
        pattern = k.get("regex", CONTROL_OR_REPLACEMENT if t.endswith("clean_text") else None)
        return None if pattern is None else regex(pattern)
    if t in _FORBIDDING[2:] and extra <= {"regex_list", "match_on"} and \
            k.get("match_on", "any") in ("any", "all"):  # GX: any pattern found is unexpected
        patterns = k.get("regex_list", list(PII_PATTERNS) if t.endswith("free_of_pii") else None)
        return any_of(patterns) if patterns else None
    return None


def _regex_fn(t: str, k: dict, extra: set) -> Callable[[Any], Any] | None:
    """The per-row verdict of a regex expectation (True = expected)."""
    forbidden = forbidden_pattern(ExpectationSpec(type="expect_" + t, kwargs=k))
    if forbidden is not None:
        return _not(_matches(forbidden))
    if t == "column_values_to_match_regex" and extra <= {"regex"} and "regex" in k:
        return _matches(regex(k["regex"]))
    if t == "column_values_to_match_regex_list" and extra <= {"regex_list", "match_on"} and \
            k.get("regex_list") and k.get("match_on", "any") in ("any", "all"):
        if k.get("match_on", "any") == "any":
            return _matches(any_of(k["regex_list"]))
        each = [_matches(regex(p)) for p in k["regex_list"]]
        return lambda c: reduce(pc.and_, [f(c) for f in each])
    return None


def run_check(check: Check, table: pa.Table, groups: np.ndarray | None = None
              ) -> RowCheck | None:
    """The masks, or None when the column's type is one the check leaves to GX."""
    try:
        return check(table, groups)
    except (_Unsupported, KeyError):
        return None
