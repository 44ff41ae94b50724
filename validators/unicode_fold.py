"""Which rows of non-ASCII text Arrow can normalize for the duplicate keys without Python.

normalize_text is NFKC, whitespace collapsed, then casefold. A row whose every character is
one NFKC leaves alone wherever it stands (NFKC_Quick_Check Yes: unchanged alone, no
combining class, never the second of a composing pair), is no whitespace, and is case-folded
by Python exactly as Arrow's utf8_lower lowers it, is already NFKC (the quick check's
guarantee), so its normalized text is utf8_lower's, whitespace aside (ASCII, which
text_norm collapses). Only rows holding another character (a ligature, a
full-width letter, a combining accent, U+00A0, ß) need Python's unicodedata, one call per
row. The characters are found once per process by comparing both libraries over every code
point, so the split follows the Unicode versions installed, not a list written here."""

from __future__ import annotations

import unicodedata
from functools import lru_cache, partial
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_SEP = "\x1f"  # a starter that composes with nothing: each character normalizes alone


def _every_character() -> str:
    """Every non-ASCII code point but the surrogates, each followed by _SEP (but the last)."""
    cps = np.arange(0x80, 0x110000, dtype="<u4")
    cps = cps[(cps < 0xD800) | (cps >= 0xE000)]
    buf = np.full(2 * len(cps) - 1, ord(_SEP), dtype="<u4")
    buf[0::2] = cps
    return buf.tobytes().decode("utf-32-le")


def _per_char(text: str) -> pa.Array:
    return pc.split_pattern(pa.array([text], pa.large_string()), _SEP).flatten()


def python_only() -> list[int]:
    """The non-ASCII code points that send a row to Python (see the module's docstring).
    Done in bulk, each library over all code points joined by _SEP; Python per character
    only where NFKD changes one (NFKC can change only those) or for two cheap properties."""
    joined = _every_character()
    chars = _per_char(joined)
    lowered = pc.utf8_lower(chars)
    changed = pc.or_(pc.not_equal(_per_char(unicodedata.normalize("NFKD", joined)), chars),
                     pc.not_equal(_per_char(joined.casefold()), lowered))
    out = set()
    second = set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))  # Hangul V, T jamo
    for c, low in zip(pc.filter(chars, changed).to_pylist(),
                      pc.filter(lowered, changed).to_pylist(), strict=True):
        d = unicodedata.decomposition(c)
        if d and not d.startswith("<") and len(d.split()) == 2:
            second.add(int(d.split()[1], 16))  # composes with the character before it
        if unicodedata.normalize("NFKC", c) != c or c.casefold() != low:
            out.add(ord(c))
    for c in joined[::2]:
        if unicodedata.combining(c) or c.isspace():
            out.add(ord(c))
    return sorted(out | second)


@lru_cache(maxsize=1)
def python_only_class() -> str:
    """python_only as one RE2 character class of ranges (\\x{...} escapes)."""
    ranges: list[list[int]] = []
    for cp in python_only():
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return "[" + "".join(f"\\x{{{a:x}}}" if a == b else f"\\x{{{a:x}}}-\\x{{{b:x}}}"
                         for a, b in ranges) + "]"


def needs_python(rows: pa.Array) -> pa.Array:
    """Per row (all of them non-ASCII): does it hold a character only Python normalizes?"""
    return pc.match_substring_regex(rows, python_only_class())


def fold_plan(arr: pa.LargeStringArray) -> tuple[Any, np.ndarray | None]:
    """How the column is to be case-folded, and which rows Arrow cannot stand for: those
    holding a character only Python's unicodedata normalizes (python_only: NFKC would
    change them, or casefold differs from Arrow's utf8_lower), None if none. For every other
    row normalize_text is utf8_lower, then the ASCII whitespace collapse (NFKC leaves them as
    they are; casefold maps no character to a space or to A-Z, and every space to itself:
    checked over all code points in the tests); for ASCII rows, ascii_lower."""
    other = pc.invert(pc.string_is_ascii(arr))
    if not pc.any(other).as_py():
        return pc.ascii_lower, None
    where = np.flatnonzero(_mask(other))
    hard = where[_mask(needs_python(arr.take(where)))]
    return partial(_lower_mixed, other), (hard if len(hard) else None)


def _lower_mixed(other: pa.BooleanArray, arr: pa.Array) -> pa.Array:
    """utf8_lower of the rows marked `other` (the non-ASCII ones), ascii_lower of the rest:
    the same text (utf8_lower of ASCII is ascii_lower's), at half the cost on real text,
    where a few rows of a thousand hold a non-ASCII character and utf8_lower decodes every
    byte of every row ~10x slower than ascii_lower."""
    return pc.replace_with_mask(pc.ascii_lower(arr), other, pc.utf8_lower(arr.filter(other)))


def _mask(bools: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(bools, False).to_numpy(zero_copy_only=False), bool)
