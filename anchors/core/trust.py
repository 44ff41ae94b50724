"""The trust boundary, and the pure rules that hold it.

Trusted: the chain (through the configured RPC endpoint), the committer key, and what this
process computed from bytes it read and hashed itself.
Not trusted: the artifact store (anyone with write access to the bucket can put files there),
the lineage index (a cache), anything an earlier process left behind, file and run names.

So:
- a manifest found in the store is used (reused by a rerun, committed by `laas anchor
  --resume`) only if its hash is already on chain, or it carries an attestation
  (laas.anchors.adapters.attest) by a trusted committer key;
- before a stage is committed it must follow from its parent's committed manifest
  (`stage_problem`): the validated shards are exactly the normalized ones minus what was set
  aside, every normalized shard is a raw one, and the parent's manifest is the one whose hash
  the chain holds;
- the gate, `laas verify` and the verified reader apply the same rule to every stage back to
  raw, re-deriving everything from the chain and the bytes.

An attacker who controls the bucket can delete or corrupt artifacts (denial of service) but
cannot get rows past the gate that a committer did not validate. One who controls the index
can only misdirect lookups, which are re-checked against the chain. One who controls the RPC
endpoint can lie about the chain: use an endpoint you trust (or several that agree).

Everything here is pure: records in, a reason (one line) or None out.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from laas.anchors.core.models import STAGES, TRAINING, ShardEntry, StageManifest, name_problem
from laas.anchors.core.record_shares import training_result_hash
from laas.anchors.core.shard_columns import column

__all__ = ["expected_parent_stage", "name_problem", "stage_problem"]


def expected_parent_stage(stage: str) -> str | None:
    """The stage a stage's single parent must be (None for raw: no parent in its dataset)."""
    if stage == TRAINING:
        return "validated"
    i = STAGES.index(stage)
    return STAGES[i - 1] if i else None


# what stage_problem reads of a parent's shards and of a child's, by column
_PARENT = ("status", "contributor", "contributor_signature", "uri", "content_hash", "byte_size",
           "rows")
_CHILD = ("key", "status", "contributor", "contributor_signature", "source_uri", "parent_hash",
          "rows_in", "rows", "content_hash", "byte_size", "uri")


def _rows(shards: Sequence[ShardEntry], fields: tuple[str, ...]) -> Iterator[tuple]:
    return zip(*(column(shards, f) for f in fields), strict=True)


def stage_problem(parent: StageManifest, child: StageManifest) -> str | None:
    """Why `child` does not follow from `parent` (its committed parent stage), or None.

    - normalized from raw: the same shard keys; an accepted shard was accepted raw, from the
      raw shard's own URI; with unreadable records left out (drop_rows), it names the raw
      shard's hash as its parent and fewer rows than it read records;
    - validated from normalized: the same shard keys; an accepted shard is the normalized
      one, byte for byte (same content hash, size, rows and file), or, with rows dropped,
      names that shard's hash and row count as its parent (`laas verify` re-derives it);
    - training from validated: every shard is an accepted validated shard, unchanged, and
      its result hash commits its contributors' shares (laas.anchors.core.record_shares);
    - at every stage a shard names the contributor (and signature) its parent named."""
    want = expected_parent_stage(child.stage)
    where = f"{child.dataset}/{child.run}/{child.stage}"
    if want is None or parent.stage != want:
        return f"{where}: its parent is a {parent.stage} stage, not a {want} one"
    if child.parents != (parent.checkpoint_id,):
        return f"{where}: does not name {parent.run}/{parent.stage} as its only parent"
    if child.dataset_id != parent.dataset_id or (
            child.stage != TRAINING and child.run_id != parent.run_id):
        return f"{where}: its parent {parent.dataset}/{parent.run}/{parent.stage} is not " \
               f"this run's {want} stage"
    # by columns (the run's and its previous run's manifests are parked): no entry made
    by_key = dict(zip(column(parent.shards, "key"), _rows(parent.shards, _PARENT), strict=True))
    keys = set(column(child.shards, "key"))
    if child.stage != TRAINING and set(by_key) != keys:
        extra = sorted(keys - set(by_key))
        missing = sorted(set(by_key) - keys)
        return (f"{where}: its shards are not the {want} stage's (not there: "
                f"{', '.join(extra[:3]) or '-'}; left out: {', '.join(missing[:3]) or '-'})")
    if child.stage == TRAINING and child.result_hash != training_result_hash(child.shards):
        return (f"{where}: its result hash {child.result_hash[:18]}… is not the commitment to "
                "its shards' contributor shares")
    for key, status, who, signed, source, parent_hash, rows_in, rows, content, size, uri in \
            _rows(child.shards, _CHILD):
        if status != "ok":
            continue
        p = by_key.get(key)
        if p is None or p[0] != "ok":
            return f"{where}: shard {key} is accepted but was not accepted at {want}"
        # the contributor is decided once, at raw, and in the leaf from there on
        if (who, signed) != p[1:3]:
            field, mine, theirs = ("contributor", who, p[1]) if who != p[1] else (
                "contributor_signature", signed, p[2])
            return (f"{where}: shard {key} names {field.replace('_', ' ')} "
                    f"{mine or '-'}, the {want} stage {theirs or '-'}")
        if child.stage == "normalized":
            if source != p[3]:
                return f"{where}: shard {key} names another source than the raw stage hashed"
            if parent_hash is not None and (parent_hash != p[4] or rows_in is None
                                            or not 0 < rows < rows_in):  # records left out
                return (f"{where}: shard {key} does not derive from the raw stage's "
                        f"shard ({parent_hash[:18]}… vs {(p[4] or '-')[:18]}…)")
        elif child.stage == "validated" and parent_hash is not None:  # rows dropped:
            if parent_hash != p[4] or rows_in != p[6] or not 0 < rows <= p[6]:  # its own file
                return (f"{where}: shard {key} does not derive from the {want} stage's "
                        f"shard ({parent_hash[:18]}… vs {(p[4] or '-')[:18]}…)")
        elif (content, size, rows) != (p[4], p[5], p[6]) or uri != p[3]:
            return (f"{where}: shard {key} is not the {want} stage's shard "
                    f"({(content or '-')[:18]}… vs {(p[4] or '-')[:18]}…)")
    return None
