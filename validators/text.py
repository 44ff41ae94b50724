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
# The dialect is RE2 (what SuiteSpec.regex_dialect commits to): no lookarounds, no
# backreferences, and \w \d \s would be ASCII-only. So the patterns spell their classes out
# ([0-9], [A-Za-z], non-ASCII as a literal range) and mean the same in RE2 and in Python's re,
# whether or not a batch holds non-ASCII text. Boundaries are consumed characters, e.g.
# (?:^|[^0-9A-Za-z.]) for what a lookbehind would say. Not caught on purpose: version strings,
# IP addresses, dates, hex hashes, decimals (a dot before a digit run is not a boundary),
# hyphenated ISBNs; caught though not PII: bare 13-19 digit runs (an ISBN-13 without hyphens).
_NON_ASCII = "\u0080-\U0010ffff"  # literal characters: RE2 has no \u escape
_NOT_IN_WORD = "(?:^|[^0-9A-Za-z.])"
_NO_DIGIT_AFTER = "(?:[^0-9]|$)"
_LABEL = f"[A-Za-z0-9{_NON_ASCII}-]+"
PII_PATTERNS = (
    # email addresses; any local part without spaces, controls or delimiters, so Unicode
    # ones (josé@, 山田@) are caught too
    f'[^\\x00-\\x20\\x7f@<>()\\[\\],;:"]+@{_LABEL}(?:\\.{_LABEL})*\\.[A-Za-z{_NON_ASCII}]{{2,}}',
    # phone numbers, North American: optional +1; area code and exchange never start 0 or 1
    f"{_NOT_IN_WORD}(?:\\+?1[ .-]?)?(?:\\([2-9][0-9]{{2}}\\)|[2-9][0-9]{{2}})[ .-]?[2-9][0-9]{{2}}"
    f"[ .-]?[0-9]{{4}}{_NO_DIGIT_AFTER}",
    # phone numbers, international: +country code (maybe in brackets), then digit groups
    f"(?:^|[^0-9A-Za-z])\\(?\\+[1-9][0-9]{{0,2}}\\)?[ .-]?(?:\\([0-9]{{1,4}}\\)[ .-]?)?"
    f"[0-9]{{1,4}}(?:[ .-]?[0-9]{{2,8}}){{1,4}}{_NO_DIGIT_AFTER}",
    # phone numbers, national with a trunk 0: 020 7946 0958, 030 1234567
    f"{_NOT_IN_WORD}0[1-9][0-9]{{1,3}}[ /-]?[0-9]{{3,4}}[ -]?[0-9]{{3,4}}{_NO_DIGIT_AFTER}",
    # card numbers: 13-19 digits bare, or grouped after a first group of four (Amex 4-6-5)
    f"{_NOT_IN_WORD}(?:[0-9]{{13,19}}|[0-9]{{4}}(?:[ -]?[0-9]{{4}}){{2}}[ -]?[0-9]{{1,7}}"
    f"|[0-9]{{4}}[ -]?[0-9]{{6}}[ -]?[0-9]{{5}}){_NO_DIGIT_AFTER}",
)
# U+FFFD written as the character, not as \ufffd: RE2 has no \u escape.
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
