"""Duplicates among fixed-width text keys (the 32-hex duplicate keys of a shard, say) by sorting
one 64-bit number per row instead of hashing every value into a dictionary: the value's bytes,
read as 64-bit words in place, are mixed into one number; rows whose numbers differ cannot be
equal, and the few that share one are compared exactly. Same answer as dictionary codes,
~1.6x faster at a million rows with few duplicates (a sort of machine words against a hash
table of strings); with many, the dictionary codes of all rows as before."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd: multiplying by it is a bijection mod 2^64


def fixed_words(arr: pa.Array) -> np.ndarray | None:
    """A text array without nulls whose values all have one byte length, a multiple of 8:
    its bytes as a (rows, width / 8) array of uint64, zero copy; else None."""
    if arr.null_count or not len(arr) or not (pa.types.is_string(arr.type)
                                              or pa.types.is_large_string(arr.type)):
        return None
    width = pc.min_max(pc.binary_length(arr))
    w = width["min"].as_py()
    if w != width["max"].as_py() or not w or w % 8:
        return None
    wide = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(arr.buffers()[1], wide)[arr.offset:arr.offset + len(arr) + 1]
    start = int(offsets[0])
    return np.frombuffer(arr.buffers()[2], np.uint64, count=len(arr) * w // 8,
                         offset=start).reshape(len(arr), w // 8) if start % 8 == 0 else \
        np.frombuffer(arr.buffers()[2].to_pybytes()[start:start + len(arr) * w],
                      np.uint64).reshape(len(arr), w // 8)


def among(values: np.ndarray, ordered: np.ndarray) -> np.ndarray:
    """Per value, whether it is one of `ordered` (sorted, usually few): a binary search each,
    where np.isin would sort all the values again."""
    if not len(ordered):
        return np.zeros(len(values), bool)
    at = np.minimum(np.searchsorted(ordered, values), len(ordered) - 1)
    return ordered[at] == values


def maybe_equal(words: np.ndarray, considered: np.ndarray,
                groups: np.ndarray | None) -> np.ndarray | None:
    """The considered rows that share their mixed number (and group) with another considered
    row: a superset of the rows with an equal twin, usually exactly those. None when they
    are over an eighth of the rows (then dictionary codes of all cost less than taking)."""
    with np.errstate(over="ignore"):  # wrapping multiplication is the point
        mixed = words[:, 0].copy()
        for j in range(1, words.shape[1]):
            mixed = mixed * _MIX + words[:, j]
        if groups is not None:
            mixed = mixed * _MIX + np.asarray(groups, np.uint64)
    ordered = np.sort(mixed[considered])
    same = ordered[1:] == ordered[:-1]
    if np.count_nonzero(same) > len(words) // 16:  # each shared number holds 2+ rows
        return None
    return considered & among(mixed, ordered[1:][same])


def twins(table: pa.Table, columns: list[str], groups: np.ndarray | None,
          considered: np.ndarray, exact: Callable[..., np.ndarray]) -> np.ndarray:
    """Every considered row whose key (and group) another considered row shares. `exact`
    (table, groups, considered) decides among rows that may be equal; on a single
    fixed-width key column it sees only the rows maybe_equal leaves, else every row."""
    col = table.column(columns[0]) if len(columns) == 1 else None
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    words = fixed_words(col) if col is not None else None
    if words is None:
        return exact(table, groups, considered)
    maybe = maybe_equal(words, considered, groups)
    if maybe is None:
        return exact(table, groups, considered)
    rows = np.flatnonzero(maybe)
    out = np.zeros(table.num_rows, bool)
    if len(rows):
        out[rows] = exact(table.select(columns).take(rows),
                          None if groups is None else np.asarray(groups)[rows],
                          np.ones(len(rows), bool))
    return out
