"""A derived dataset's sources: the shards of its parent datasets, each parent gated in full
first (its latest run, every shard re-hashed and proven against the chain)."""

from __future__ import annotations

from laas.errors import ConfigError
from laas.tasks.context import StageContext
from laas.tasks.dataset_spec import DatasetSpec


def derived_sources(ctx: StageContext, spec: DatasetSpec
                    ) -> tuple[list[tuple], tuple[str, ...]]:
    """(PARENT/KEY, uri, table hash, contributor, licenses) of every parent's accepted shard,
    sorted, and the parents' validated checkpoints, which become the raw checkpoint's
    parents. The contributor and the licenses are those the parent's proven manifest records
    for the shard: the derived dataset's shards carry them on (its leaves, its card and a
    gate policy see them)."""
    found, parents = [], []
    for name in spec.parents:
        verdict = ctx.gate(name)
        if not verdict.allowed:
            raise ConfigError(f"dataset {spec.name}: parent {name} does not pass the gate "
                              f"({verdict.reason}); fix or re-run {name} first")
        n = len(verdict.keys)
        # a parent shard's contributor (in its proven leaf) and licenses carry over
        found += [(f"{name}/{key}", uri, table_hash, who, lic) for key, uri, table_hash, who, lic
                  in zip(verdict.keys, verdict.shards, verdict.hashes,
                         verdict.contributors or (None,) * n, verdict.licenses or (None,) * n,
                         strict=True)]
        parents.append(verdict.checkpoint.checkpoint_id)
    return sorted(found, key=lambda f: f[0]), tuple(parents)
