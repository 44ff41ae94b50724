"""Text rules for AI corpora, pure: the PII and clean-text patterns, and normalization for
duplicate detection (two rows are duplicates when their text columns agree after Unicode NFKC,
case folding and whitespace collapsing)."""

from __future__ import annotations

import hashlib
import threading
import unicodedata
from typing import Any

import blake3
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from laas.validators.spec import (  # TEXT_HASH_COLUMN: defined with the specs (pure)
    TEXT_HASH_COLUMN,  # noqa: F401 - re-exported: the validators import it from here
    TEXT_KEY_SCHEME,
    TextKeyScheme,
)
from laas.validators.unicode_fold import fold_plan

# How a row's normalized text becomes its duplicate key (the TEXT_HASH_COLUMN value, 32 hex),
# the suite's text_key_scheme (it is in the suite hash):
#   v1  BLAKE3, first 128 bits: one Python call per row (~1 µs), the validate stage's largest
#       cost; kept so suites that name it, and the tests pinning it, still get it.
#   v2  MD5 (128 bits) in DuckDB, vectorised and outside the GIL. The key is not committed on
#       chain and only tells rows apart: an accidental collision is ~2^-65 at 2^32 rows;
#       MD5's weakness is crafted colliding pairs, which only the author of both rows can
#       make (and dropping one of one's own two rows, or failing one's own duplicate gate,
#       gains nothing); a second preimage of someone else's row is out of reach.

# Deliberately broad: a screen flags rows for a look, it does not prove absence of PII.
# The dialect is RE2 (what SuiteSpec.regex_dialect commits to): no lookarounds, no
# backreferences, and \w \d \s would be ASCII-only. So the patterns spell their classes out
# ([0-9], [A-Za-z], non-ASCII as a literal range) and mean the same in RE2 and in Python's re,
# whether or not a batch holds non-ASCII text. Boundaries are consumed characters, e.g.
# (?:^|[^0-9A-Za-z.]) for what a lookbehind would say; a digit run glued to letters (a hex
# hash) or after a dot (a decimal, a version) is never a number here. Tuned on package
# documentation and Debian changelogs: not caught are version strings, IP addresses, dates,
# hex hashes and dumps, decimals, time-zone offsets (+1000), zero-padded ids, 64-bit limits,
# ISBNs; still caught though not PII: a bare 10-digit number shaped like a North American one
# (2147483647), legal citations shaped like phone numbers (252.227-7013).
_NON_ASCII = "\u0080-\U0010ffff"  # literal characters: RE2 has no \u escape
_BEFORE = "(?:^|[^0-9A-Za-z.])"
_AFTER = "(?:[^0-9A-Za-z]|$)"
_LABEL = f"[A-Za-z0-9{_NON_ASCII}-]+"
_ISSUER = "(?:2[2-7][0-9]{2}|[3-6][0-9]{3})"
PII_PATTERNS = (
    # email addresses; any local part without spaces, controls or delimiters, so Unicode
    # ones (josé@, 山田@) are caught too
    f'[^\\x00-\\x20\\x7f@<>()\\[\\],;:"]+@{_LABEL}(?:\\.{_LABEL})*\\.[A-Za-z{_NON_ASCII}]{{2,}}',
    # phone numbers, North American: optional +1; area code and exchange never start 0 or 1
    f"{_BEFORE}(?:\\+?1[ .-]?)?(?:\\([2-9][0-9]{{2}}\\)|[2-9][0-9]{{2}})[ .-]?[2-9][0-9]{{2}}"
    f"[ .-]?[0-9]{{4}}{_AFTER}",
    # phone numbers, international: +country code (maybe in brackets), then at least three
    # groups of digits (so +1000, a time-zone offset, is not one)
    f"(?:^|[^0-9A-Za-z])\\(?\\+[1-9][0-9]{{0,2}}\\)?[ .-]?(?:\\([0-9]{{1,4}}\\)[ .-]?)?"
    f"[0-9]{{1,4}}(?:[ .-]?[0-9]{{2,8}}){{2,4}}{_AFTER}",
    # phone numbers, national with a trunk 0 and a separator: 020 7946 0958, 030 1234567
    f"{_BEFORE}0[1-9][0-9]{{1,3}}[ /-][0-9]{{3,4}}[ -]?[0-9]{{3,4}}{_AFTER}",
    # card numbers: 13-19 digits whose first four are an issuer's (2221-2720, 3-6...), bare
    # or grouped after those four (Amex 4-6-5)
    f"{_BEFORE}{_ISSUER}(?:[0-9]{{9,15}}|(?:[ -]?[0-9]{{4}}){{2}}[ -]?[0-9]{{1,7}}"
    f"|[ -]?[0-9]{{6}}[ -]?[0-9]{{5}}){_AFTER}",
)
# U+FFFD written as the character, not as \ufffd: RE2 has no \u escape.
CONTROL_OR_REPLACEMENT = "[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\ufffd]"


