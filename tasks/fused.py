"""The normalized and validated stages' per-shard work in one pass: each shard read and parsed
once, its rows hashed and written as the normalized shard, then validated from memory. Each
stage still gets its own entries, manifest and checkpoint, as when they ran apart: the
validated entries wait in the flow process (`Early`) for the validate stage to take."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from laas.anchors.core.models import ShardEntry, StageManifest
from laas.tasks.compute import map_shards
from laas.tasks.context import StageContext
from laas.tasks.dataset_spec import DatasetSpec
from laas.tasks.incremental import keys_needed
from laas.tasks.key_files import KeyFiles
from laas.tasks.manifests import SharedOutcomes
from laas.tasks.normalizer import normalize
from laas.tasks.shard_validation import validated_entries
from laas.tasks.stage_files import fresh_dir


def normalized_and_validated(raws: list[ShardEntry], spec: DatasetSpec, out_dir: str,
                             bad_status: str, docs_dir: str, hashes_dir: str | None,
                             judge: bool, dropped_dir: str | None = None
                             ) -> list[tuple[ShardEntry, ShardEntry]]:
    """A batch of raw shards' (normalized, validated) entries: each shard normalized as it
    comes to be validated, its rows handed over in memory (the validation's second read and
    Parquet decode of the normalized file, ~3 CPU-ms per MB of rows, is not done)."""
    tables: dict = {}
    normalized: list[ShardEntry] = []

    def each() -> Iterator[ShardEntry]:
        for raw in raws:
            normalized.append(normalize(raw, spec, out_dir, bad_status, dropped_dir, tables))
            yield normalized[-1].as_parent()

    validated = validated_entries(each(), spec, bad_status, docs_dir, hashes_dir, judge,
                                  keys=[r.key for r in raws], tables=tables)
    return list(zip(normalized, validated, strict=True))


def validated_dirs(stage_dir: str, spec: DatasetSpec) -> tuple[str, str | None]:
    """The validated stage's Data Docs folder and text-hash folder (None when the suite has
    no use for one), both emptied: nothing left or planted there is kept."""
    docs_dir = fresh_dir(f"{stage_dir}/docs")
    hashes_dir = fresh_dir(f"{stage_dir}/text-hashes") if keys_needed(spec) else None
    return docs_dir, hashes_dir


@dataclass
class Early:
    """The validated stage's work on its shards, made with the normalized stage's (or by its
    own map): the entries as that map leaves them (their results apart, in `shared`; their
    text keys read by `keys`)."""

    docs_dir: str
    hashes_dir: str | None
    shared: SharedOutcomes = field(default_factory=SharedOutcomes)
    keys: KeyFiles | None = None
    validated: dict[str, ShardEntry] = field(default_factory=dict)
    made_for: tuple[str, object] | None = None  # the normalized manifest's root and time

    def __post_init__(self) -> None:
        self.keys = KeyFiles(self.hashes_dir) if self.hashes_dir is not None else None

    def then(self) -> Callable[[list], list]:
        """What the validate stage's map applies to each batch of validated entries."""
        return self.keys.after(self.shared) if self.keys else self.shared

    def on_batch(self) -> Callable[[list], list]:
        """map_shards' on_batch: a batch's validated entries kept (through what the validate
        stage's map applies to them), its normalized ones handed on."""
        then = self.then()

        def split(pairs: list) -> list:
            if pairs:
                self.validated.update((v.key, v) for v in then([v for _, v in pairs]))
            return [n for n, _ in pairs]

        return split

    def entries_for(self, normalized: StageManifest, todo: list[ShardEntry]
                    ) -> list[ShardEntry] | None:
        """The validated entries of `todo`, in its order, if made for this normalized stage
        and for exactly these shards; else None (the validate stage runs its own map)."""
        if self.made_for != (normalized.shards_root, normalized.created_at) or \
                {e.key for e in todo} != self.validated.keys():
            return None
        return [self.validated[e.key] for e in todo]


def validate_apart(ctx: StageContext, spec: DatasetSpec, stage_dir: str,
                   todo: list[ShardEntry], bad_status: str, **batching: Any
                   ) -> tuple[Early, list[ShardEntry]]:
    """The validate stage's own map over the normalized files, when its entries were not made
    with the normalized stage (resumed, or made for other shards)."""
    early = Early(*validated_dirs(stage_dir, spec))
    return early, map_shards(validated_entries, [(e,) for e in todo], whole_batch=True,
                             label="validate", on_batch=early.then(), **batching, spec=spec,
                             address=ctx.address, bad_status=bad_status,
                             docs_dir=early.docs_dir, hashes_dir=early.hashes_dir,
                             judge=spec.on_failure != "drop_rows")


_EARLY: dict[tuple[str, str], Early] = {}  # by (dataset, run), in the flow process


def normalize_map(ctx: StageContext, spec: DatasetSpec, run: str, todo: list[ShardEntry],
                  out_dir: str, bad_status: str, dropped_dir: str | None, **batching: Any
                  ) -> list[ShardEntry]:
    """The normalized stage's map, its shards validated too (in the validated stage's folders,
    made ready here): the normalized entries; the validated ones wait for `take`."""
    stage_dir = ctx.ledger.store.stage_dir(spec.name, run, "validated")
    early = _EARLY[(spec.name, run)] = Early(*validated_dirs(stage_dir, spec))
    return map_shards(normalized_and_validated, [(e,) for e in todo], whole_batch=True,
                      address=ctx.address, label="normalize", on_batch=early.on_batch(),
                      **batching, spec=spec, out_dir=out_dir, bad_status=bad_status,
                      docs_dir=early.docs_dir, hashes_dir=early.hashes_dir,
                      judge=spec.on_failure != "drop_rows", dropped_dir=dropped_dir)


def done(spec: DatasetSpec, run: str, normalized: StageManifest) -> None:
    """The normalized stage's manifest is made: the early entries are for it."""
    if (early := _EARLY.get((spec.name, run))) is not None:
        early.made_for = (normalized.shards_root, normalized.created_at)


def take(spec: DatasetSpec, run: str) -> Early | None:
    return _EARLY.pop((spec.name, run), None)
