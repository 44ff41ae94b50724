"""Records of the ledger: shard entries, stage manifests, checkpoints. Frozen pydantic models;
their canonical JSON (laas.anchors.core.canonical) is what gets hashed and committed."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, Literal

from pydantic import PrivateAttr, field_validator, model_serializer, model_validator

from laas.anchors.core.canonical import (
    canonical_chunks,
    from_hex,
    gc_paused,
    keccak256,
    keccak_hasher,
    name_id,
    to_hex,
)
from laas.anchors.core.entries import Record, ShardEntry, ShardStatus, rows_digest
from laas.anchors.core.formats import (
    COMPACT,
    MANIFEST_VERSION,
    MANIFEST_VERSIONS,
    VERSIONED_MANIFEST,
    VERSIONING,
    shards_problem,
    version_for,
)
from laas.anchors.core.merkle import MerkleTree, root_of
from laas.anchors.core.results import report_problem
from laas.anchors.core.shard_columns import ShardColumns, column, leaves, picked

__all__ = ["Record", "ShardEntry", "ShardStatus", "rows_digest"]  # where callers import them

_V3_FIELDS = ("versioning", "appends_to")  # only a v3+ manifest carries them, only when set
STAGES = ("raw", "normalized", "validated")  # what an ingest run commits, in order
TRAINING = "training"  # a training job's record of the exact shard set it read
STAGE_ORDER = (*STAGES, TRAINING)
Stage = Literal["raw", "normalized", "validated", "training"]


# Run and training-record names become folder names in the artifact store and ids on chain.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}$")


def name_problem(kind: str, value: str) -> str | None:
    """Why `value` cannot name a run (or a training record), if it cannot."""
    if not _NAME.match(value) or ".." in value:
        return (f"{kind} {value!r} is not a valid name: use 1-128 letters, digits, '.', '_', "
                "':', '+' or '-', starting with a letter or digit, without '..'")
    return None


class StageManifest(Record):
    """Everything a stage produced; its keccak256 is committed on chain with the root."""

    version: str = MANIFEST_VERSION
    dataset: str
    dataset_id: str  # keccak256(dataset name), as on chain
    run: str
    run_id: str  # keccak256(run name), as on chain
    stage: Stage
    hash_scheme: str
    parents: tuple[str, ...] = ()
    shards: tuple[ShardEntry, ...]
    shards_root: str
    passed: bool
    result_hash: str = to_hex(bytes(32))
    validation: dict[str, Any] | None = None
    created_at: datetime
    # v3, an append-only dataset's validated stage: the previous passed version's validated
    # checkpoint, which this version claims to contain whole (None: the first version).
    versioning: Literal["append_only"] | None = None
    appends_to: str | None = None
    _bytes: bytes | None = PrivateAttr(None)
    _hash: str | None = PrivateAttr(None)
    _tree: MerkleTree | None = PrivateAttr(None)

    @field_validator("version")
    @classmethod
    def _known_version(cls, v: str) -> str:
        """A manifest of a format this code does not know is refused, not read as v1."""
        if v not in MANIFEST_VERSIONS:
            raise ValueError(f"unknown manifest version {v!r} (this laas reads "
                             f"{', '.join(MANIFEST_VERSIONS)}); upgrade laas")
        return v

    @model_serializer(mode="wrap")
    def _v2_bytes(self, handler: Any) -> dict[str, Any]:
        """v3's fields are left out while unset, so v1/v2 manifests hash as committed."""
        return {k: v for k, v in handler(self).items() if k not in _V3_FIELDS or v is not None}

    @field_validator("versioning", "appends_to")
    @classmethod
    def _v3_only(cls, v: str | None, info: Any) -> str | None:
        """A versioning claim in a v1/v2 manifest is refused: those formats never had one."""
        orphan = info.field_name == "appends_to" and info.data.get("versioning") is None
        if v is not None and (info.data.get("version") not in VERSIONING or orphan):
            raise ValueError(f"{info.field_name} needs a {VERSIONED_MANIFEST} manifest with "
                             "`versioning` set")
        return v

    @model_validator(mode="after")
    def _format_holds(self) -> StageManifest:
        """A shard or report a manifest's format does not have is refused: that format's
        readers would never have checked it."""
        if problem := shards_problem(self.version, self.stage, self.shards):
            raise ValueError(problem)
        if problem := report_problem(self.validation, self.version in COMPACT):
            raise ValueError(problem)  # no reader meets a report its version does not have
        return self

    @field_validator("run", "dataset")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        if problem := name_problem("name", v):  # names become folders in the artifact store
            raise ValueError(problem)
        return v

    @property
    def checkpoint_id(self) -> str:
        """Where this stage's checkpoint lives on chain, known before it is committed."""
        return checkpoint_id(self.dataset_id, self.run_id, self.stage)

    @property
    def accepted(self) -> list[ShardEntry]:
        return picked(self.shards, lambda st: st == "ok", "status")

    @property
    def quarantined(self) -> list[ShardEntry]:
        return picked(self.shards, lambda st: st != "ok", "status")

    @property
    def accepted_count(self) -> int:  # without making a parked manifest's entries
        return sum(1 for st in column(self.shards, "status") if st == "ok")

    def tree(self) -> MerkleTree:
        """Built once: checking the root and then each shard's proof (gate, contributors) used
        the same tree twice, n keccak256 pairs each time."""
        if self._tree is None:
            self._tree = shard_tree(self.shards)
        return self._tree

    def to_bytes(self) -> bytes:
        """Canonical JSON, computed once. The store writes chunks() instead, never whole."""
        if self._bytes is None:
            self._bytes = b"".join(self.chunks())
        return self._bytes

    def chunks(self) -> Iterator[bytes]:
        """to_bytes() in chunks of ~1 MB, never whole (~270 MB for 100,000 validated shards
        before laas-manifest-v5, ~45 MB after): each shard entry is dumped as it is reached,
        and the report, plain JSON data already (a dump made by laas, or read from a
        manifest), is written as it is, value by value; the bytes are the same."""
        if self._bytes is not None:
            yield self._bytes
            return
        head = self.model_dump(mode="json", exclude={"validation", "shards"})
        yield from canonical_chunks(head | {"shards": self.shards, "validation": self.validation},
                                    depth=3)

    def stream(self, write: Callable[[bytes], object]) -> str:
        """Hand the canonical JSON to `write` chunk by chunk, hashing it on the way: its
        manifest hash, which is then known without another pass."""
        h = keccak_hasher()
        with gc_paused():  # an entry's dump makes dicts, none in a cycle
            for chunk in self.chunks():
                h.update(chunk)
                write(chunk)
        self._hash = to_hex(h.digest())
        return self._hash

    def park(self) -> None:
        """Hold the shards as columns from now on (core.shard_columns), for a manifest kept
        but seldom read: each stored stage's until the run commits, the previous run's."""
        if not isinstance(self.shards, ShardColumns):
            self.__dict__["shards"] = ShardColumns(self.shards)

    def drop_bytes(self) -> None:
        """Let go of the cached canonical JSON (if to_bytes() made it); the hash stays."""
        self._bytes = None

    @property
    def manifest_hash(self) -> str:
        if self._hash is None:
            self._hash = self.stream(lambda _: None)
        return self._hash

    def model_copy(self, *, update: dict[str, Any] | None = None,
                   deep: bool = False) -> StageManifest:
        copy = super().model_copy(update=update, deep=deep)
        copy._bytes = copy._hash = copy._tree = None  # a changed copy is another manifest
        return copy

    def __eq__(self, other: object) -> bool:  # the fields, not the caches
        return type(other) is type(self) and self.__dict__ == other.__dict__

    __hash__ = Record.__hash__