def normalize_text(s: str | None) -> str:
    # split() splits on exactly what \s matches (str.isspace) and drops the ends: the same
    # as re.sub(r"\s+", " ", s).strip(), ~5x faster on long text.
    return " ".join(unicodedata.normalize("NFKC", s or "").split()).casefold()


def _normalized_row(values: list[str | None]) -> bytes:
    # \x1f is whitespace to normalize_text, so it never survives inside a column
    return "\x1f".join(normalize_text(v) for v in values).encode()


def text_hash(values: list[str | None]) -> str:
    """The duplicate key of one row, laas-textkey-v1: 128 bits of BLAKE3 over its normalized
    text columns."""
    return blake3.blake3(_normalized_row(values)).hexdigest(length=16)


def text_key(values: list[str | None]) -> str:
    """The duplicate key of one row, laas-textkey-v2: MD5 over its normalized text columns.
    The definition text_hash_array computes in bulk."""
    return hashlib.md5(_normalized_row(values), usedforsecurity=False).hexdigest()


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
    small = data <= 32  # whitespace and ASCII controls: the only bytes that may change
    odd = np.flatnonzero(data < 32)
    odd = odd[_IS_SPACE[data[odd]]]  # whitespace other than a space: becomes one
    after = small[1:] & small[:-1]  # [p - 1]: byte p follows a byte <= 32 ...
    after[starts[(starts > 0) & (starts < len(data))] - 1] = False  # ... of its own row
    pairs = np.flatnonzero(after) + 1
    pairs = pairs[_IS_SPACE[data[pairs]] & _IS_SPACE[data[pairs - 1]]]
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


def text_hashes(columns: list, scheme: TextKeyScheme = TEXT_KEY_SCHEME) -> list[str]:
    """The duplicate key of every row of these columns (pandas Series or Arrow arrays)."""
    return text_hash_array(columns, scheme).to_pylist()


def text_hash_array(columns: list, scheme: TextKeyScheme = TEXT_KEY_SCHEME) -> pa.StringArray:
    """The duplicate keys of these columns' rows as an Arrow array of 32 hex characters:
    text_key (v2) or text_hash (v1) of each row. Normalization is vectorised: case in Arrow,
    whitespace in numpy; the rows holding a character only Python normalizes (a ligature, a
    combining accent, U+00A0; a few in a thousand in real text) get their keys from the
    definition itself. v2 hashes in DuckDB, v1 calls BLAKE3 per row."""
    parts, hard = [], []
    for col in columns:
        text = _as_text(col).fill_null("")
        lower, rows = fold_plan(text)
        parts.append(_ascii_normalized(text, lower))
        hard += [] if rows is None else [rows]
    joined = pc.binary_join_element_wise(*parts, pa.scalar(_SEP, pa.large_string()))
    if isinstance(joined, pa.ChunkedArray):
        joined = joined.combine_chunks()
    keys = _md5_hex(joined) if scheme == TEXT_KEY_SCHEME else _blake3_hex(joined)
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

        # one thread: the stage runs this beside its own mask threads, one worker per core
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
