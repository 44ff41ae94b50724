"""Croissant cards from the chain, and cards checked against it: the validated manifest is
proven against its checkpoint (services.provenance). A file's SHA-256 is the one its manifest
committed (laas-manifest-v4), so exporting reads one file (the first, checked against it,
for the columns its footer names) and verifying streams each once against it; an older
run's file is read once, for its SHA-256 and its re-hash to the leaf the chain's root
commits to. The card itself is laas.anchors.core.croissant."""

from __future__ import annotations

import hashlib
import io
from typing import Any

from laas.anchors.adapters.files import open_uri, sha256_at, size_at
from laas.anchors.core.canonical import to_hex
from laas.anchors.core.card_fields import fields_problem, held_columns
from laas.anchors.core.croissant import (
    About,
    FileFacts,
    card,
    card_problem,
    claims,
    shape_problem,
)
from laas.anchors.core.hashing import rehash_parquet
from laas.anchors.core.merkle import leaf_hash
from laas.anchors.core.models import ShardEntry
from laas.anchors.ports import RegistryReader as Registry
from laas.anchors.services.provenance import Proven, prove_lineage, prove_rooted
from laas.errors import HashMismatch


def read_file(s: ShardEntry) -> FileFacts:
    """The shard's bytes read once: their SHA-256 and size for the card, and their
    laas-table-v1 hash, which must rebuild the shard's leaf (HashMismatch if not)."""
    try:
        with open_uri(s.uri) as f:
            data = f.read()
        digest, size, rows = rehash_parquet(io.BytesIO(data))
    except (OSError, ValueError) as e:
        raise HashMismatch(f"shard {s.key} ({s.uri}) cannot be re-read: "
                           f"{type(e).__name__}: {e}") from None
    if to_hex(leaf_hash(s.key, digest, size, rows, s.contributor)) != s.leaf:
        raise HashMismatch(f"shard {s.key} ({s.uri}) does not hash to its committed leaf: it "
                           "changed after validation")
    return FileFacts(key=s.key, url=s.uri, size=len(data),
                     sha256=hashlib.sha256(data).hexdigest())


def file_facts(s: ShardEntry, *, read: bool) -> FileFacts:
    """A shard's FileObject facts. Its committed sha256 (laas-manifest-v4: taken as the stage
    wrote the file, in the pass that hashed it) when the manifest has one: then exporting
    reads no file (its size is the store's), and verifying streams the bytes once against
    it. An older run's file is read whole, as read_file does."""
    if s.sha256 is None:
        return read_file(s)
    try:
        digest, size = sha256_at(s.uri) if read else (s.sha256, size_at(s.uri))
    except OSError as e:
        raise HashMismatch(f"shard {s.key} ({s.uri}) cannot be re-read: "
                           f"{type(e).__name__}: {e}") from None
    if digest != s.sha256:
        raise HashMismatch(f"shard {s.key} ({s.uri}) has sha256 {digest}, not the {s.sha256} "
                           "its validated manifest committed: it changed after validation")
    return FileFacts(key=s.key, url=s.uri, size=size, sha256=digest)


def _columns(uri: str) -> list[tuple[str, str]]:
    """(name, Arrow type) of each column of the Parquet file at a URI, from its footer."""
    import pyarrow.parquet as pq

    with open_uri(uri) as f:
        return [(field.name, str(field.type)) for field in pq.read_schema(f)]


def _address(registry: Registry) -> str:
    """The registry contract's address (the read-only client knows it; a fake may not)."""
    return str(getattr(registry, "address", ""))


def export_card(registry: Registry, cid: str, about: About) -> dict[str, Any]:
    """The Croissant card of validated checkpoint `cid` (which the caller's gate allowed)."""
    top = prove_rooted(registry, cid)
    files = [file_facts(s, read=False) for s in top.manifest.accepted]
    if top.manifest.accepted:  # the fields say what the files hold, whatever the spec says
        first = top.manifest.accepted[0]  # now; its footer read once its bytes are the leaf's
        file_facts(first, read=True)
        about = about.model_copy(update={"columns": held_columns(_columns(first.uri))})
    return card(top.manifest, top.checkpoint, files, about, chain_id=registry.chain_id(),
                registry=_address(registry))


def verify_card(registry: Registry, doc: Any) -> Proven:
    """The checkpoint a card claims, once the card, the chain (back to raw) and every file agree;
    HashMismatch naming the first thing that differs."""
    try:
        ext, files = claims(doc)
    except ValueError as e:
        raise HashMismatch(str(e)) from None
    cid = str(ext.get("checkpoint_id"))
    top = prove_rooted(registry, cid)
    where = {"chain_id": registry.chain_id(), "registry": _address(registry)}
    if problem := card_problem(ext, files, top.manifest, top.checkpoint, **where) or \
            shape_problem(doc, top.manifest, top.checkpoint, files, **where):
        raise HashMismatch(problem)
    prove_lineage(registry, top)  # and back to raw, as the gate that exported it did
    for s in top.manifest.accepted:
        read, said = file_facts(s, read=True), files[s.key]
        if (read.sha256, read.size) != (said.sha256, said.size):
            raise HashMismatch(f"FileObject {s.key}: the file at {s.uri} has sha256 "
                               f"{read.sha256} and {read.size} B, the card says {said.sha256} "
                               f"and {said.size} B")
    # the proven files were all written to one schema: the first one's footer says it
    if top.manifest.accepted and (problem := fields_problem(
            doc, _columns(top.manifest.accepted[0].uri))):
        raise HashMismatch(problem)
    return top
