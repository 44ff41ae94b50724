"""The raw stage with attribution (a spec's `contributors:`, laas.tasks.attribution): each shard
is hashed as always, then given its contributor, from its key, its sidecar row or its rows,
and the contributor's signature, checked against the raw content hash just computed. A shard
whose attribution does not hold is set aside with a one-line reason naming it and what to do;
the others go on. A sidecar that cannot be read, or names something that is not an address, is
a ConfigError naming the file and line (it is configuration, written by whoever runs the
source), and stops the run before anything is hashed."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

from laas.anchors.adapters.files import join, redact, url_to_fs
from laas.anchors.core.contribution import (
    address_problem,
    checksummed,
    contribution_digest,
    signature_problem,
)
from laas.anchors.core.models import Record, ShardEntry
from laas.errors import ConfigError, SchemaError, ShardReadError
from laas.tasks.attribution import Attribution
from laas.tasks.dataset_spec import DatasetSpec
from laas.tasks.raw_hashing import (
    glob_base,
    hash_parent_shard,
    hash_raw,
    hash_raw_batch,
    raw_entries,
)
from laas.tasks.stage_files import set_aside

SIGN_HELP = ("the contributor signs laas-contribution-v1 (EIP-712) over the dataset, the key "
             "and the raw content hash; see README, Contributors")


class Claim(Record):
    """What the flow process knows of a shard's contributor before its bytes are hashed."""

    address: str | None = None
    signature: str | None = None
    problem: str | None = None


def raw_work(spec: DatasetSpec, found: list[tuple]) -> tuple[Callable, list[tuple], dict]:
    """The raw stage's per-shard function, its items and keyword arguments for map_shards."""
    if spec.parents:
        return hash_inherited, found, {}
    a = spec.contributors
    if a is None:  # whole batches, compact results (raw_hashing.hash_raw_batch)
        return hash_raw_batch, [(f,) for f in found], {"whole_batch": True,
                                                        "on_batch": raw_entries}
    rows: dict[str, Claim] = {}
    if a.sidecar is not None:
        where, rows = read_sidecar(spec, a.sidecar)
        found = [f for f in found if f[1] != where]  # the sidecar is not a shard
    return hash_attributed, [(key, uri, claim_for(a, key, rows)) for key, uri in found], \
        {"spec": spec}


def sidecar_uri(spec: DatasetSpec, name: str) -> str:
    """A bare name in the source's folder; a URI as it is; a path relative to the spec."""
    if "/" not in name:
        fs, pattern = url_to_fs(spec.source_uri)
        return join(fs, f"{glob_base(pattern)}/{name}")
    if "://" in name or spec.spec_dir is None or name.startswith("/"):
        return name
    return str((spec.spec_dir / name).resolve())


def read_sidecar(spec: DatasetSpec, name: str) -> tuple[str, dict[str, Claim]]:
    """(its URI, key -> claim) of the sidecar file."""
    uri = sidecar_uri(spec, name)
    shown = f"contributors sidecar {redact(uri)}"
    try:
        fs, path = url_to_fs(uri)
        fs.invalidate_cache(path)  # read as it is now, not as an earlier run in this process saw it
        text = fs.cat_file(path).decode("utf-8")
        rows = _rows(text, name.endswith(".json"))
    except FileNotFoundError:
        raise ConfigError(f"{shown} does not exist: put it next to the source's shards, or "
                          "fix contributors.sidecar") from None
    except (OSError, UnicodeDecodeError, ValueError, TypeError) as e:
        raise ConfigError(f"{shown}: cannot be read ({type(e).__name__}: {e}); it must hold "
                          "key, address and optional signature per shard") from None
    out: dict[str, Claim] = {}
    for line, row in rows:
        key, address = row.get("key"), row.get("address")
        signature = row.get("signature") or None
        if not isinstance(key, str) or not key:
            raise ConfigError(f"{shown} {line}: no shard key")
        if problem := address_problem(address):
            raise ConfigError(f"{shown} {line} (shard {key}): address {problem}; fix the "
                              "sidecar")
        if key in out:
            raise ConfigError(f"{shown} {line}: shard {key} is listed twice")
        out[key] = Claim(address=checksummed(str(address)), signature=signature)
    return uri, out


def _rows(text: str, is_json: bool) -> list[tuple[str, dict[str, Any]]]:
    """(where, row) of each sidecar entry: CSV with a header, or JSON (a list of objects, or
    an object from key to address or to {address, signature})."""
    if not is_json:
        reader = csv.DictReader(io.StringIO(text))
        if not {"key", "address"} <= set(reader.fieldnames or ()):
            raise ValueError("the header must name the columns key and address")
        return [(f"line {n}", row) for n, row in enumerate(reader, start=2)]
    doc = json.loads(text)
    if isinstance(doc, dict):
        doc = [{"key": k, **(v if isinstance(v, dict) else {"address": v})}
               for k, v in doc.items()]
    if not isinstance(doc, list) or not all(isinstance(r, dict) for r in doc):
        raise ValueError("expected a list of objects, or an object keyed by shard")
    return [(f"entry {n}", row) for n, row in enumerate(doc, start=1)]


