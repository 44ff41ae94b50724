"""The dataset-wide duplicate checks over text keys (tasks.rows): the rows that repeat an
earlier row (drop_rows keeps the first, dataset order) and the distinct count (the duplicate
rate), against the plain definition, on the paths the keys take: fixed-width keys compared
by one 64-bit number per row, many repeats, and keys of other shapes."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from laas.tasks.rows import distinct_rows, later_duplicates
from laas.validators.fixed_keys import _MIX, among, fixed_words, maybe_equal


def _reference(text_keys: dict[str, list], keys: list[str]) -> tuple[dict, tuple[int, int]]:
    seen: set = set()
    later: dict[str, list[int]] = {}
    for k in sorted(set(keys)):
        for row, value in enumerate(text_keys[k]):
            if value in seen:
                later.setdefault(k, []).append(row)
            seen.add(value)
    rows = sum(len(text_keys[k]) for k in keys)
    return later, (rows, len({v for k in keys for v in text_keys[k]}))


def _check(text_keys: dict[str, list], keys: list[str]) -> None:
    arrays = {k: pa.chunked_array([pa.array(v[:7], pa.string()), pa.array(v[7:], pa.string())])
              for k, v in text_keys.items()}
    later, counts = _reference(text_keys, keys)
    assert {k: v.tolist() for k, v in later_duplicates(arrays, keys).items()} == later
    assert distinct_rows(arrays, keys) == counts


@pytest.mark.parametrize("repeat", [0.0, 0.002, 0.3])
def test_repeats_of_hex_keys_across_shards_are_the_later_occurrences(repeat: float) -> None:
    rng = random.Random(7)
    made = [f"{rng.getrandbits(128):032x}" for _ in range(4000)]
    text_keys = {f"s{i}": [rng.choice(made[:50]) if rng.random() < repeat else made.pop()
                           for _ in range(300)] for i in range(10)}
    _check(text_keys, list(text_keys))
    _check(text_keys, ["s7", "s2", "s2"])  # a subset, named out of order and twice


def test_keys_of_other_shapes_nulls_included() -> None:
    _check({"a": ["x", None, "yy", "x", None, "", "yy", "z"], "b": ["", "yy", None, "q"]},
           ["a", "b"])
    _check({"a": []}, ["a"])


def test_different_keys_sharing_their_64_bit_number_are_told_apart() -> None:
    """Two 16-byte keys built so that their mixed words collide: only the exact comparison
    of the rows sharing a number tells them apart."""
    rng = random.Random(3)
    for _ in range(100_000):  # the second key's second word follows from the rest: ASCII?
        first = bytes(rng.randrange(0x20, 0x7F) for _ in range(16))
        w0, w1 = np.frombuffer(first, np.uint64)
        v0 = np.frombuffer(bytes(rng.randrange(0x20, 0x7F) for _ in range(8)), np.uint64)[0]
        with np.errstate(over="ignore"):
            v1 = w1 + (w0 - v0) * _MIX  # so that v0 * MIX + v1 == w0 * MIX + w1
        second = np.array([v0, v1], np.uint64).tobytes()
        if all(0x20 <= b < 0x7F for b in second):
            break
    a, b = first.decode(), second.decode()
    others = [f"{i:016x}" for i in range(100)]  # few repeats: the 64-bit path is taken
    assert a != b and maybe_equal(fixed_words(pa.array([a, b, *others])),
                                  np.ones(102, bool), None).tolist() == [True] * 2 + [False] * 100
    _check({"s": [*others[:50], a, b], "t": [*others[50:], a]}, ["s", "t"])


def test_among_answers_as_isin_does() -> None:
    """The binary search that replaced np.isin for the shared 64-bit numbers: values below,
    between, equal to and above the set, an empty set, the largest uint64."""
    rnd = np.random.default_rng(5)
    ends = np.array([2**64 - 1, 0], np.uint64)
    for size in (0, 1, 3, 50):
        values = np.concatenate([rnd.integers(0, 2**63, 200, dtype=np.uint64), ends])
        ordered = np.sort(np.concatenate([rnd.choice(values, size), ends[:1 if size else 0]]))
        assert among(values, ordered).tolist() == np.isin(values, ordered).tolist()
