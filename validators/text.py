"""Text rules for AI corpora, pure: the PII and clean-text patterns, and normalization for
duplicate detection (two rows are duplicates when their text columns agree after Unicode NFKC,
case folding and whitespace collapsing)."""

from __future__ import annotations

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


def text_hash(values: list[str | None]) -> str:
    """The duplicate key of one row: 128 bits of BLAKE3 over its normalized text columns."""
    joined = "\x1f".join(normalize_text(v) for v in values)
    return blake3.blake3(joined.encode()).hexdigest(length=16)


# Byte tables for ASCII text: Python's \s on ASCII; and what normalize_text makes of a byte.
_IS_SPACE = np.zeros(256, dtype=bool)
_IS_SPACE[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True
_NORMAL = np.arange(256, dtype=np.uint8)
_NORMAL[ord("A"):ord("Z") + 1] += 32
_NORMAL[_IS_SPACE] = ord(" ")


def _ascii_normalized(arr: pa.LargeStringArray) -> pa.Array:
    """normalize_text for ASCII rows, over the whole UTF-8 buffer at once in numpy: A-Z
    lowered, each run of whitespace one space, trimmed. (Arrow's regex replace of the runs
    ran at ~30 MB/s on real text, where most paragraphs hold a newline; its ascii_lower breaks
    on slices.) Bytes of non-ASCII rows are mangled harmlessly: those rows are redone."""
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset:arr.offset + len(arr) + 1]
    data = np.frombuffer(arr.buffers()[2] or b"", dtype=np.uint8)[offsets[0]:offsets[-1]]
    offsets = offsets - offsets[0]
    space = _IS_SPACE[data]
    drop = np.zeros(len(data), dtype=bool)  # a space right after a space, in the same row
    np.logical_and(space[1:], space[:-1], out=drop[1:])
    drop[offsets[:-1][offsets[:-1] < len(data)]] = False  # a row's first byte starts afresh
    dropped = np.flatnonzero(drop)
    out = np.delete(_NORMAL[data], dropped) if len(dropped) else _NORMAL[data]
    flat = pa.LargeStringArray.from_buffers(
        len(arr), pa.py_buffer(offsets - np.searchsorted(dropped, offsets)), pa.py_buffer(out))
    return pc.utf8_trim(flat, " ")


def _as_text(col: object) -> pa.LargeStringArray:
    """A column (pandas Series, list, Arrow array of any string type) as one large_string
    array; it may be a slice (_ascii_normalized reads offsets as they are, where pyarrow 26's
    ascii_lower misreads a slice whose offsets do not start at zero)."""
    if not isinstance(col, pa.Array | pa.ChunkedArray):
        col = pa.array(col, type=pa.large_string(), from_pandas=True)
    col = col.cast(pa.large_string())
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def text_hashes(columns: list) -> list[str]:
    """text_hash of every row of these columns (pandas Series or Arrow arrays)."""
    return text_hash_array(columns).to_pylist()


def text_hash_array(columns: list) -> pa.StringArray:
    """text_hashes as an Arrow array, the same values, but ASCII text is normalized in numpy
    (for ASCII, NFKC changes nothing and casefold is lower) and only the rest goes through
    Python; no Python object per row but the BLAKE3 call itself."""
    parts = []
    for col in columns:
        arr = _as_text(col).fill_null("")
        fast = _ascii_normalized(arr)
        other = pc.invert(pc.string_is_ascii(arr))
        if pc.any(other).as_py():  # only those rows become Python strings
            slow = [normalize_text(s) for s in pc.filter(arr, other).to_pylist()]
            fast = pc.replace_with_mask(fast, other, pa.array(slow, type=pa.large_string()))
        parts.append(fast)
    joined = pc.binary_join_element_wise(*parts, pa.scalar("\x1f", pa.large_string())
                                         ).cast(pa.large_binary())
    if isinstance(joined, pa.ChunkedArray):
        joined = joined.combine_chunks()
    # Hash straight from Arrow's buffer; the digests are hexed in one go.
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int64)[
        joined.offset : joined.offset + len(joined) + 1].tolist()
    data = memoryview(joined.buffers()[2] or b"")
    rows = map(data.__getitem__, map(slice, offsets, offsets[1:]))
    digests = b"".join([blake3.blake3(row).digest(length=16) for row in rows])
    return pa.StringArray.from_buffers(
        len(joined), pa.py_buffer(np.arange(0, 32 * len(joined) + 1, 32, dtype=np.int32)),
        pa.py_buffer(digests.hex().encode()))
