"""One shard at one stage, as a manifest lists it (laas.anchors.core.models holds the rest)."""

from __future__ import annotations

import sys
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer

from laas.anchors.core.canonical import from_hex, keccak256, to_hex
from laas.anchors.core.merkle import leaf_hash

ShardStatus = Literal["ok", "failed", "quarantined"]  # failed: fails the stage
_V2_FIELDS = ("parent_hash", "rows_in", "dropped", "dropped_rows_hash", "dropped_uri",
              "text_keys_hash")
_DROP_FIELDS = ("parent_hash", "rows_in", "dropped", "dropped_rows_hash", "dropped_uri", "reason",
                "dropped_records_hash")
V4_SHARD_FIELDS = ("contributor", "contributor_signature", "sha256",
                   "licenses")  # laas-manifest-v4 only
V7_SHARD_FIELDS = ("dropped_records_hash",)  # laas-manifest-v7 only
# left out of an entry's JSON while None
_OPTIONAL = frozenset((*_V2_FIELDS, *V4_SHARD_FIELDS, *V7_SHARD_FIELDS))


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # pydantic gives every instance its own set of the fields it was given (~730 bytes for
    # a shard entry's ten): a stage of 100,000 entries held ~70 MB of equal sets in the flow
    # process, per stage. A frozen record never changes its set (model_copy changes the
    # copy's own, before it is shared here), so equal sets are one object. Repeated text
    # values are shared too: each stage's entry of a shard repeats the key, the source URI,
    # and the URI and content hash of the stage before, and every copy unpickled from a Dask
    # worker or read from JSON was a string of its own (~0.6 KB per shard over a run).
    def model_post_init(self, context: Any, /) -> None:  # made, or read from JSON
        _share(self)

    def __setstate__(self, state: dict[Any, Any]) -> None:  # unpickled: Dask results
        # Unpickled, each record's field names were strings of its own (Dask pickles a
        # result's records one by one): ~1.1 KB per shard entry, more than its values.
        if (values := state.get("__dict__")) is not None:
            state = {**state, "__dict__": {sys.intern(k): v for k, v in values.items()}}
        super().__setstate__(state)
        _share(self)

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Any:
        copy = super().model_copy(update=update, deep=deep)
        _share(copy)
        return copy


_FIELD_SETS: dict[frozenset[str], set[str]] = {}


def _share(m: BaseModel) -> None:
    mine = m.__pydantic_fields_set__
    shared = _FIELD_SETS.setdefault(frozenset(mine), mine)
    if shared is not mine:
        object.__setattr__(m, "__pydantic_fields_set__", shared)
    values = m.__dict__  # replaced in place: the same values, so frozen still holds
    for k in _REPEATED:
        v = values.get(k)
        if type(v) is str:  # interned strings are freed with their last user (not immortal)
            values[k] = sys.intern(v)


# The text fields a run repeats across its stages' entries of a shard (and the previous
# run's): interning the others (hashes of one file, reasons) would only grow the table.
_REPEATED = ("key", "uri", "source_uri", "content_hash")


