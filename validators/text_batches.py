"""A batch's duplicate keys as a column of the table (TEXT_HASH_COLUMN), and its rows' repeats
in the key columns, found once per batch for the keys and for the regex screens."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from laas.validators.spec import TEXT_HASH_COLUMN, SuiteSpec
from laas.validators.text_keys import repeats_of, text_hash_array


def repeats(table: pa.Table, spec: SuiteSpec) -> np.ndarray | None:
    """Per row, the first row equal to it in every text-hash column (text_keys.repeats_of)."""
    return repeats_of([table.column(c) for c in spec.text_hash_of])


def hashed(table: pa.Table, spec: SuiteSpec, first: np.ndarray | None) -> pa.Table:
    """The table with its text-hash column, its repeats (`first`) already found."""
    return table.append_column(TEXT_HASH_COLUMN, text_hash_array(
        [table.column(c) for c in spec.text_hash_of], spec.text_key_scheme, first))


def keyed(table: pa.Table, spec: SuiteSpec) -> tuple[pa.Table, np.ndarray | None]:
    """The table with its text-hash column, and its rows' repeats (None when the table has
    the column already, or the suite hashes no text)."""
    if not spec.text_hash_of or TEXT_HASH_COLUMN in table.column_names:  # the caller has it
        return table, None
    first = repeats(table, spec)
    return hashed(table, spec, first), first


def with_text_hash(table: pa.Table, spec: SuiteSpec) -> pa.Table:
    return keyed(table, spec)[0]
