"""A shard's licenses as its stage files are written (ShardEntry.licenses): the spec's source
license, the values of a `license` column of its rows, and what its raw entry carries (a
derived dataset's: the licenses of the parent's shard it came from)."""

from __future__ import annotations

from typing import Any

import pyarrow.compute as pc

from laas.anchors.core.models import ShardEntry

LICENSE_COLUMN = "license"
UNKNOWN = "unknown"  # rows with no license value, where nothing else names one


def column_licenses(batch: Any) -> set[str | None]:
    """The distinct values of a batch's (or table's) `license` column; none without one."""
    if LICENSE_COLUMN not in batch.schema.names:
        return set()
    return set(pc.unique(batch.column(LICENSE_COLUMN)).to_pylist())


def shard_licenses(raw: ShardEntry, source_license: str | None, values: set[str | None],
                   has_column: bool) -> tuple[str, ...] | None:
    """The licenses a shard's rows are under, sorted; None when nothing says (no source
    license, no column, nothing inherited). A row whose column is empty is under the source's
    (or the parent's) license; where there is none, it counts as `unknown`, which a policy
    naming licenses does not accept."""
    given = {*(raw.licenses or ()), *([source_license] if source_license else [])}
    found = {v for v in values if v}
    if _blank(values):
        found |= set() if given else {UNKNOWN}
    if not given and not has_column:
        return None
    return tuple(sorted(given | found))


def kept_licenses(licenses: tuple[str, ...] | None, before: set[str | None],
                  after: set[str | None], source_license: str | None
                  ) -> tuple[str, ...] | None:
    """drop_rows: a shard's licenses once rows were dropped. A license that only the dropped
    rows' column named is gone (the sample's `proprietary-scraped` row, say); the source's
    stays."""
    if licenses is None:
        return None
    gone = {v for v in before - after if v} | (
        {UNKNOWN} if _blank(before) and not _blank(after) else set())
    return tuple(lic for lic in licenses if lic not in gone or lic == source_license)


def _blank(values: set[str | None]) -> bool:
    """Whether some row's `license` value was empty (null or "")."""
    return None in values or "" in values