def claim_for(a: Attribution, key: str, sidecar: dict[str, Claim]) -> Claim:
    if a.sidecar is not None:
        return sidecar.get(key) or Claim(problem=f"no row for key {key!r} in the contributors "
                                                 f"sidecar {a.sidecar}: add one")
    if a.path is not None:
        found = a.pattern_address(key)
        if found is None:
            return Claim(problem=f"its key does not match contributors.path {a.path!r}: "
                                 "rename the object or fix the pattern")
        if problem := address_problem(found):
            return Claim(problem=f"contributors.path found {problem} in its key")
        return Claim(address=checksummed(found))
    return Claim()  # column: the rows say, once the bytes are hashed


def hash_inherited(key: str, uri: str, expect_table: str, contributor: str | None,
                   licenses: tuple[str, ...] | None = None,
                   bad_status: str = "failed") -> ShardEntry:
    """A derived dataset's source shard (hash_parent_shard), keeping the contributor its
    parent's validated leaf names (the gate proved it) and the licenses its parent's proven
    entry lists (they go on to the derived shard); the signature stays with the parent,
    whose dataset and key it was made for."""
    entry = hash_parent_shard(key, uri, expect_table, bad_status)
    if entry.status != "ok":
        return entry
    carried = {"contributor": contributor, "licenses": licenses}
    return entry.model_copy(update={k: v for k, v in carried.items() if v is not None})


def hash_attributed(key: str, uri: str, claim: Claim, bad_status: str = "failed", *,
                    spec: DatasetSpec) -> ShardEntry:
    """hash_raw, then the shard's contributor and signature, or the shard set aside."""
    entry = hash_raw(key, uri, bad_status)
    if entry.status != "ok":
        return entry
    a = spec.contributors
    assert a is not None
    address, problem = claim.address, claim.problem
    if problem is None and a.column is not None:
        address, problem = column_address(entry, spec, a.column)
    if problem is None and claim.signature is not None:
        problem = signature_mismatch(spec.name, entry, str(address), claim.signature)
    elif problem is None and a.require_signatures:
        problem = (f"no contributor signature in the sidecar {a.sidecar} "
                   f"(require_signatures: true): add one; {SIGN_HELP}")
    if problem is not None:
        return set_aside(entry, problem, bad_status)
    return entry.model_copy(update={"contributor": address,
                                    "contributor_signature": claim.signature})


def signature_mismatch(dataset: str, entry: ShardEntry, address: str, sig: str) -> str | None:
    """Why `sig` is not `address`'s signature of this shard's contribution, if it is not."""
    from laas.anchors.adapters.keys import recover

    if problem := signature_problem(sig):
        return f"{problem}; {SIGN_HELP}"
    try:
        signer = recover(contribution_digest(dataset, entry.key, str(entry.content_hash)), sig)
    except ValueError as e:
        return f"the contributor signature is not valid ({e}); {SIGN_HELP}"
    if signer.lower() != address.lower():
        return (f"the contributor signature is not {address}'s for this shard (it recovers "
                f"to {signer}: made for another shard, dataset or bytes); ask {address} to "
                f"sign raw content hash {entry.content_hash}")
    return None


def column_address(entry: ShardEntry, spec: DatasetSpec, column: str
                   ) -> tuple[str | None, str | None]:
    """(address, None) when every row of the shard names the same address in `column`, else
    (None, why). The rows are read from bytes checked against the raw hash just taken."""
    import pyarrow.compute as pc

    from laas.tasks.readers import iter_batches

    seen: set[str] = set()
    try:
        for batch in iter_batches(entry.uri, spec, expect=entry.content_hash):
            values = batch.column(column)
            if values.null_count:
                return None, (f"column {column} is empty in some rows: every row must name "
                              "the shard's contributor")
            seen.update(v.lower() for v in pc.unique(values).to_pylist())
            if len(seen) > 1:
                break
    except (ShardReadError, SchemaError) as e:
        return None, str(e).split(": ", 1)[-1]
    if len(seen) != 1:
        named = ", ".join(sorted(seen)[:2]) or "none"
        return None, (f"its rows name {len(seen)} contributors in column {column} ({named}); a "
                      "shard has one contributor: split it by contributor")
    address = seen.pop()
    if problem := address_problem(address):
        return None, f"column {column}: {problem}"
    return checksummed(address), None
