"""Versions in the pipeline: an append-only dataset's run claims, in its validated manifest,
the version it extends (the dataset's latest passed version on chain when the run starts;
none for its first). The commit checks the claim against the chain before anything is sent
(laas.anchors.services.versions.require_append_only), and so does the gate."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from laas.anchors.core.listing import first_of
from laas.anchors.core.models import StageManifest
from laas.anchors.core.versions import diff_manifests
from laas.anchors.services.versions import previous_version, prove_version
from laas.errors import LaasError
from laas.tasks.context import StageContext
from laas.tasks.dataset_spec import DatasetSpec
from laas.tasks.manifests import artifact_key
from laas.tasks.markdown import code


@task(name="version-claim", cache_policy=NO_CACHE)
def version_claim(ctx: StageContext, spec: DatasetSpec, run: str) -> dict | None:
    """The validated manifest's versioning fields (None for a mutable dataset). Needs the
    chain: an append-only run cannot tell what it extends without it."""
    if spec.versioning != "append_only":
        return None
    prev = previous_version(ctx.ledger.open_registry(), spec.name, run)
    return {"versioning": "append_only",
            "appends_to": prev.checkpoint_id if prev is not None else None}


@task(name="publish-version", cache_policy=NO_CACHE)
def publish_version(ctx: StageContext, validated: StageManifest) -> None:
    """What the Prefect UI shows of a committed append-only version: the version it extends
    (proven from the chain) and the shards it added. A store that cannot give the old
    manifest costs the artifact, not the run."""
    if validated.versioning is None:
        return
    from prefect.artifacts import create_markdown_artifact
    from prefect.logging import get_run_logger

    old = None
    if validated.appends_to is not None:
        try:
            old = prove_version(ctx.ledger.open_registry(), validated.appends_to, "extended")
        except LaasError as e:
            get_run_logger().warning("version artifact not published: %s", e)
            return
    create_markdown_artifact(
        key=artifact_key(validated.dataset, "version"),
        markdown=version_markdown(old.manifest if old else None, validated),
        description=f"{validated.dataset} run {validated.run}: version")


def version_markdown(old: StageManifest | None, new: StageManifest, most: int = 20) -> str:
    """An append-only version for people: what it extends and what it added (`most` keys)."""
    head = f"# {new.dataset} · run `{new.run}` · append-only version"
    if old is None:
        return f"{head}\n\nThe dataset's first version: {len(new.accepted)} shard(s)."
    added, _, _, unchanged = diff_manifests(old, new)
    lines = [head, "", f"Extends run `{old.run}` (checkpoint `{new.appends_to}`): its "
             f"{unchanged} shard(s) kept with the same leaves, {len(added)} added.", ""]
    lines += first_of([f"- added {code(c.key)}: content `{c.new.content_hash}`, {c.new.rows} "
                       "rows" for c in added], most,
                      lambda n: f"- … and {n} more (`laas diff {new.dataset}`)")
    return "\n".join(lines)
