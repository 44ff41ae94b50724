"""Length bounds in characters (column_value_lengths_to_be_between) without decoding every
row: a row of b bytes of UTF-8 holds between ceil(b / 4) and b characters, so a row whose
both ends of that range lie within the bounds lies within them, and only the rows left open
(under a lower bound of 1: the empty ones and those of 1-3 bytes; those longer in bytes than
the upper bound) are counted by utf8_length. The byte lengths come from the offsets alone;
utf8_length reads every byte (~2% of the validate stage's CPU on the benchmark's corpora)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def _bools(arr: Any, null: bool) -> np.ndarray:
    return np.asarray(pc.fill_null(arr, null).to_numpy(zero_copy_only=False), bool)


def lengths_within(within: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Per row of a text column, whether its length in characters passes `within` (a test of
    bounds on numbers: an interval, so a range of lengths inside it passes whole)."""
    def fn(col: Any) -> Any:
        arr = col.chunk(0) if isinstance(col, pa.ChunkedArray) and col.num_chunks == 1 else col
        nbytes = pc.binary_length(arr).cast(pa.int64())
        fewest = pc.divide(pc.add(nbytes, 3), 4)  # integer division: ceil(b / 4)
        sure = _bools(pc.and_(within(fewest), within(nbytes)), True)  # a null: not judged
        unsure = np.flatnonzero(~sure)
        if len(unsure) > len(sure) // 4:  # bounds close to the rows' lengths: count them all
            return within(pc.utf8_length(arr))
        if len(unsure):
            sure[unsure] = _bools(within(pc.utf8_length(arr.take(unsure))), False)
        return pa.array(sure)
    return fn


def whole_bounds(lo: float | None, hi: float | None) -> tuple[int | None, int | None] | None:
    """Length bounds as GX reads them: whole numbers, as int() makes them (1.5 -> 1, -1.5 ->
    -1; its pydantic model coerces them so), or None for one it cannot read (inf, NaN), left
    to GX's engine to say so."""
    if any(b is not None and not math.isfinite(b) for b in (lo, hi)):
        return None
    return tuple(None if b is None else int(b) for b in (lo, hi))  # type: ignore[return-value]
