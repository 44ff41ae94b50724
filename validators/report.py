"""Validation results reduced to frozen records. The canonical JSON of a ValidationReport is
hashed into the checkpoint; nothing from Great Expectations' own objects is committed."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_serializer

from laas.anchors.core.canonical import hash_record
from laas.anchors.core.models import Record as Frozen
from laas.anchors.core.results import compact


class ExpectationOutcome(Frozen):
    type: str
    column: str | None = None
    severity: Literal["error", "warn"]
    success: bool
    unexpected_count: int | None = None
    examples: tuple[Any, ...] = ()
    observed: Any = None


class ShardValidation(Frozen):
    key: str
    success: bool  # every `error` expectation held
    outcomes: tuple[ExpectationOutcome, ...]

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    def summary(self) -> str:
        bad = [
            f"{o.type}({o.column or ''}) {o.unexpected_count or 0} unexpected"
            + (f", e.g. {o.examples[0]!r}" if o.examples else "")
            + ("" if o.severity == "error" else " [warn]")
            for o in self.failures
        ]
        return "; ".join(bad) or "all expectations met"


class ValidationReport(Frozen):
    suite: str
    suite_hash: str
    shards: tuple[ShardValidation, ...]
    dataset: tuple[ExpectationOutcome, ...] = ()  # checks over all accepted shards at once
    # How csv/tsv bytes became the rows checked, where the spec departs from the defaults.
    # Left out when it does not, so a report of a spec without `csv:` hashes as it always did.
    csv_dialect: dict[str, Any] | None = Field(None, exclude_if=lambda v: v is None)
    # Incremental runs: what besides a shard's bytes decided its output (tasks.reuse_work);
    # a later run reuses a shard only from a run with the same. Left out when unset (as above).
    pipeline_hash: str | None = Field(None, exclude_if=lambda v: v is None)
    # How the report is written (anchors.core.results): None, each shard's outcomes whole, as
    # reports in laas-manifest-v1..v4 are (and hash as committed); "laas-report-v2"
    # (laas-manifest-v5), each distinct list of outcomes once and the shards naming theirs.
    format: Literal["laas-report-v2"] | None = Field(None, exclude_if=lambda v: v is None)

    @model_serializer(mode="wrap")
    def _written(self, handler: Any) -> dict[str, Any]:
        out = handler(self)
        if self.format is None:
            return out
        return compact({k: v for k, v in out.items() if k != "shards"}, out["shards"])

    @property
    def dataset_success(self) -> bool:
        return all(o.success for o in self.dataset if o.severity == "error")

    @property
    def result_hash(self) -> str:
        return hash_record(self)
