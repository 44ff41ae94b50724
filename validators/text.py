"""Text rules for AI corpora, pure: the PII and clean-text patterns, and normalization for
duplicate detection (two rows are duplicates when their text columns agree after Unicode NFKC,
case folding and whitespace collapsing)."""

from __future__ import annotations

import re
import unicodedata

import blake3

TEXT_HASH_COLUMN = "_laas_text_hash"
# Deliberately broad: a screen flags rows for a look, it does not prove absence of PII.
PII_PATTERNS = (
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-zA-Z]{2,}",  # email addresses
    r"(?<!\w)\+?\d{1,3}?[ (.-]*\d{3}[ ).-]*\d{3}[ .-]*\d{4}(?!\w)",  # phone numbers
    r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)",  # card-like digit runs
)
CONTROL_OR_REPLACEMENT = r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffd]"
_SPACE = re.compile(r"\s+")


def normalize_text(s: str | None) -> str:
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", s or "")).strip().casefold()


def text_hash(values: list[str | None]) -> str:
    """The duplicate key of one row: 128 bits of BLAKE3 over its normalized text columns."""
    joined = "\x1f".join(normalize_text(v) for v in values)
    return blake3.blake3(joined.encode()).hexdigest(length=16)
