"""Croissant 1.1 cards of a validated stage (MLCommons' JSON-LD dataset description), carrying
the checkpoint that proves them, and the check of a card against the facts it claims. Pure:
the caller hands in manifests and checkpoints it has already verified against the chain, and
the files' sizes and SHA-256 it has read; nothing here reads a file or the chain."""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import Any

from laas.anchors.core.licenses import held
from laas.anchors.core.models import Checkpoint, Record, StageManifest
from laas.anchors.core.results import outcomes_of

CROISSANT_1_1 = "http://mlcommons.org/croissant/1.1"
LAAS_NS = "urn:laas:croissant:"  # the namespace of laas's extension property
CARD_VERSION = "laas-croissant-v1"  # the shape of the laas:checkpoint block; a change is a v2
# The @context of Croissant 1.1, as mlcommons/croissant's own datasets/1.1 examples carry it,
# with the two keys mlcroissant 1.1's own context adds (it warns on a context that lacks any
# of them: equivalentProperty, samplingRate), plus laas's namespace; the
# laas block is a JSON literal so that JSON-LD tools keep it whole.
CONTEXT: dict[str, Any] = {
    "@language": "en", "@vocab": "https://schema.org/", "citeAs": "cr:citeAs",
    "column": "cr:column", "conformsTo": "dct:conformsTo", "containedIn": "cr:containedIn",
    "cr": "http://mlcommons.org/croissant/", "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"}, "dct": "http://purl.org/dc/terms/",
    "examples": {"@id": "cr:examples", "@type": "@json"}, "extract": "cr:extract",
    "field": "cr:field", "fileProperty": "cr:fileProperty", "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet", "format": "cr:format", "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset", "jsonPath": "cr:jsonPath", "key": "cr:key",
    "md5": "cr:md5", "parentField": "cr:parentField", "path": "cr:path",
    "recordSet": "cr:recordSet", "references": "cr:references", "regex": "cr:regex",
    "repeated": "cr:repeated", "replace": "cr:replace", "sc": "https://schema.org/",
    "separator": "cr:separator", "source": "cr:source", "subField": "cr:subField",
    "transform": "cr:transform", "equivalentProperty": "cr:equivalentProperty",
    "samplingRate": "cr:samplingRate",
    "laas": LAAS_NS, "laas:checkpoint": {"@id": "laas:checkpoint", "@type": "@json"},
}
DATA_TYPES = {"string": "sc:Text", "int64": "sc:Integer", "float64": "sc:Float",
              "bool": "sc:Boolean", "timestamp": "sc:DateTime"}
PII_CHECK = "expect_column_values_to_be_free_of_pii"
PARQUET = "application/x-parquet"


class FileFacts(Record):
    """One validated shard file as read back: its bytes' size and SHA-256 (from the same read
    that re-hashed it to its leaf)."""

    key: str
    url: str
    size: int
    sha256: str


class Column(Record):
    name: str
    type: str
    nullable: bool = True


class About(Record):
    """What the dataset spec says of the dataset (not on chain: the card's prose)."""

    description: str = ""
    source: str = ""
    columns: tuple[Column, ...] = ()
    licenses: tuple[str, ...] = ()


