"""Incremental runs: which shards of a run may reuse what the dataset's previous passed run
committed for them, and why the others may not. Pure: the previous run's three manifests come
in already proven against the chain (the caller's job: never the store's word alone), the
files they name are checked afterwards (`confirm`), and the answer is a plan.

A shard is reused only when nothing that decides its normalized and validated output
changed: the same key, the same source URI, the same raw bytes (hash and size), the same
contributor and signature (they go into every stage's leaf), accepted at
every stage of the previous run, and the same pipeline hash (the spec's normalize and validate
settings, the suite, the failure policy, the hash schemes and formats; see
tasks.reuse_work.pipeline_hash) committed in that run's validation report."""

from __future__ import annotations

from collections.abc import Container, Iterator, Sequence
from typing import Any

from laas.anchors.core.models import Record, ShardEntry, StageManifest
from laas.anchors.core.results import shard_results
from laas.anchors.core.shard_columns import Parked, ShardColumns, column, remade

REUSE_FORMAT = "laas-reuse-v1"  # part of the pipeline hash: a change in these rules is a new one


class Reused(Record):
    """A shard whose previous results may be reused, pending the check of its files."""

    key: str
    normalized: ShardEntry  # the previous run's normalized entry (its file, its hash)
    validated: ShardEntry  # its validated entry as committed (results in the report)

    def with_results(self, result: dict) -> ShardEntry:
        """The validated entry with its committed results put back (for the new report)."""
        return self.validated.model_copy(update={"validation": result})

    def prefilter(self, result: dict) -> ShardEntry:
        """drop_rows: the shard as validation left it before rows were dropped (its results
        and text keys), for when the dataset-wide duplicates around it changed."""
        v = self.validated
        return self.normalized.model_copy(update={
            "validation": result, "docs_uri": v.docs_uri, "text_keys_hash": v.text_keys_hash})


class ReusedColumns(Parked):
    """Reused shards, their two entries each parked as columns."""

    __slots__ = ("_norm", "_val")

    def __init__(self, reused: Sequence[Reused]):
        self._norm = ShardColumns(r.normalized for r in reused)
        self._val = ShardColumns(r.validated for r in reused)

    @classmethod
    def of(cls, normalized: ShardColumns, validated: ShardColumns) -> ReusedColumns:
        """The shards whose entries these columns hold (the same shards, in one order)."""
        out = object.__new__(cls)
        out._norm, out._val = normalized, validated
        return out

    def __len__(self) -> int:
        return len(self._norm)

    def __iter__(self) -> Iterator[Reused]:
        return map(_reused, self._norm, self._val)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return list(map(_reused, self._norm[i], self._val[i]))
        return _reused(self._norm[i], self._val[i])

    def at(self, indices: Sequence[int]) -> list[Reused]:
        """The shards at these positions, their entries made column by column."""
        return list(map(_reused, self._norm.at(indices), self._val.at(indices)))


_ALL_SET = set(Reused.model_fields)


def _reused(normalized: ShardEntry, validated: ShardEntry) -> Reused:
    # both are entries of proven manifests already: nothing to validate again (~10 us a shard)
    return remade(Reused, {"key": normalized.key, "normalized": normalized,
                           "validated": validated}, _ALL_SET)


def reused_side(plan: ReusePlan | None, side: str) -> Sequence[ShardEntry]:
    """A plan's reused shards' entries of one side, "normalized" or "validated", without
    making the other side's: a parked plan's column set as it is (none without a plan)."""
    norm, val = sides(plan.reused if plan is not None else ())
    return norm if side == "normalized" else val


def sides(reused: Sequence[Reused]) -> tuple[Sequence[ShardEntry], Sequence[ShardEntry]]:
    """Reused shards' normalized and validated entries: parked ones' column sets as they are."""
    if isinstance(reused, ReusedColumns):
        return reused._norm, reused._val
    return [r.normalized for r in reused], [r.validated for r in reused]


class ReusePlan(Record):
    """What a run takes from its dataset's previous passed run. `not_reused`: shards that run
    had, processed again, with why; shards it did not have are counted as new."""

    from_run: str | None = None
    reused: tuple[Reused, ...] = ()
    results: dict[str, Any] = {}  # key -> its committed validation results (the report's)
    not_reused: dict[str, str] = {}
    new: int = 0
    note: str | None = None  # why nothing at all was reused (first run, switched off, ...)

    def park(self) -> None:
        """Hold the reused shards' entries as columns from now on (core.shard_columns): the
        run keeps its plan to its end, two entries of every reused shard."""
        if not isinstance(self.reused, ReusedColumns):
            self.__dict__["reused"] = ReusedColumns(self.reused)

    def summary(self) -> dict[str, Any]:
        """What a run's summary says about reuse (the JSON and the printed lines)."""
        return {"from_run": self.from_run, "reused": len(self.reused),
                "processed": self.new + len(self.not_reused), "new": self.new,
                "not_reused": dict(self.not_reused), "note": self.note}


def nothing(note: str, shards: int = 0) -> ReusePlan:
    """A full run: every shard processed, and why."""
    return ReusePlan(note=note, new=shards)


