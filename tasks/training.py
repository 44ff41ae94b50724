"""A training record from a Prefect flow (flows/gate.py with `record`): the shard set the gate
allowed, committed as the training job's checkpoint with its contributors' shares, and a
markdown artifact that shows the shares as a reward contract will prove them."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from laas.anchors.core.listing import first_of
from laas.anchors.core.models import Checkpoint
from laas.anchors.ports import Ledger
from laas.anchors.services.anchoring import record_training
from laas.anchors.services.gate import GateVerdict
from laas.anchors.services.training_shares import TrainingShares, training_shares
from laas.tasks.manifests import artifact_key


@task(name="record-training", cache_policy=NO_CACHE)
def record_training_set(ledger: Ledger, verdict: GateVerdict, name: str) -> Checkpoint:
    """Commit the record, then publish its shares read back from the chain (what a
    contributor will prove, not what was sent)."""
    from prefect.artifacts import create_markdown_artifact

    cp = record_training(ledger, verdict, name)
    shares = training_shares(ledger.open_registry(), verdict.dataset, name)
    create_markdown_artifact(key=artifact_key(verdict.dataset, "training", name),
                             markdown=shares_markdown(shares),
                             description=f"{verdict.dataset} training record {name}: "
                                         "contributor shares")
    return cp


def shares_markdown(s: TrainingShares, most: int = 20) -> str:
    """A training record's shares for people: the commitment, then the `most` largest."""
    cp, c = s.checkpoint, s.commitment
    lines = [f"# {s.dataset} · training record `{s.record}` · contributor shares", "",
             f"Checkpoint `{cp.checkpoint_id}` (block {cp.block_number}, transaction "
             f"`{cp.tx_hash}`), {cp.shard_count} shard(s).", ""]
    if c is None:
        return "\n".join(lines + ["No shard of this record names a contributor: its result "
                                  "hash is zero, as every record's was before "
                                  "laas-training-shares-v1."])
    lines += [f"Format `{c.format}`: root `{c.root}`, {c.contributors} contributor(s); the "
              f"record holds {c.rows:,} rows and {c.bytes:,} bytes.", "",
              "| contributor | rows | bytes | shards | share of rows |",
              "| --- | ---: | ---: | ---: | ---: |"]
    top = sorted(s.shares, key=lambda x: (-x.rows, x.contributor))
    lines += first_of([f"| `{x.contributor}` | {x.rows:,} | {x.bytes:,} | {x.shards} | "
                       f"{f'{100 * x.rows / c.rows:.1f}%' if c.rows else '-'} |" for x in top],
                      most, lambda n: f"\n… and {n} more.")
    lines += ["", "Each contributor's proof: `laas.api.training_shares(dataset, record, "
              "address)`; `.claim_args(address)` for ContributorRewards.claim."]
    return "\n".join(lines)
