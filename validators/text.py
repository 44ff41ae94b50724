"""Text rules for AI corpora, pure: the PII and clean-text patterns, and normalization for
duplicate detection (two rows are duplicates when their text columns agree after Unicode NFKC,
case folding and whitespace collapsing)."""

from __future__ import annotations

import hashlib
import unicodedata

import blake3

from laas.validators.spec import (  # TEXT_HASH_COLUMN: defined with the specs (pure)
    TEXT_HASH_COLUMN,  # noqa: F401 - re-exported: the validators import it from here
    TEXT_KEY_SCHEME,
    TextKeyScheme,
)

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


def text_hashes(columns: list, scheme: TextKeyScheme = TEXT_KEY_SCHEME) -> list[str]:
    """The duplicate key of every row of these columns (pandas Series or Arrow arrays)."""
    from laas.validators.text_keys import text_hash_array  # the bulk path (numpy, DuckDB)

    return text_hash_array(columns, scheme).to_pylist()