def plan_reuse(raw: StageManifest, prev: tuple[StageManifest, StageManifest, StageManifest],
               pipeline_hash: str) -> ReusePlan:
    """The shards of `raw` (this run's raw stage) that may reuse the previous run's results.
    `prev`: that run's raw, normalized and validated manifests, each proven against its
    checkpoint on chain and following from its parent."""
    p_raw, p_norm, p_val = prev
    fields = ("key", "content_hash", "byte_size", "uri", "contributor", "contributor_signature")
    # this run's raw stage and the previous run's are parked (columns): read by column, and
    # only the entries of the shards reused are made again, in bulk
    now = zip(*(column(raw.shards, f) for f in fields), strict=True)
    ok = [row for row, st in zip(now, column(raw.shards, "status"), strict=True) if st == "ok"]
    if any((m.dataset_id, m.stage) != (raw.dataset_id, stage)
           for m, stage in zip(prev, ("raw", "normalized", "validated"), strict=True)):
        # what the chain answered is not this dataset's run (a lying or confused RPC)
        return nothing(f"the previous run offered ({p_val.dataset}/{p_val.run}) is not the "
                       f"three stages of a run of {raw.dataset}: every shard processed", len(ok))
    report = p_val.validation or {}
    if report.get("pipeline_hash") is None:
        return nothing(f"run {p_val.run} predates incremental runs (no pipeline hash in its "
                       "report): every shard processed", len(ok))
    if report["pipeline_hash"] != pipeline_hash:
        return nothing(f"the spec's normalize/validate settings, its suite or laas's version "
                       f"changed since run {p_val.run}: every shard processed", len(ok))
    before = {k: i for i, k in enumerate(column(p_raw.shards, "key"))}
    old = [column(p_raw.shards, f) for f in fields]
    status = column(p_raw.shards, "status")
    norm, val = (_accepted(m.shards) for m in (p_norm, p_val))
    results = {r["key"]: r for r in shard_results(report)}
    at_norm, at_val, why, new = [], [], {}, 0
    for key, content_hash, byte_size, uri, contributor, signature in ok:
        i = before.get(key)
        if i is None:
            new += 1
        elif (old[1][i], old[2][i]) != (content_hash, byte_size):
            why[key] = "source bytes changed"
        elif old[3][i] != uri:
            why[key] = "source moved (another URI)"
        elif (old[4][i], old[5][i]) != (contributor, signature):
            why[key] = "its contributor or signature changed"
        elif key not in norm or key not in val or status[i] != "ok":
            why[key] = f"set aside by run {p_val.run}: processed again"
        elif key not in results:
            why[key] = f"run {p_val.run} committed no validation result for it"
        else:
            at_norm.append(norm[key])
            at_val.append(val[key])
    keys = column(p_norm.shards, "key")
    plan = ReusePlan(from_run=p_val.run, not_reused=why, new=new,
                     results={(k := keys[i]): results[k] for i in at_norm})
    if isinstance(p_norm.shards, ShardColumns) and isinstance(p_val.shards, ShardColumns):
        # proven manifests are parked: the plan is parked from their columns, no entry made
        # (making 100,000 pairs, then parking them again, was most of a second run's plan)
        plan.__dict__["reused"] = ReusedColumns.of(p_norm.shards.take(at_norm),
                                                   p_val.shards.take(at_val))
    else:
        plan.__dict__["reused"] = tuple(map(_reused, (p_norm.shards[i] for i in at_norm),
                                            (p_val.shards[i] for i in at_val)))
    return plan


def _accepted(shards: Sequence[ShardEntry]) -> dict[str, int]:
    """Where each shard a manifest accepted is in it, by key (the last, as a dict by key
    would keep it)."""
    where = {k: i for i, k in enumerate(column(shards, "key"))}
    status = column(shards, "status")
    return {k: i for k, i in where.items() if status[i] == "ok"}


def confirm(plan: ReusePlan, problems: dict[str, str]) -> ReusePlan:
    """The plan once the reused files were checked: a shard whose file no longer hashes to
    its committed leaf (altered in the store) is processed again as new, and said so."""
    if not problems:
        return plan
    return plan.model_copy(update={
        "reused": _without(plan.reused, problems),
        "results": {k: v for k, v in plan.results.items() if k not in problems},
        "not_reused": {**plan.not_reused, **problems}})


def _without(reused: Sequence[Reused], keys: Container[str]) -> Sequence[Reused]:
    if isinstance(reused, ReusedColumns):  # parked: kept parked, no entry made
        at = [i for i, k in enumerate(column(reused._norm, "key")) if k not in keys]
        return ReusedColumns.of(reused._norm.take(at), reused._val.take(at))
    return tuple(r for r in reused if r.key not in keys)


def keeps_filtered(r: Reused, new_duplicates: int, dedupe_label: str | None) -> bool:
    """drop_rows: whether a reused shard's validated file still holds. Its failing rows are
    the same (same table, same suite); its dataset-wide duplicates (first occurrence kept, in
    key order) may not be, when shards before it were added, changed or removed. Kept only
    when it had none and has none: otherwise its rows are filtered again."""
    if dedupe_label is None:
        return True
    return new_duplicates == 0 and not (r.validated.dropped or {}).get(dedupe_label, 0)