def card(m: StageManifest, cp: Checkpoint, files: Sequence[FileFacts], about: About, *,
         chain_id: int, registry: str) -> dict[str, Any]:
    """The Croissant 1.1 card of validated manifest `m` (committed as `cp`)."""
    report = m.validation or {}
    shards = [{"@type": "cr:FileObject", "@id": f"shard/{f.key}", "name": f.key,
               "contentUrl": f.url, "encodingFormat": PARQUET, "contentSize": f"{f.size} B",
               "sha256": f.sha256} for f in files]
    fields = [{"@type": "cr:Field", "@id": f"records/{c.name}", "name": f"records/{c.name}",
               "dataType": DATA_TYPES.get(c.type, "sc:Text"),
               "source": {"fileSet": {"@id": "validated-shards"},
                          "extract": {"column": c.name}}} for c in about.columns]
    return {
        # a copy: the caller's to change, never the module's
        "@context": copy.deepcopy(CONTEXT), "@type": "sc:Dataset", "conformsTo": CROISSANT_1_1,
        "name": m.dataset,
        "description": about.description or f"{m.dataset}, validated by laas",
        # the licenses its shards carry (a derived dataset's: its parents' shards' too), else
        # those the suite admits in a `license` column (a run before licenses were recorded)
        "license": list(held(m) or about.licenses) or "unknown",
        "url": cp.manifest_uri, "datePublished": m.created_at.isoformat(),
        "distribution": [*shards, {
            "@type": "cr:FileSet", "@id": "validated-shards", "name": "validated-shards",
            "description": "every validated shard of the run (the FileObjects above)",
            "encodingFormat": PARQUET, "includes": [f.url for f in files]}],
        "recordSet": [{"@type": "cr:RecordSet", "@id": "records", "name": "records",
                       "description": "the rows validation kept", "field": fields}],
        "rai:dataCollection": f"ingested by laas from {about.source or 'its parents'}",
        "rai:dataPreprocessingProtocol": [
            "raw: the source shards, hashed byte for byte",
            "normalized: parsed to the declared schema, written as Parquet",
            f"validated: suite {report.get('suite')} ({report.get('suite_hash')}); "
            f"{len(m.accepted)} shard(s) accepted, {len(m.quarantined)} set aside"],
        "rai:personalSensitiveInformation": pii_screen(m),
        "laas:checkpoint": {
            "version": CARD_VERSION, "chain_id": chain_id, "registry": registry,
            "dataset": m.dataset, "run": m.run, "stage": m.stage,
            "checkpoint_id": cp.checkpoint_id, "transaction": cp.tx_hash,
            "block": cp.block_number, "shards_root": cp.shards_root,
            "manifest_hash": cp.manifest_hash, "suite_hash": report.get("suite_hash")},
    }


def pii_screen(m: StageManifest) -> str:
    """The PII screen the suite ran and what it found, in one sentence. Rows flagged in shards
    set aside are counted apart: the dataset does not hold them, and counted with the rest
    they read as PII left in it (a corpus of package copyright files: 3,568 flagged, 59
    dropped, 3,509 of them in the 750 shards set aside)."""
    outcomes = [(k, o) for k, o in outcomes_of(m) if o.get("type") == PII_CHECK]
    if not outcomes:
        return "not screened: the validation suite has no PII check"
    aside = {s.key for s in m.quarantined}
    flagged = sum(o.get("unexpected_count") or 0 for k, o in outcomes if k not in aside)
    elsewhere = sum(o.get("unexpected_count") or 0 for k, o in outcomes if k in aside)
    dropped = sum(n for s in m.accepted for k, n in (s.dropped or {}).items()
                  if k.startswith(PII_CHECK))
    columns = sorted({o.get("column") or "" for _, o in outcomes})
    apart = (f"; {elsewhere} more in the {len(aside)} shard(s) set aside, which the dataset "
             "does not hold") if elsewhere else ""
    found = "see the manifest per shard" if flagged or elsewhere else "no PII found"
    return (f"screened by laas's PII patterns (e-mail addresses, phone numbers, ...) on "
            f"column(s) {', '.join(columns)}: {flagged} row(s) flagged, {dropped} dropped"
            f"{apart}; {found}")


def claims(doc: Any) -> tuple[dict[str, Any], dict[str, FileFacts]]:
    """The laas block and the FileObjects a card claims, or ValueError naming what is
    missing."""
    if not isinstance(doc, dict) or not isinstance(ext := doc.get("laas:checkpoint"), dict):
        raise ValueError("not a laas Croissant card: no laas:checkpoint property")
    if ext.get("version") != CARD_VERSION:
        raise ValueError(f"laas:checkpoint version {ext.get('version')!r} is not "
                         f"{CARD_VERSION}")
    if not re.fullmatch(r"0x[0-9a-fA-F]{64}", str(ext.get("checkpoint_id"))):
        raise ValueError(f"laas:checkpoint checkpoint_id {ext.get('checkpoint_id')!r} is not "
                         "a checkpoint id (0x and 64 hex digits)")
    files: dict[str, FileFacts] = {}
    for d in doc.get("distribution", []):
        if isinstance(d, dict) and d.get("@type") == "cr:FileObject":
            try:
                files[d["name"]] = FileFacts(key=d["name"], url=d["contentUrl"],
                                             size=int(str(d["contentSize"]).split()[0]),
                                             sha256=d["sha256"])
            except (KeyError, ValueError, TypeError):
                raise ValueError(f"FileObject {d.get('name')!r} lacks name, contentUrl, "
                                 "contentSize or sha256") from None
    return ext, files


