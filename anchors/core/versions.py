"""Versions of a dataset: each run's validated stage is one. What changed between two versions,
and whether the newer contains the older whole (append-only, as certificate transparency has
it for logs: every shard of the old version is in the new one, under the same key, with the
same leaf). Pure: manifests in, records or a one-line reason out; the manifests are checked
against the chain by the caller (laas.anchors.services.versions)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from laas.anchors.core.models import ShardEntry, StageManifest


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class ShardVersion(_Record):
    """A shard as one version holds it: its hashes and, when validation dropped rows from it,
    how many (per expectation) and how many were kept."""

    content_hash: str | None
    leaf: str | None
    rows: int
    rows_in: int | None = None  # rows before validation dropped some (None: none dropped)
    dropped: dict[str, int] | None = None
    contributor: str | None = None  # in the leaf (v2) when the source names one

    @classmethod
    def of(cls, s: ShardEntry) -> ShardVersion:
        return cls(content_hash=s.content_hash, leaf=s.leaf, rows=s.rows, rows_in=s.rows_in,
                   dropped=s.dropped, contributor=s.contributor)


class ShardChange(_Record):
    key: str
    old: ShardVersion | None = None  # None: added
    new: ShardVersion | None = None  # None: removed (or set aside in the new version)
    reason: str | None = None  # why the new version set it aside, if it did


class VersionRef(_Record):
    """One version as the chain proves it."""

    run: str
    checkpoint_id: str
    shards_root: str
    manifest_hash: str
    block_number: int
    passed: bool
    shards: int  # accepted shards
    appends_to: str | None = None  # the version it claims to contain whole, if any


class VersionDiff(_Record):
    dataset: str
    old: VersionRef
    new: VersionRef
    added: tuple[ShardChange, ...]
    removed: tuple[ShardChange, ...]
    changed: tuple[ShardChange, ...]
    unchanged: int
    append_problem: str | None = None  # why `new` does not contain `old` whole (None: it does)

    @property
    def append_only(self) -> bool:
        return self.append_problem is None


def diff_manifests(old: StageManifest, new: StageManifest) -> tuple[
        tuple[ShardChange, ...], tuple[ShardChange, ...], tuple[ShardChange, ...], int]:
    """(added, removed, changed, unchanged) between the accepted shards of two versions, by
    key; a shard is changed when its leaf (key, content hash, size, rows) differs."""
    before = {s.key: s for s in old.accepted}
    after = {s.key: s for s in new.accepted}
    set_aside = {s.key: s.reason for s in new.quarantined}
    added = tuple(ShardChange(key=k, new=ShardVersion.of(after[k]))
                  for k in sorted(after.keys() - before.keys()))
    removed = tuple(ShardChange(key=k, old=ShardVersion.of(before[k]), reason=set_aside.get(k))
                    for k in sorted(before.keys() - after.keys()))
    changed = tuple(ShardChange(key=k, old=ShardVersion.of(before[k]),
                                new=ShardVersion.of(after[k]))
                    for k in sorted(before.keys() & after.keys())
                    if before[k].leaf != after[k].leaf)
    unchanged = len(before.keys() & after.keys()) - len(changed)
    return added, removed, changed, unchanged


def append_problem(old: StageManifest, new: StageManifest) -> str | None:
    """Why `new` does not contain every accepted shard of `old` with the same leaf (one line,
    naming the first shard, in key order), or None."""
    _, removed, changed, _ = diff_manifests(old, new)
    where = f"{new.dataset} run {new.run}"
    # what to do, only where the dataset is append-only: `laas diff` of a mutable one said
    # "the dataset is append-only: restore the shard's source" of a shard changed as allowed
    fix = f"; {_FIX}" if new.versioning == "append_only" else ""
    if changed:
        c = changed[0]
        what = (f"content {_short(c.old.content_hash)} -> {_short(c.new.content_hash)}"
                if c.old.content_hash != c.new.content_hash else
                f"contributor {c.old.contributor or 'none'} -> {c.new.contributor or 'none'}")
        return (f"{where} replaces shard {c.key} of version {old.run} ({what})"
                f"{_more(len(changed) + len(removed))}{fix}")
    if removed:
        c = removed[0]
        why = f" (set aside: {c.reason})" if c.reason else ""
        return (f"{where} drops shard {c.key} of version {old.run}{why}"
                f"{_more(len(removed))}{fix}")
    return None


_FIX = ("the dataset is append-only: restore the shard's source (and its contributor), or put "
        "changed data under a new key")


def _short(h: str | None) -> str:
    return f"{h[:18]}…" if h else "-"


def _more(n: int) -> str:
    return f" ({n - 1} more shard(s) likewise)" if n > 1 else ""