class ShardEntry(Record):
    """One shard at one stage. `leaf` is set for shards the stage accepts (status ok)."""

    key: str = Field(description="the shard's name within the dataset, stable across stores")
    uri: str = Field(description="where this stage's bytes of the shard live")
    source_uri: str = Field(description="the raw shard it came from")
    byte_size: int = 0
    rows: int = 0
    content_hash: str | None = None
    status: ShardStatus = "ok"
    reason: str | None = None
    validation: dict[str, Any] | None = None
    docs_uri: str | None = Field(None, description="Data Docs HTML of the shard's validation")
    # laas-manifest-v2, a validated shard whose failing rows were dropped (on_failure:
    # drop_rows): it is its own file, derived from the normalized shard `parent_hash` of
    # `rows_in` rows by removing the rows whose numbers hash to `dropped_rows_hash`.
    parent_hash: str | None = None
    rows_in: int | None = None
    dropped: dict[str, int] | None = Field(None, description="rows dropped per expectation")
    dropped_rows_hash: str | None = None
    dropped_uri: str | None = Field(None, description="the dropped rows, with their reasons")
    # laas-manifest-v7, a normalized shard that left records out at reading: the file of them
    # whole (numbers, reasons, bytes; anchors/core/dropped_records.py), not only the numbers.
    dropped_records_hash: str | None = Field(
        None, description="laas-dropped-v1 digest of the file of records left out at reading")
    text_keys_hash: str | None = Field(
        None, description="BLAKE3 of the shard's duplicate keys as validation computed them")
    # laas-manifest-v4 (a manifest carrying any of these must say so: StageManifest checks).
    contributor: str | None = Field(
        None, description="who contributed the shard: a checksummed 0x address")
    contributor_signature: str | None = Field(
        None, description="the contributor's EIP-712 signature over the raw content hash")
    sha256: str | None = Field(
        None, description="sha256 of this stage's file bytes, taken as the stage wrote it")
    licenses: tuple[str, ...] | None = Field(
        None, description="the licenses the shard's rows carry (the spec's source license, "
                          "its `license` column's values, its parents' shards'); None: unknown")

    @model_serializer(mode="wrap")
    def _v1_bytes(self, handler: Any) -> dict[str, Any]:
        """Fields a v1 entry never had are left out while unset, so a v1 manifest read back
        dumps, and hashes, exactly as it was committed."""
        out = handler(self)
        for k in _OPTIONAL:
            if out.get(k) is None:
                out.pop(k, None)
        return out

    def plain(self) -> dict[str, Any]:
        """model_dump(mode="json"), ~10x faster for an entry without results (every entry of
        a stored manifest: they go into the report): its fields as they are, those a v1 entry
        never had left out while unset (_v1_bytes), the licenses a list. Nothing else needs
        converting: every other field is a str, an int or None."""
        if self.validation is not None:
            return self.model_dump(mode="json")
        out = {k: v for k, v in self.__dict__.items() if v is not None or k not in _OPTIONAL}
        if self.licenses is not None:
            out["licenses"] = list(self.licenses)
        return out

    @property
    def derived(self) -> bool:
        return self.parent_hash is not None

    @property
    def left_out(self) -> int:
        """Rows (or source records) this stage left out of the shard's parent."""
        return (self.rows_in or 0) - self.rows if self.derived else 0

    def as_parent(self) -> ShardEntry:
        """The shard as the next stage starts from it: what this stage dropped (and said of
        it) stays this stage's."""
        if not self.derived:
            return self
        return self.model_copy(update=dict.fromkeys(_DROP_FIELDS))

    @property
    def leaf(self) -> str | None:
        if self.status != "ok" or self.content_hash is None:
            return None
        return _leaf(self.key, self.content_hash, self.byte_size, self.rows, self.contributor)

    @property
    def attribution(self) -> dict[str, str]:
        """Who contributed the shard (and their signature), as every later stage's entry of
        it must carry them: the fields that are set."""
        return {k: v for k in ("contributor", "contributor_signature")
                if (v := getattr(self, k)) is not None}


@lru_cache(maxsize=1 << 18)
def _leaf(key: str, content_hash: str, byte_size: int, rows: int,
          contributor: str | None) -> str:
    """A leaf from exactly the values it encodes, remembered: a run computes the same shard's
    leaf many times (each stage's tree, the previous run's proven manifests, whose reused
    shards have the same leaves, the index), two keccak256 calls each, ~15 us."""
    return to_hex(leaf_hash(key, from_hex(content_hash), byte_size, rows, contributor))


def rows_digest(rows: Any) -> str:
    """keccak256 of a set of row numbers (sorted, 8 bytes big-endian each): what a validated
    shard commits to about the rows it dropped."""
    import numpy as np

    ordered = np.unique(np.asarray(rows, dtype=np.uint64)).astype(">u8")
    return to_hex(keccak256(ordered.tobytes()))
