"""Who contributed to a dataset version or a training record, and what each can prove: rows and
bytes kept per contributor (the validated entries' rows, after drop_rows) and, per shard, its
leaf v2 with its Merkle proof. Everything is proven before it is shown, on the path the gate and
`laas verify` take (services.provenance): the checkpoint read from the chain, its manifest held
to the committed hash, its leaves to the committed root, every stage back to raw, and each
shard's proof checked against the root the chain holds, as the gate checks them (and one
through the contract's verifyLeaf view: an eth_call per shard would not scale to 100,000).
The store's word alone is never shown. Imports neither Prefect, Dask nor GX."""

from __future__ import annotations

from laas.anchors.core.canonical import from_hex, name_id, to_hex
from laas.anchors.core.contribution import contribution_digest
from laas.anchors.core.merkle import verify
from laas.anchors.core.models import TRAINING, Record, checkpoint_id
from laas.anchors.core.shares import contributor_shares, shares_tree
from laas.anchors.ports import RegistryReader as Registry
from laas.anchors.services.provenance import prove_lineage, prove_rooted
from laas.errors import HashMismatch, LineageNotFound


class ShardClaim(Record):
    """One shard a contributor can prove: its leaf v2 reaches `root` by `proof`."""

    key: str
    uri: str
    rows: int
    bytes: int
    content_hash: str
    raw_content_hash: str | None = None  # what the contributor's signature is over
    leaf: str
    proof: tuple[str, ...]  # sibling hashes, leaf to root (OpenZeppelin MerkleProof order)
    signature: str | None = None
    signed: bool = False  # the signature recovers, now, to the contributor


class ContributorShare(Record):
    contributor: str
    rows: int
    bytes: int
    shards: tuple[ShardClaim, ...]


class ContributorsReport(Record):
    """The contributors of one checkpoint (a validated stage, or a training record) as proven."""

    dataset: str
    run: str
    stage: str
    checkpoint_id: str
    tx_hash: str
    block_number: int
    shards_root: str  # as stored on chain
    manifest_hash: str  # as stored on chain
    shares_root: str  # the shares tree (laas-shares-v1) a training record commits
    contributors: tuple[ContributorShare, ...]
    unattributed: int  # accepted shards that name no contributor (leaf v1)


def find_checkpoint(registry: Registry, dataset: str, run: str | None = None,
                    training: str | None = None) -> str:
    """The checkpoint id asked for: a training record, a run's validated stage, or the
    dataset's latest passed version (from the chain)."""
    if training is not None or run is not None:
        name, stage = (training, TRAINING) if training is not None else (run, "validated")
        registry.locate(name_id(dataset), name_id(str(name)))
        cid = checkpoint_id(name_id(dataset), name_id(str(name)), stage)
        if registry.stored_or_none(cid) is None:
            what, fix = ("training record", f"`laas gate {dataset} --record {name}` makes "
                         "one") if stage == TRAINING else ("run", f"`laas runs {dataset}`")
            raise LineageNotFound(f"{dataset} has no {what} {name} on chain ({stage} checkpoint "
                                  f"{cid[:18]}…): check the name, or {fix}")
        return cid
    from laas.anchors.services.versions import list_versions

    found = list_versions(registry, dataset)
    if not found:
        raise LineageNotFound(f"no passed version of {dataset} on chain: run it first, or "
                              "name one with --run")
    return found[-1][1].checkpoint_id


def contributors_report(registry: Registry, cid: str) -> ContributorsReport:
    """The proven contributors of checkpoint `cid`; HashMismatch naming the first thing that
    does not hold."""
    top = prove_rooted(registry, cid, ("validated", TRAINING), needs=": contributors are "
                       "counted on a validated stage or a training record")
    m, stored, cp = top.manifest, top.stored, top.checkpoint
    if not stored.passed:
        raise HashMismatch(f"run {m.run} did not pass validation: its shards are no version "
                           "anyone may train on, so it has no shares")
    tree = m.tree()
    chain = prove_lineage(registry, top)  # back to raw: the contributor is the raw stage's
    raw = {s.key: s.content_hash for s in chain[-1].manifest.shards}
    root = from_hex(stored.shards_root)
    claims: dict[str, list[ShardClaim]] = {}
    on_chain = False  # one proof through the contract's own view; every one against its root
    for s in m.accepted:
        if s.contributor is None:
            continue
        leaf = from_hex(str(s.leaf))
        proof = tree.proof(leaf)
        if not verify(proof, root, leaf) or not (on_chain or registry.verify_leaf(cid, proof,
                                                                                 leaf)):
            raise HashMismatch(f"shard {s.key}: its proof does not reach the {m.stage} root "
                               "on chain")
        on_chain = True
        claims.setdefault(s.contributor.lower(), []).append(ShardClaim(
            key=s.key, uri=s.uri, rows=s.rows, bytes=s.byte_size, content_hash=str(s.content_hash),
            raw_content_hash=raw.get(s.key), leaf=str(s.leaf),
            proof=tuple(to_hex(p) for p in proof), signature=s.contributor_signature,
            signed=_signed(m.dataset, s.key, raw.get(s.key), s.contributor,
                           s.contributor_signature)))
    shares = contributor_shares(m.accepted)
    return ContributorsReport(
        dataset=m.dataset, run=m.run, stage=m.stage, checkpoint_id=cp.checkpoint_id,
        tx_hash=cp.tx_hash, block_number=cp.block_number, shards_root=stored.shards_root,
        manifest_hash=stored.manifest_hash, shares_root=to_hex(shares_tree(shares).root),
        contributors=tuple(ContributorShare(contributor=s.contributor, rows=s.rows,
                                            bytes=s.bytes,
                                            shards=tuple(claims[s.contributor.lower()]))
                           for s in shares),
        unattributed=sum(1 for s in m.accepted if s.contributor is None))


def _signed(dataset: str, key: str, raw_hash: str | None, who: str,
            signature: str | None) -> bool:
    """Whether `signature` is `who`'s laas-contribution-v1 over the shard's raw hash (the
    ingest checked it; this says so again from what the chain proves)."""
    if signature is None or raw_hash is None:
        return False
    from laas.anchors.adapters.keys import recover

    try:
        return recover(contribution_digest(dataset, key, raw_hash), signature).lower() \
            == who.lower()
    except ValueError:
        return False