def card_problem(ext: dict[str, Any], files: dict[str, FileFacts], m: StageManifest,
                 cp: Checkpoint, *, chain_id: int, registry: str) -> str | None:
    """What a card claims that the chain and the proven manifest `m` do not say, if anything."""
    facts = {"chain_id": chain_id, "registry": registry, "dataset": m.dataset, "run": m.run,
             "stage": "validated", "checkpoint_id": cp.checkpoint_id, "transaction": cp.tx_hash,
             "shards_root": cp.shards_root, "manifest_hash": cp.manifest_hash,
             "suite_hash": (m.validation or {}).get("suite_hash")}
    for name, want in facts.items():
        got = ext.get(name)
        if (got.lower() if isinstance(got, str) else got) != \
                (want.lower() if isinstance(want, str) else want):
            return f"laas:checkpoint {name} is {got!r}, the chain says {want!r}"
    if m.stage != "validated" or not cp.passed:
        return f"checkpoint {cp.checkpoint_id[:18]}… is not a passed validated stage"
    shards = {s.key: s for s in m.accepted}
    if extra := sorted(files.keys() - shards.keys()):
        return f"FileObject {extra[0]} is not a shard the validated stage accepted"
    if missing := sorted(shards.keys() - files.keys()):
        return f"shard {missing[0]} of the validated stage has no FileObject in the card"
    for key, f in files.items():
        if f.url != shards[key].uri:
            return (f"FileObject {key}: contentUrl {f.url} is not the validated shard "
                    f"{shards[key].uri}")
    return None


# What a card may say in its own words: edited prose does not change the rows a reader gets.
# Which suite ran and what its PII screen found are read from the proven manifest: claims.
_PROSE = {"name", "description", "license", "url", "datePublished", "rai:dataCollection"}


def shape_problem(doc: dict[str, Any], m: StageManifest, cp: Checkpoint,
                  files: dict[str, FileFacts], *, chain_id: int, registry: str) -> str | None:
    """Why a card (whose claims card_problem passed) is not the one laas exports for `m`,
    prose aside, if it is not. claims() reads only the FileObjects it knows, and a Croissant
    reader takes rows from all a card says: the FileSet's files, every FileObject however
    typed, each record set (inline `data`, a field's `transform`), under the card's own
    @context. So each of those must be the export's, rebuilt from the proven manifest, the
    claimed files and the card's own columns."""
    expected = card(m, cp, [files[s.key] for s in m.accepted], _about(doc),
                    chain_id=chain_id, registry=registry)
    context = doc.get("@context")
    if isinstance(context, dict) and "@base" in context:  # what mlcroissant adds in place:
        # it only resolves the card's relative @ids, which are compared whole below
        doc = {**doc, "@context": {k: v for k, v in context.items() if k != "@base"}}
    # the licenses the shards' entries commit are a claim, not prose (only a run that
    # recorded none takes its card's from the spec)
    prose = _PROSE - {"license"} if held(m) else _PROSE
    odd = sorted(doc.keys() - expected.keys()) or \
        [k for k in expected if k not in prose and doc.get(k) != expected[k]]
    if odd:
        return (f"its {odd[0]} is not the card laas exports for checkpoint "
                f"{cp.checkpoint_id[:18]}… (changed after export?); export it again with "
                "`laas export croissant`")
    return None


def _about(doc: dict[str, Any]) -> About:
    """The columns a card's first record set names (what its fields are rebuilt from)."""
    types = {v: k for k, v in reversed(DATA_TYPES.items())}
    try:
        fields = doc["recordSet"][0]["field"]
        return About(columns=tuple(Column(name=f["name"].removeprefix("records/"),
                                          type=types.get(f["dataType"], "string"))
                                   for f in fields))
    except (KeyError, IndexError, TypeError, AttributeError, ValueError):
        return About()  # nothing to rebuild from: the record set then differs
