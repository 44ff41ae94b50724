"""The duplicate keys of many rows at once (the TEXT_HASH_COLUMN of a batch), equal to
text.text_key / text.text_hash row by row: normalize_text done in Arrow and numpy for the rows
they can stand for (unicode_fold), the digests in DuckDB (v2) or BLAKE3 (v1)."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import blake3
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from laas.validators.spec import TEXT_KEY_SCHEME, TextKeyScheme
from laas.validators.text import text_hash, text_key
from laas.validators.unicode_fold import fold_plan

# What normalize_text makes of an ASCII byte: Python's \s on ASCII (these ten) is whitespace.
_IS_SPACE = np.zeros(256, dtype=bool)
_IS_SPACE[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True


def _rebased(arr: pa.LargeStringArray) -> tuple[np.ndarray, pa.LargeStringArray]:
    """The array's offsets from zero and the array rebuilt on them (zero copy): pyarrow 26's
    ascii_lower misreads a slice whose offsets do not start at zero."""
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset:arr.offset + len(arr) + 1]
    data = (arr.buffers()[2] or pa.py_buffer(b"")).slice(int(offsets[0]),
                                                        int(offsets[-1] - offsets[0]))
    offsets = offsets - offsets[0]
    return offsets, pa.LargeStringArray.from_buffers(len(arr), pa.py_buffer(offsets), data,
                                                     arr.buffers()[0], arr.null_count)


def _ascii_normalized(arr: pa.LargeStringArray, lower: Any = pc.ascii_lower
                      ) -> pa.LargeStringArray:
    """normalize_text of rows Arrow can stand for (fold_plan): lowered by `lower` (Arrow's
    ascii_lower, or utf8_lower where some rows are not ASCII), each run of ASCII whitespace
    one space, trimmed. Vector passes over the UTF-8 buffer find the few places that change
    (a whitespace byte other than a space, two whitespace bytes in a row, a row that starts
    or ends with one); only a run makes the buffer be copied without its extra bytes.
    (Arrow's regex replace of the runs ran at ~30 MB/s on real text, where most paragraphs
    hold a newline.) Bytes of non-ASCII characters are all >= 0x80 and pass unchanged."""
    offsets, low = _rebased(lower(_rebased(arr)[1]))  # lowering may change byte lengths
    data = np.frombuffer(low.buffers()[2] or b"", dtype=np.uint8)[:offsets[-1]]
    starts, ends = offsets[:-1], offsets[1:]
    odd, pairs = _changes(data, starts)
    full = ends > starts
    edge = full & (_IS_SPACE[data[np.minimum(starts, len(data) - 1)]] |
                   _IS_SPACE[data[np.maximum(ends - 1, 0)]]) if len(data) else full
    if not (len(odd) or len(pairs)):
        return pc.utf8_trim(low, " ") if edge.any() else low
    if len(pairs):  # drop the second and later bytes of each run: the bytes move left by
        keep = np.ones(len(data), bool)  # the drops before them
        keep[pairs] = False
        data, offsets = data[keep], offsets - np.searchsorted(pairs, offsets)
        odd = odd[keep[odd]] - np.searchsorted(pairs, odd[keep[odd]])
    else:
        data = data.copy()
    data[odd] = 32
    return pc.utf8_trim(_with_data(low, offsets, data), " ")


def _changes(data: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where normalize_text changes ASCII whitespace: the whitespace bytes other than a space
    (`odd`, made one) and each byte that follows a whitespace byte of its own row (`pairs`,
    dropped). A pair is two spaces or holds an odd byte, so only two-space pairs need a
    search of the whole buffer (as 16-bit words, at both alignments); the rest are found
    next to the odd bytes, which one min() shows to be absent from most text."""
    none = np.zeros(0, np.int64)
    odd = np.flatnonzero(data < 32) if len(data) and data.min() < 32 else none
    odd = odd[_IS_SPACE[data[odd]]]
    found = [odd[_IS_SPACE[data[np.maximum(odd - 1, 0)]] & (odd > 0)],
             odd[_IS_SPACE[data[np.minimum(odd + 1, len(data) - 1)]] & (odd + 1 < len(data))] + 1]
    for at in (0, 1):  # the pairs (p - 1, p) of two spaces with p - 1 even, then odd
        words = data[at:at + (len(data) - at) // 2 * 2].view(np.uint16)
        found.append(np.flatnonzero(words == 0x2020) * 2 + at + 1)
    # sorted runs, merged by timsort ("stable"); a pair of two odd bytes is found twice
    pairs = np.sort(np.concatenate(found), kind="stable")
    pairs = pairs[np.r_[True, pairs[1:] != pairs[:-1]]] if len(pairs) else pairs
    # a pair across two rows is no pair (looked up from the rows' side: rows are fewer)
    at = np.searchsorted(pairs, starts)
    across = at[pairs[np.minimum(at, len(pairs) - 1)] == starts] if len(pairs) else at[:0]
    return odd, np.delete(pairs, across)


def _with_data(arr: pa.LargeStringArray, offsets: np.ndarray, data: np.ndarray
               ) -> pa.LargeStringArray:
    return pa.LargeStringArray.from_buffers(len(arr), pa.py_buffer(offsets),
                                            pa.py_buffer(data), arr.buffers()[0],
                                            arr.null_count)


_SEP = "\x1f"


def _as_text(col: object) -> pa.LargeStringArray:
    """A column (pandas Series, list, Arrow array of any string type) as one large_string
    array; it may be a slice (_ascii_normalized reads offsets as they are, where pyarrow 26's
    ascii_lower misreads a slice whose offsets do not start at zero)."""
    if not isinstance(col, pa.Array | pa.ChunkedArray):
        col = pa.array(col, type=pa.large_string(), from_pandas=True)
    col = col.cast(pa.large_string())
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def _normalized(col: object) -> tuple[pa.LargeStringArray, np.ndarray | None]:
    """One column normalized in Arrow and numpy, and the rows only Python can normalize."""
    text = _as_text(col).fill_null("")
    lower, rows = fold_plan(text)
    return _ascii_normalized(text, lower), rows


def _pool() -> ThreadPoolExecutor:
    """Threads for the columns and for slices of the rows: every step below runs in Arrow,
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
_SLICE = 16_384  # rows per MD5 task: small batches hash on one thread, big ones on all


def text_hash_array(columns: list, scheme: TextKeyScheme = TEXT_KEY_SCHEME) -> pa.StringArray:
    """The duplicate keys of these columns' rows as an Arrow array of 32 hex characters:
    text_key (v2) or text_hash (v1) of each row. Normalization is vectorised: case in Arrow,
    whitespace in numpy, each column on its own thread; the rows holding a character only
    Python normalizes (a ligature, a combining accent, U+00A0; a few in a thousand in real
    text) get their keys from the definition itself. v2 hashes in DuckDB, slices of the rows
    on several threads; v1 calls BLAKE3 per row."""
    pool = _pool()
    done = list(pool.map(_normalized, columns))
    joined = pc.binary_join_element_wise(*(p for p, _ in done),
                                         pa.scalar(_SEP, pa.large_string()))
    if isinstance(joined, pa.ChunkedArray):
        joined = joined.combine_chunks()
    if scheme == TEXT_KEY_SCHEME:
        n = len(joined)
        step = max(_SLICE, -(-n // (os.cpu_count() or 1)))
        keys = pa.concat_arrays(list(pool.map(
            _md5_hex, [joined.slice(a, step) for a in range(0, n, step)]))) if n else \
            pa.array([], pa.string())
    else:
        keys = _blake3_hex(joined)
    hard = [rows for _, rows in done if rows is not None]
    if not hard:
        return keys
    # The few rows only Python can normalize: their keys by the definition, row by row.
    rows = np.unique(np.concatenate(hard))
    values = zip(*(_as_text(col).take(rows).to_pylist() for col in columns), strict=True)
    key = text_key if scheme == TEXT_KEY_SCHEME else text_hash
    fixed = np.zeros(len(keys), bool)
    fixed[rows] = True
    return pc.replace_with_mask(keys, pa.array(fixed), pa.array(
        [key(list(v)) for v in values], pa.string()))

_local = threading.local()  # a DuckDB connection must not be shared between threads


def _duckdb() -> object:
    con = getattr(_local, "con", None)
    if con is None:
        import duckdb  # only where keys are made

        # one thread per connection: the caller spreads slices of rows over its threads
        con = _local.con = duckdb.connect(config={"threads": 1})
    return con


def _md5_hex(joined: pa.LargeStringArray) -> pa.StringArray:
    """md5() of each row in DuckDB: reads the Arrow array in place, hashes in C++ without
    the GIL, and gives 32 lower-case hex characters per row (hashlib's hexdigest)."""
    con = _duckdb()
    con.register("_laas_rows", pa.table({"s": joined}))
    try:
        out = con.sql("SELECT md5(s) AS h FROM _laas_rows").to_arrow_table()["h"]
    finally:
        con.unregister("_laas_rows")
    return out.combine_chunks().cast(pa.string())


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
