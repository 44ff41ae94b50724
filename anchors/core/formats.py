"""The manifest formats laas writes and reads, and which one a manifest must be: each adds to
the one before it, and a manifest carrying something its format does not have is refused."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from laas.anchors.core.entries import V4_SHARD_FIELDS, V7_SHARD_FIELDS, ShardEntry
from laas.anchors.core.results import REPORT_FORMAT
from laas.anchors.core.shard_columns import column

MANIFEST_VERSION = "laas-manifest-v2"  # v2: per-shard validation stored once; dropped rows
VERSIONED_MANIFEST = "laas-manifest-v3"  # v3: v2 + the dataset's versioning claim
SHARD_FACTS_MANIFEST = "laas-manifest-v4"  # v4: v3 + per-shard contributor and file sha256
COMPACT_MANIFEST = "laas-manifest-v5"  # v5: v4 + each distinct outcome list stored once
# v6: v5 + a normalized shard may leave out source records no reader can take (drop_rows),
# derived from its raw shard as a validated one is from its normalized shard
READ_DROPS_MANIFEST = "laas-manifest-v6"
# v7: v6 + such a shard commits to its file of records left out whole (their bytes and why,
# not only their numbers: a v6 file's bytes could be rewritten in the store unseen)
DROPPED_RECORDS_MANIFEST = "laas-manifest-v7"
MANIFEST_VERSIONS = ("laas-manifest-v1", MANIFEST_VERSION, VERSIONED_MANIFEST,
                     SHARD_FACTS_MANIFEST, COMPACT_MANIFEST, READ_DROPS_MANIFEST,
                     DROPPED_RECORDS_MANIFEST)  # all read
VERSIONING = (VERSIONED_MANIFEST, SHARD_FACTS_MANIFEST, COMPACT_MANIFEST,
              READ_DROPS_MANIFEST, DROPPED_RECORDS_MANIFEST)  # with a versioning claim
_SHARD_FACTS = (SHARD_FACTS_MANIFEST, COMPACT_MANIFEST, READ_DROPS_MANIFEST,
                DROPPED_RECORDS_MANIFEST)  # the formats with V4_SHARD_FIELDS
COMPACT = (COMPACT_MANIFEST, READ_DROPS_MANIFEST,
           DROPPED_RECORDS_MANIFEST)  # the formats of report laas-report-v2
_READ_DROPS = (READ_DROPS_MANIFEST, DROPPED_RECORDS_MANIFEST)  # normalized shards may derive
_DROPS_AT = ("validated", "training")  # where shards could always leave rows out (v2)


def shards_problem(version: str, stage: str, shards: Sequence[ShardEntry]) -> str | None:
    """Why these shards cannot be in a `version` manifest of `stage`, if they cannot: a
    format's readers would never have checked what it does not have. By column: a parked
    manifest's shards are not made again."""
    def any_set(*fields: str) -> bool:
        return any(v is not None for k in fields for v in column(shards, k))

    if version not in _SHARD_FACTS and any_set(*V4_SHARD_FIELDS):
        return f"a shard's {', '.join(V4_SHARD_FIELDS)} need a {SHARD_FACTS_MANIFEST} " \
               "manifest or later"
    if stage not in _DROPS_AT and version not in _READ_DROPS and any_set("parent_hash"):
        return f"a {stage} shard that leaves records out needs a {READ_DROPS_MANIFEST} manifest"
    if version != DROPPED_RECORDS_MANIFEST and any_set(*V7_SHARD_FIELDS):
        return f"a shard's {', '.join(V7_SHARD_FIELDS)} needs a {DROPPED_RECORDS_MANIFEST} " \
               "manifest"
    return None


def version_for(stage: str, shards: Sequence[ShardEntry], fields: dict[str, Any]) -> str:
    """The format a new manifest is written in: the oldest that has what it carries (so a
    stage that needs nothing new hashes as it always did)."""
    if any(getattr(s, k) is not None for s in shards for k in V7_SHARD_FIELDS):
        return DROPPED_RECORDS_MANIFEST
    if stage not in _DROPS_AT and any(s.derived for s in shards):
        return READ_DROPS_MANIFEST
    if (fields.get("validation") or {}).get("format") == REPORT_FORMAT:
        return COMPACT_MANIFEST
    if any(getattr(s, k) is not None for s in shards for k in V4_SHARD_FIELDS):
        return SHARD_FACTS_MANIFEST
    if fields.get("versioning") is not None:
        return VERSIONED_MANIFEST
    return MANIFEST_VERSION
