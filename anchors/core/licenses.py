"""The licenses a stage's shards carry (ShardEntry.licenses, laas-manifest-v4: the spec's
source license, the values of a `license` column, and for a derived dataset its parents'
shards' licenses), and a consumer's rule over them. Pure: the manifest comes in proven."""

from __future__ import annotations

from collections.abc import Iterable

from laas.anchors.core.models import StageManifest


def held(m: StageManifest) -> tuple[str, ...]:
    """Every license an accepted shard of `m` carries, sorted (none known: empty)."""
    return tuple(sorted({lic for s in m.accepted for lic in s.licenses or ()}))


def license_problem(m: StageManifest, allowed: Iterable[str]) -> str | None:
    """Why `m` holds data under a license outside `allowed` (compared case-insensitively,
    as SPDX ids are), naming the first such shard; a shard whose licenses are unknown (not
    recorded) is refused too, as nothing says it is under an allowed one."""
    ok = {a.casefold() for a in allowed}
    for s in m.accepted:
        if s.licenses is None:
            return (f"shard {s.key}: its license is not recorded (no `license` in its "
                    "dataset's spec nor a `license` column, or a run before laas recorded "
                    f"licenses); the policy accepts only {', '.join(sorted(allowed))}")
        if bad := sorted(lic for lic in s.licenses if lic.casefold() not in ok):
            return (f"shard {s.key} holds license {bad[0]}, which the policy does not accept "
                    f"(it accepts {', '.join(sorted(allowed))})")
    return None
