"""Text normalization for duplicate detection: two rows are duplicates when their text
columns agree after Unicode NFKC, case folding and whitespace collapsing."""

from __future__ import annotations

import re
import unicodedata

import blake3

TEXT_HASH_COLUMN = "_laas_text_hash"
_SPACE = re.compile(r"\s+")


def normalize_text(s: str | None) -> str:
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", s or "")).strip().casefold()


def text_hash(values: list[str | None]) -> str:
    """The duplicate key of one row: 128 bits of BLAKE3 over its normalized text columns."""
    joined = "\x1f".join(normalize_text(v) for v in values)
    return blake3.blake3(joined.encode()).hexdigest(length=16)
