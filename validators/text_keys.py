"""The duplicate keys of many rows at once (the TEXT_HASH_COLUMN of a batch), equal to
text.text_key / text.text_hash row by row: a repeated row's key copied (same_rows),
normalize_text done in Arrow and numpy for the rows they can stand for (unicode_fold,
text_norm), the digests in DuckDB (v2) or BLAKE3 (v1)."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import blake3
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from laas.validators.arrow_exec import flat
from laas.validators.duck import per_row
from laas.validators.same_rows import first_equal
from laas.validators.spec import TEXT_KEY_SCHEME, TextKeyScheme
from laas.validators.text import text_hash, text_key
from laas.validators.text_norm import joined_normalized
from laas.validators.unicode_fold import fold_plan


def _as_text(col: object) -> pa.LargeStringArray:
    """A column (pandas Series, list, Arrow array of any string type) as one large_string
    array; it may be a slice (text_norm rebases its offsets: pyarrow 26's ascii_lower
    misreads a slice whose offsets do not start at zero)."""
    if not isinstance(col, pa.Array | pa.ChunkedArray):
        col = pa.array(col, type=pa.large_string(), from_pandas=True)
    return flat(col.cast(pa.large_string()))  # the cast shares the text's buffer


def _pool() -> ThreadPoolExecutor:
    """Threads for slices of the rows: every step below runs in Arrow,
    numpy or DuckDB outside the GIL, so one row batch keeps every core busy. Shared by the
    process (made once, on first use)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1),
                                       thread_name_prefix="laas-textkeys")
        return _POOL


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()
# a forked child has none of its parent's threads: it makes its own pool
os.register_at_fork(after_in_child=lambda: globals().update(_POOL=None))
_SLICE = 16_384  # rows per task: small batches are keyed on one thread, big ones on all


def repeats_of(columns: list) -> np.ndarray | None:
    """Per row, the first row of the batch equal to it in every one of these columns (a null
    read as ""), None when no row repeats an earlier one (same_rows.first_equal): made once
    per batch, for the keys and for the regex screens of these columns."""
    return first_equal([_as_text(col).fill_null("") for col in columns])


_FIND = object()  # text_hash_array's `first` not given: found there


def text_hash_array(columns: list, scheme: TextKeyScheme = TEXT_KEY_SCHEME,
                    first: Any = _FIND) -> pa.StringArray:
    """The duplicate keys of these columns' rows as an Arrow array of 32 hex characters:
    text_key (v2) or text_hash (v1) of each row. A row equal to an earlier one of the batch
    (`first`: repeats_of these columns, if the caller has it) gets that row's key; the
    others are keyed in slices on several threads,
    each normalized (text_norm: case in Arrow, whitespace in numpy) and hashed where it was
    made (v2 in DuckDB; v1 calls BLAKE3 per row); the rows holding a character only Python
    normalizes (a ligature, a combining accent, U+00A0; a few in a thousand in real text)
    get their keys from the definition itself."""
    texts = [_as_text(col).fill_null("") for col in columns]  # null keys as ""
    if first is _FIND:
        first = first_equal(texts)
    if first is None:
        return _keys(texts, scheme)
    distinct = np.flatnonzero(first == np.arange(len(first)))
    keys = _keys([t.take(distinct) for t in texts], scheme)
    return keys.take(np.searchsorted(distinct, first))


def _keys(texts: list[pa.LargeStringArray], scheme: TextKeyScheme) -> pa.StringArray:
    n = len(texts[0])
    if not n:
        return pa.array([], pa.string())
    step = max(_SLICE, -(-n // (os.cpu_count() or 1)))
    parts = list(_pool().map(lambda a: _slice_keys([t.slice(a, step) for t in texts], scheme),
                             range(0, n, step)))
    keys = pa.concat_arrays([k for k, _ in parts])
    hard = [rows + a for a, (_, rows) in zip(range(0, n, step), parts, strict=True)
            if rows is not None]
    if not hard:
        return keys
    # The few rows only Python can normalize: their keys by the definition, row by row.
    rows = np.concatenate(hard)
    values = zip(*(t.take(rows).to_pylist() for t in texts), strict=True)
    key = text_key if scheme == TEXT_KEY_SCHEME else text_hash
    fixed = np.zeros(n, bool)
    fixed[rows] = True
    return pc.replace_with_mask(keys, pa.array(fixed), pa.array(
        [key(list(v)) for v in values], pa.string()))


def _slice_keys(texts: list[pa.LargeStringArray], scheme: TextKeyScheme
                ) -> tuple[pa.StringArray, np.ndarray | None]:
    """The keys of a slice of rows as Arrow normalizes them, and the rows (sorted, in the
    slice) whose keys only Python's definition gives."""
    plans = [fold_plan(t) for t in texts]
    joined = joined_normalized(texts, [lower for lower, _ in plans])
    keys = _md5_hex(joined) if scheme == TEXT_KEY_SCHEME else _blake3_hex(joined)
    hard = [rows for _, rows in plans if rows is not None]
    return keys, (np.unique(np.concatenate(hard)) if hard else None)


# "00" .. "ff": a byte's two hex characters, read as one 16-bit word
_HEX = np.frombuffer(b"".join(b"%02x" % i for i in range(256)), np.uint16)


def _md5_hex(joined: pa.LargeStringArray) -> pa.StringArray:
    """MD5 of each row in DuckDB, as hashlib's hexdigest: 32 lower-case hex characters per
    row. md5_number hands over the 16 digest bytes as they are (a 128-bit integer, the
    digest read little-endian, in an Arrow decimal128 slot), hexed here in one numpy
    lookup: ~20% less than DuckDB's md5(), which formats a string per row."""
    numbers = per_row("md5_number(s)", s=joined)
    digests = np.frombuffer(numbers.buffers()[1], np.uint8)[
        16 * numbers.offset:16 * (numbers.offset + len(numbers))]
    return pa.StringArray.from_buffers(
        len(numbers), pa.py_buffer(np.arange(0, 32 * len(numbers) + 1, 32, dtype=np.int32)),
        pa.py_buffer(_HEX[digests]))


def _blake3_hex(joined: pa.LargeStringArray) -> pa.StringArray:
    """laas-textkey-v1: BLAKE3 straight from Arrow's buffer, one call per row; the digests
    are hexed in one go."""
    joined = joined.cast(pa.large_binary())
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int64)[
        joined.offset : joined.offset + len(joined) + 1].tolist()
    data = memoryview(joined.buffers()[2] or b"")
    rows = map(data.__getitem__, map(slice, offsets, offsets[1:]))
    digests = b"".join([blake3.blake3(row).digest(length=16) for row in rows])
    return pa.StringArray.from_buffers(
        len(joined), pa.py_buffer(np.arange(0, 32 * len(joined) + 1, 32, dtype=np.int32)),
        pa.py_buffer(digests.hex().encode()))
