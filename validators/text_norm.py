"""The normalized text of a row's text columns, joined by \\x1f, for the rows Arrow can stand
for (unicode_fold): each column lowered, each run of ASCII whitespace one space, trimmed;
text.normalize_text without a Python call per row.

The columns are lowered, then joined with a 0xFF byte between them (never a byte of UTF-8,
so never in a row, and no whitespace: no run goes across it). A few vector passes over the
joined buffer find what changes: the whitespace bytes other than a space (made one), the
second and later bytes of each run, and the space at each end of a column's text (dropped).
The kept bytes are copied once, by Arrow's take of the spans between the dropped ones, and
the 0xFF bytes become \\x1f. (Per column with a trim and a join after, as before, this cost
three more copies of the text; Arrow's regex replace ran at ~30 MB/s on real text.)"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# What normalize_text makes of an ASCII byte: Python's \s on ASCII (these ten) is whitespace.
IS_SPACE = np.zeros(256, dtype=bool)
IS_SPACE[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True
_SENTINEL = 0xFF
_SEP = 0x1F  # the columns' separator in a duplicate key (text._normalized_row)
_BIN = pa.large_binary()


def _offsets(arr: pa.Array) -> np.ndarray:
    return np.frombuffer(arr.buffers()[1], np.int64)[arr.offset:arr.offset + len(arr) + 1]


def rebased(arr: pa.LargeStringArray) -> tuple[np.ndarray, pa.LargeStringArray]:
    """The array's offsets from zero and the array rebuilt on them (zero copy): pyarrow 26's
    ascii_lower misreads a slice whose offsets do not start at zero."""
    offsets = _offsets(arr)
    data = (arr.buffers()[2] or pa.py_buffer(b"")).slice(int(offsets[0]),
                                                        int(offsets[-1] - offsets[0]))
    offsets = offsets - offsets[0]
    return offsets, pa.LargeStringArray.from_buffers(len(arr), pa.py_buffer(offsets), data,
                                                     arr.buffers()[0], arr.null_count)


def joined_normalized(columns: list[pa.LargeStringArray],
                      lowers: list[Callable[[pa.Array], pa.Array]]) -> pa.LargeStringArray:
    """Per row, "\\x1f".join of each column's text lowered by its `lower` (ascii_lower, and
    utf8_lower for the non-ASCII rows: unicode_fold.fold_plan), ASCII whitespace runs made
    one space and trimmed. The columns hold no nulls (filled with "" by the caller)."""
    lowered = [rebased(lower(rebased(c)[1]))[1].cast(_BIN)
               for c, lower in zip(columns, lowers, strict=True)]
    joined = lowered[0] if len(lowered) == 1 else pc.binary_join_element_wise(
        *lowered, pa.scalar(bytes([_SENTINEL]), _BIN))
    base = _offsets(joined)
    offsets = base - base[0]
    data = np.frombuffer(joined.buffers()[2] or b"", np.uint8)[base[0]:base[-1]]
    # where each column's text starts and ends within the joined buffer
    lengths = np.stack([np.diff(_offsets(c)) for c in lowered])
    ends = offsets[:-1] + np.cumsum(lengths, axis=0) + np.arange(len(lowered))[:, None]
    seps = ends[:-1].ravel()
    starts = np.concatenate([offsets[:-1], seps + 1])
    ends = ends.ravel()
    odd = _odd_spaces(data)
    owned = _owned(joined, lowered) and data.flags.writeable
    if len(odd):
        if not owned:  # never write into a buffer another array may share
            data, owned = data.copy(), True
        data[odd] = 32
    drop = _dropped(data, starts, ends)
    if not len(drop):
        out, new_offsets = data, offsets
    else:
        new_offsets = offsets - np.searchsorted(drop, offsets)
        out = _without(data, drop)
        seps = seps - np.searchsorted(drop, seps)
    if len(seps):
        out = out if out is not data or owned else out.copy()
        out[seps] = _SEP
    return pa.LargeStringArray.from_buffers(len(joined), pa.py_buffer(new_offsets),
                                            pa.py_buffer(out))


def _owned(joined: pa.Array, lowered: list[pa.Array]) -> bool:
    """Whether the joined buffer is Arrow's fresh output (the join of several columns) and
    so ours to change."""
    data = joined.buffers()[2]
    return len(lowered) > 1 and data is not None and all(
        data.address != c.buffers()[2].address for c in lowered if c.buffers()[2] is not None)


def _odd_spaces(data: np.ndarray) -> np.ndarray:
    """The whitespace bytes other than a space (one min() shows most text has none)."""
    if not len(data) or data.min() >= 32:
        return np.zeros(0, np.int64)
    low = np.flatnonzero(data < 32)
    return low[IS_SPACE[data[low]]]


def _dropped(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The sorted positions normalize_text drops once every whitespace byte is a space: the
    second and later bytes of each run of spaces (two-space pairs, found by comparing the
    buffer as 16-bit words at both alignments), and the first byte of a run that starts or
    ends a column's text [start, end). A pair across two rows is dropped anyway: its second
    byte starts a row with a space."""
    found = []
    for at in (0, 1):  # the pairs (p - 1, p) with p - 1 even, then odd
        words = data[at:at + (len(data) - at) // 2 * 2].view(np.uint16)
        found.append(np.flatnonzero(words == 0x2020) * 2 + at + 1)
    pairs = np.sort(np.concatenate(found), kind="stable")  # two sorted runs: merged
    full = ends > starts
    s, e = starts[full], ends[full]
    lead = s[data[s] == 32]
    trail = data[e - 1] == 32
    s, e = s[trail], e[trail]
    # a trailing run's first byte: the run's later bytes are consecutive pairs ending at e - 1
    at = np.searchsorted(pairs, e) - 1
    inrun = (at >= 0) & (pairs[np.maximum(at, 0)] == e - 1) if len(pairs) else at < -1
    first = e - 1
    if inrun.any():
        breaks = np.flatnonzero(np.diff(pairs) != 1) + 1  # where runs of pairs start
        run = np.r_[0, breaks][np.searchsorted(breaks, at[inrun], side="right")]
        # a run from the row before (a pair across rows) stops at this text's start
        first[inrun] = np.maximum(pairs[run] - 1, s[inrun])
    ends_at = np.concatenate([lead, first])
    ends_at.sort()  # few: one or two per text
    out = np.sort(np.concatenate([pairs, ends_at]), kind="stable")  # two sorted runs: merged
    return out[np.r_[True, out[1:] != out[:-1]]] if len(out) else out


def _without(data: np.ndarray, drop: np.ndarray) -> np.ndarray:
    """The buffer without the bytes at `drop` (sorted, distinct): the spans between the runs
    of dropped bytes (most drops are the later spaces of a run: one span per run, not per
    byte) copied by Arrow's take, one memcpy each."""
    breaks = np.flatnonzero(np.diff(drop) != 1) + 1  # where a run of dropped bytes starts
    bounds = np.empty(2 * len(breaks) + 4, np.int64)
    bounds[0], bounds[-1] = 0, len(data)
    bounds[1:-1:2] = drop[np.r_[0, breaks]]  # each run's first byte and the byte after it
    bounds[2:-1:2] = drop[np.r_[breaks - 1, len(drop) - 1]] + 1
    spans = pa.Array.from_buffers(_BIN, len(bounds) - 1,
                                  [None, pa.py_buffer(bounds), pa.py_buffer(data)])
    kept = spans.take(pa.array(np.arange(0, len(bounds) - 1, 2)))
    return np.frombuffer(kept.buffers()[2] or b"", np.uint8)[:len(data) - len(drop)]
