"""Records of the ledger: shard entries, stage manifests, checkpoints. Frozen pydantic models;
their canonical JSON (laas.anchors.core.canonical) is what gets hashed and committed."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_serializer

from laas.anchors.core.canonical import canonical_json, from_hex, keccak256, name_id, to_hex
from laas.anchors.core.merkle import MerkleTree, leaf_hash

MANIFEST_VERSION = "laas-manifest-v2"  # v2: per-shard validation stored once; dropped rows
VERSIONED_MANIFEST = "laas-manifest-v3"  # v3: v2 + the dataset's versioning claim
MANIFEST_VERSIONS = ("laas-manifest-v1", MANIFEST_VERSION, VERSIONED_MANIFEST)  # all are read
_V3_FIELDS = ("versioning", "appends_to")  # only a v3 manifest carries them, only when set
_V2_FIELDS = ("parent_hash", "rows_in", "dropped", "dropped_rows_hash", "dropped_uri",
              "text_keys_hash")
STAGES = ("raw", "normalized", "validated")  # what an ingest run commits, in order
TRAINING = "training"  # a training job's record of the exact shard set it read
STAGE_ORDER = (*STAGES, TRAINING)
Stage = Literal["raw", "normalized", "validated", "training"]
ShardStatus = Literal["ok", "failed", "quarantined"]  # failed: fails the stage


# Run and training-record names become folder names in the artifact store and ids on chain.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}$")


def name_problem(kind: str, value: str) -> str | None:
    """Why `value` cannot name a run (or a training record), if it cannot."""
    if not _NAME.match(value) or ".." in value:
        return (f"{kind} {value!r} is not a valid name: use 1-128 letters, digits, '.', '_', "
                "':', '+' or '-', starting with a letter or digit, without '..'")
    return None


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


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
    text_keys_hash: str | None = Field(
        None, description="BLAKE3 of the shard's duplicate keys as validation computed them")

    @model_serializer(mode="wrap")
    def _v1_bytes(self, handler: Any) -> dict[str, Any]:
        """Fields a v1 entry never had are left out while unset, so a v1 manifest read back
        dumps, and hashes, exactly as it was committed."""
        out = handler(self)
        for k in _V2_FIELDS:
            if out.get(k) is None:
                out.pop(k, None)
        return out

    @property
    def derived(self) -> bool:
        return self.parent_hash is not None

    @property
    def leaf(self) -> str | None:
        if self.status != "ok" or self.content_hash is None:
            return None
        return to_hex(leaf_hash(self.key, from_hex(self.content_hash), self.byte_size, self.rows))


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
        if v is not None and (info.data.get("version") != VERSIONED_MANIFEST or orphan):
            raise ValueError(f"{info.field_name} needs a {VERSIONED_MANIFEST} manifest with "
                             "`versioning` set")
        return v

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
        return [s for s in self.shards if s.status == "ok"]

    @property
    def quarantined(self) -> list[ShardEntry]:
        return [s for s in self.shards if s.status != "ok"]

    def tree(self) -> MerkleTree:
        return shard_tree(self.shards)

    def to_bytes(self) -> bytes:
        """Canonical JSON, computed once (a million-shard manifest takes seconds to dump)."""
        if self._bytes is None:
            # The validation report is plain JSON data already (a dump made by laas, or read
            # from a manifest): written as it is rather than dumped into another copy of
            # every shard's results (gigabytes at 100,000 shards); the bytes are the same.
            head = self.model_dump(mode="json", exclude={"validation"})
            try:
                self._bytes = canonical_json(head | {"validation": self.validation})
            except (TypeError, ValueError):  # not plain JSON after all: pydantic's dump
                self._bytes = canonical_json(self)
        return self._bytes

    @property
    def manifest_hash(self) -> str:
        if self._hash is None:
            self._hash = to_hex(keccak256(self.to_bytes()))
        return self._hash

    def model_copy(self, *, update: dict[str, Any] | None = None,
                   deep: bool = False) -> StageManifest:
        copy = super().model_copy(update=update, deep=deep)
        copy._bytes = copy._hash = None  # a changed copy is a different manifest
        return copy

    def __eq__(self, other: object) -> bool:  # the fields, not the caches
        return type(other) is type(self) and self.__dict__ == other.__dict__

    __hash__ = Record.__hash__


def rows_digest(rows: Any) -> str:
    """keccak256 of a set of row numbers (sorted, 8 bytes big-endian each): what a validated
    shard commits to about the rows it dropped."""
    import numpy as np

    ordered = np.unique(np.asarray(rows, dtype=np.uint64)).astype(">u8")
    return to_hex(keccak256(ordered.tobytes()))


def checkpoint_id(dataset_id: str, run_id: str, stage: str) -> str:
    """keccak256(abi.encode(datasetId, runId, keccak256(stage))), as the contract derives it
    (three bytes32 words encode as their concatenation)."""
    return to_hex(keccak256(from_hex(dataset_id) + from_hex(run_id) + keccak256(stage.encode())))


def shard_tree(shards: list[ShardEntry] | tuple[ShardEntry, ...]) -> MerkleTree:
    """The tree over the leaves of the accepted shards (the others have no leaf)."""
    return MerkleTree.build([from_hex(leaf) for s in shards if (leaf := s.leaf)])


def stage_root(shards: list[ShardEntry] | tuple[ShardEntry, ...]) -> str:
    return to_hex(shard_tree(shards).root)


def new_manifest(dataset: str, run: str, stage: str, hash_scheme: str,
                 shards: list[ShardEntry] | tuple[ShardEntry, ...], *, passed: bool,
                 parents: tuple[str, ...] = (), **fields: Any) -> StageManifest:
    """The one way a manifest is made (stages and training records alike): ids derived from
    the names, the root from the shards, stamped now."""
    from datetime import UTC

    if fields.get("versioning") is not None:  # the claim needs the format that carries it
        fields.setdefault("version", VERSIONED_MANIFEST)
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
