"""Text rules for AI corpora, pure: the PII and clean-text patterns, and normalization for
duplicate detection (two rows are duplicates when their text columns agree after Unicode NFKC,
case folding and whitespace collapsing)."""

from __future__ import annotations

import re
import unicodedata

import blake3
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

TEXT_HASH_COLUMN = "_laas_text_hash"
# Deliberately broad: a screen flags rows for a look, it does not prove absence of PII.
# No lookarounds, so pandas runs them in Arrow's RE2 (~10x Python's re on large shards);
# for "contains", (?:^|\W)X(?:\W|$) finds what (?<!\w)X(?!\w) finds.
PII_PATTERNS = (
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-zA-Z]{2,}",  # email addresses
    r"(?:^|\W)\+?\d{1,3}?[ (.-]*\d{3}[ ).-]*\d{3}[ .-]*\d{4}(?:\W|$)",  # phone numbers
    r"(?:^|\D)(?:\d[ -]?){12,18}\d(?:\D|$)",  # card-like digit runs
)
# U+FFFD written as the character, not as \ufffd: RE2 has no \u escape (pandas would fall
# back to Python's re, ~10x slower).
CONTROL_OR_REPLACEMENT = "[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\ufffd]"
_SPACE = re.compile(r"\s+")
_ASCII_SPACE = r"[\t\n\x0b\x0c\r \x1c-\x1f]+"  # what Python's \s matches in ASCII text
_NOT_ONE_SPACE = r"[\t\n\x0b\x0c\r\x1c-\x1f]|  "  # something _ASCII_SPACE would change


def normalize_text(s: str | None) -> str:
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", s or "")).strip().casefold()


def text_hash(values: list[str | None]) -> str:
    """The duplicate key of one row: 128 bits of BLAKE3 over its normalized text columns."""
    joined = "\x1f".join(normalize_text(v) for v in values)
    return blake3.blake3(joined.encode()).hexdigest(length=16)


def _collapse_spaces(arr: pa.Array) -> pa.Array:
    """Runs of ASCII whitespace -> one space; the replace runs only on the rows that need it
    (matching is ~15x cheaper than replacing, and most rows have nothing to replace)."""
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    mask = pc.fill_null(pc.match_substring_regex(arr, _NOT_ONE_SPACE), False)
    if not pc.any(mask).as_py():
        return arr
    fixed = pc.replace_substring_regex(pc.filter(arr, mask), _ASCII_SPACE, " ")
    return pc.replace_with_mask(arr, mask, fixed)


def _fresh_text(col: object) -> pa.Array:
    """The column as one large_string array in buffers of its own. pyarrow 26's ascii_lower
    and ascii_upper give invalid arrays for a slice whose offsets do not start at zero (a
    frame concatenated from sliced frames, a table slice), so the values are copied first:
    one memcpy, against a crash or wrong hashes."""
    if not isinstance(col, pa.Array | pa.ChunkedArray):
        col = pa.array(col, type=pa.large_string(), from_pandas=True)
    chunks = col.chunks if isinstance(col, pa.ChunkedArray) else [col]
    return pa.concat_arrays([pa.array([], pa.large_string()),
                             *(c.cast(pa.large_string()) for c in chunks)])


def text_hashes(columns: list) -> list[str]:
    """text_hash of every row of these columns (pandas Series or Arrow arrays), the same
    values, but ASCII text is normalized in Arrow (for ASCII, NFKC changes nothing and
    casefold is lower) and only the rest goes through Python."""
    parts = []
    for col in columns:
        arr = _fresh_text(col).fill_null("")
        fast = pc.utf8_trim(_collapse_spaces(pc.ascii_lower(arr)), " ")
        ascii_ = pc.string_is_ascii(arr)
        if not pc.all(ascii_).as_py():
            slow = [v if a else normalize_text(s) for v, a, s in
                    zip(fast.to_pylist(), ascii_.to_pylist(), arr.to_pylist(), strict=True)]
            fast = pa.array(slow, type=pa.large_string())
        parts.append(fast)
    joined = pc.binary_join_element_wise(*parts, pa.scalar("\x1f", pa.large_string())
                                         ).cast(pa.large_binary())
    if isinstance(joined, pa.ChunkedArray):
        joined = joined.combine_chunks()
    # Hash straight from Arrow's buffer: no Python string per row.
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int64)[
        joined.offset : joined.offset + len(joined) + 1].tolist()
    data = memoryview(joined.buffers()[2] or b"")
    return [blake3.blake3(data[a:b]).hexdigest(length=16)
            for a, b in zip(offsets, offsets[1:], strict=False)]
