"""Rows whose text columns are byte for byte those of an earlier row of the same batch, so their
duplicate key is that row's, not made again. Real corpora repeat whole documents (licences,
boilerplate, package documentation: a third of the bytes of this project's benchmark corpus
are rows repeated within their 50k-row batch), and a key costs a normalization and an MD5 of
every byte. Candidates come from a 64-bit hash of the rows' shortest column (DuckDB's,
outside the GIL, a few GB/s); each is then compared byte for byte, every column, with the
first row of its group, so a collision of that hash (chance, or text made to collide: two
distinct prompts of the benchmark share one) only costs a key made again, as does a row
that repeats another row of its group than the first."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from laas.validators.duck import per_row
from laas.validators.fixed_keys import among


def _row_hashes(texts: list[pa.Array]) -> np.ndarray:
    names = {f"c{i}": t for i, t in enumerate(texts)}
    return per_row(f"hash({', '.join(names)})", **names).to_numpy(
        zero_copy_only=False).astype(np.uint64)


def first_equal(texts: list[pa.Array]) -> np.ndarray | None:
    """Per row, the first row of the batch whose every column is equal to it (itself for most
    rows); None when no row repeats an earlier one. The columns hold no nulls."""
    n = len(texts[0])
    if n < 2:
        return None
    # A repeated row repeats its shortest column: rows whose hash of that column is unique
    # (most rows of most batches) are told apart by that alone, sorted as numbers; the others
    # are grouped by it and compared with their group's first row, every column.
    least = min(texts, key=lambda t: t.nbytes)
    h = _row_hashes([least])
    ordered = np.sort(h)
    shared = ordered[1:][ordered[1:] == ordered[:-1]]
    if not len(shared):
        return None
    rows = np.flatnonzero(among(h, shared))
    h = h[rows]
    later, firsts = _later_in_group(h, rows)
    equal = np.ones(len(later), bool)
    for t in texts:  # byte for byte: a hash collision is no repeat
        equal &= np.asarray(pc.equal(t.take(later), t.take(firsts)), bool)
    if not equal.any():
        return None
    first = np.arange(n)
    first[later[equal]] = firsts[equal]
    return first


def _later_in_group(h: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows (ascending) sharing a hash with an earlier one, and that earliest row each."""
    order = np.argsort(h, kind="stable")  # equal hashes: rows in their order
    ordered = h[order]
    starts = np.r_[True, ordered[1:] != ordered[:-1]]
    group_first = rows[order[np.flatnonzero(starts)[np.cumsum(starts) - 1]]]
    return rows[order[~starts]], group_first[~starts]
