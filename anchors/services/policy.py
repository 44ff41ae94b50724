"""What one consumer of a dataset demands of it beyond a passed, proven checkpoint: a gate
policy (`laas gate --policy P.yaml`, or GatePolicy in Python). Pure: a manifest in, a reason
out; the gate (services.gate) applies it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from laas.anchors.core.models import StageManifest
from laas.errors import ConfigError, dotted, first_problem
from laas.networks import Finality


class GatePolicy(BaseModel):
    """What one consumer of a dataset demands beyond a passed, proven checkpoint (a YAML file
    given to `laas gate --policy`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    suites: tuple[str, ...] = ()  # suite names or hashes one of which must be the one run
    tolerate: tuple[Literal["warn", "error"], ...] = ("warn",)  # failed severities allowed
    max_set_aside: float = Field(1.0, ge=0, le=1)  # most quarantined/failed shards, a fraction
    committers: tuple[str, ...] = ()  # if given, every stage must be committed by one of these
    require_active_committer: bool = False  # and its committer must still hold the role
    finality: Finality | None = None  # at least this final (the stricter of this and the CLI's)

    @field_validator("committers")
    @classmethod
    def _addresses(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [a for a in v if not (isinstance(a, str) and len(a) == 42 and a[:2] == "0x")]
        if bad:
            raise ValueError(f"{bad[0]!r} is not an address (0x and 40 hex digits)")
        return v

    def violation(self, m: StageManifest) -> str | None:
        report = m.validation or {}
        if self.suites and not {report.get("suite"), report.get("suite_hash")} & set(self.suites):
            return (f"suite {report.get('suite')} ({str(report.get('suite_hash'))[:18]}…) is not "
                    f"one the policy accepts ({', '.join(self.suites)})")
        results = {r["key"]: r for r in report.get("shards", [])}  # v2: stored once, here
        for s in m.accepted:
            outcomes = (s.validation or results.get(s.key) or {}).get("outcomes", [])
            for o in outcomes:
                if _dropped_all(s, o):
                    continue  # its failing rows were dropped: what is left meets it
                if not o["success"] and o["severity"] not in self.tolerate:
                    return (f"shard {s.key}: {o['type']}({o['column'] or ''}) failed "
                            f"[{o['severity']}], which the policy does not tolerate")
        if m.shards and len(m.quarantined) / len(m.shards) > self.max_set_aside:
            return (f"{len(m.quarantined)} of {len(m.shards)} shards were set aside; the "
                    f"policy allows at most {self.max_set_aside:.0%}")
        return None

    @classmethod
    def load(cls, path: str) -> GatePolicy:
        import yaml

        try:
            return cls.model_validate(yaml.safe_load(Path(path).read_text()) or {})
        except ValidationError as e:
            loc, msg = first_problem(e)
            raise ConfigError(f"gate policy {path}: {dotted(loc)}: {msg}") from None
        except (OSError, yaml.YAMLError, ValueError) as e:
            raise ConfigError(f"gate policy {path}: {str(e).splitlines()[0]}") from None


def _dropped_all(s: object, o: dict) -> bool:
    """Whether every row that failed `o` on shard `s` was dropped (duplicates: each copy but
    the first, which is what is left, so any drop for them settles the outcome)."""
    label = f"{o['type']}({o['column'] or ''})"
    dropped = (s.dropped or {}).get(label)  # type: ignore[attr-defined]
    if not dropped:
        return False
    # Rows are dropped for uniqueness only as duplicates of the dataset's text keys.
    return o["type"] == "expect_column_values_to_be_unique" or dropped == o["unexpected_count"]