def checkpoint_id(dataset_id: str, run_id: str, stage: str) -> str:
    """keccak256(abi.encode(datasetId, runId, keccak256(stage))), as the contract derives it
    (three bytes32 words encode as their concatenation)."""
    return to_hex(keccak256(from_hex(dataset_id) + from_hex(run_id) + keccak256(stage.encode())))


def shard_tree(shards: list[ShardEntry] | tuple[ShardEntry, ...]) -> MerkleTree:
    """The tree over the leaves of the accepted shards (the others have no leaf)."""
    return MerkleTree.build([from_hex(leaf) for leaf in leaves(shards) if leaf])


def stage_root(shards: list[ShardEntry] | tuple[ShardEntry, ...]) -> str:
    return to_hex(root_of([from_hex(leaf) for leaf in leaves(shards) if leaf]))


def new_manifest(dataset: str, run: str, stage: str, hash_scheme: str,
                 shards: list[ShardEntry] | tuple[ShardEntry, ...], *, passed: bool,
                 parents: tuple[str, ...] = (), **fields: Any) -> StageManifest:
    """The one way a manifest is made (stages and training records alike): ids derived from
    the names, the root from the shards, stamped now."""
    from datetime import UTC

    fields.setdefault("version", version_for(stage, shards, fields))
    return StageManifest(
        dataset=dataset, dataset_id=name_id(dataset), run=run, run_id=name_id(run),
        stage=stage, hash_scheme=hash_scheme, parents=parents, shards=tuple(shards),
        shards_root=stage_root(shards), passed=passed, created_at=datetime.now(UTC), **fields)


class Checkpoint(Record):
    """A checkpoint as read back from the chain, plus where it landed."""

    checkpoint_id: str
    dataset_id: str
    run_id: str
    stage: str
    shards_root: str
    shard_count: int
    manifest_hash: str
    manifest_uri: str
    result_hash: str
    passed: bool
    parents: tuple[str, ...]
    committer: str
    tx_hash: str
    block_number: int
    gas_used: int | None = None
