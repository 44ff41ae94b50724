"""What the Prefect UI shows of a run with contributors: a table of their shares (rows and bytes
kept, shards) at the validated stage, and the shares root a training record would commit."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from laas.anchors.core.canonical import to_hex
from laas.anchors.core.models import StageManifest
from laas.anchors.core.shard_columns import column
from laas.anchors.core.shares import contributor_shares, shares_tree
from laas.tasks.manifests import artifact_key


def shares_table(m: StageManifest) -> list[dict]:
    """One row per contributor of the manifest's accepted shards (empty: none names one)."""
    if not any(column(m.shards, "contributor")):  # most datasets: no entry made to say so
        return []
    shares = contributor_shares(m.accepted)
    root = to_hex(shares_tree(shares).root)
    signed: dict[str, int] = {}
    for s in m.accepted:
        if s.contributor and s.contributor_signature:
            signed[s.contributor.lower()] = signed.get(s.contributor.lower(), 0) + 1
    return [{"contributor": s.contributor, "rows kept": s.rows, "bytes kept": s.bytes,
             "shards": s.shards, "signed shards": signed.get(s.contributor.lower(), 0),
             "shares root": root} for s in shares]


@task(name="publish-shares", cache_policy=NO_CACHE)
def publish_shares(validated: StageManifest) -> None:
    rows = shares_table(validated)
    if not rows:
        return
    from prefect.artifacts import create_table_artifact

    create_table_artifact(key=artifact_key(validated.dataset, "contributors"), table=rows,
                          description=f"{validated.dataset} run {validated.run}: contributor "
                                      "shares (`laas contributors` proves them)")
