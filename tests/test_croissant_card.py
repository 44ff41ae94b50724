"""Croissant cards over the in-memory fakes: the card of a validated stage (which mlcroissant
accepts), and `verify_card` refusing a card or a file that was changed, naming what differs.
The same through the CLI against anvil, Prefect and Dask is tests/test_croissant.py."""

from __future__ import annotations

import hashlib
import io
import json

import pytest

from laas.anchors.core.croissant import About, Column, pii_screen
from laas.anchors.services.croissant import export_card, verify_card
from laas.errors import HashMismatch
from tests.fakes import FakeLedger, manifest, read
from tests.test_services import tamper

ABOUT = About(description="pairs", source="s3://bucket/pairs/*.jsonl",
              columns=(Column(name="prompt", type="string"),
                       Column(name="response", type="string")),
              licenses=("cc-by-4.0",))


@pytest.fixture
def ran() -> tuple[FakeLedger, list]:
    ledger = FakeLedger()
    return ledger, ledger.ingest("ds", "r1", set_aside={"part-2.jsonl": "failed expectations"})


def exported(ran: tuple) -> dict:
    ledger, (_, _, validated) = ran
    return export_card(ledger.registry, validated.checkpoint_id, ABOUT)


# mlcroissant's rdflib warns of its own deprecated use of ConjunctiveGraph
@pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")
def test_card_lists_each_validated_file_with_its_sha256_and_mlcroissant_accepts_it(ran) -> None:
    mlc = pytest.importorskip("mlcroissant")
    card = exported(ran)
    validated = ran[1][2]
    files = [d for d in card["distribution"] if d["@type"] == "cr:FileObject"]
    assert [f["name"] for f in files] == [s.key for s in validated.accepted]  # not part-2
    for f, s in zip(files, validated.accepted, strict=True):
        data = read(s.uri)
        assert (f["contentUrl"], f["sha256"], f["contentSize"]) == (
            s.uri, hashlib.sha256(data).hexdigest(), f"{len(data)} B")
    ext = card["laas:checkpoint"]
    assert (ext["checkpoint_id"], ext["shards_root"], ext["manifest_hash"]) == (
        validated.checkpoint_id, validated.shards_root, validated.manifest_hash)
    assert [f["dataType"] for f in card["recordSet"][0]["field"]] == ["sc:Text", "sc:Text"]
    assert "fake-suite" in card["rai:dataPreprocessingProtocol"][-1]
    dataset = mlc.Dataset(jsonld=json.loads(json.dumps(card)))  # raises on an invalid card
    assert dataset.metadata.name == "ds"
    assert not dataset.metadata.ctx.issues.errors


def test_the_card_as_exported_verifies(ran) -> None:
    assert verify_card(ran[0].registry, exported(ran)).manifest.run == "r1"
    card = exported(ran)
    card["@context"]["@base"] = "cr_base_iri/"  # as mlcroissant leaves a card it read
    assert verify_card(ran[0].registry, card).manifest.run == "r1"


@pytest.mark.parametrize(("change", "named"), [
    (lambda c: c["distribution"][0].update(sha256="00" * 32), "has sha256"),
    (lambda c: (c["distribution"][0].update(contentUrl=c["distribution"][1]["contentUrl"])),
     "contentUrl"),
    (lambda c: c["laas:checkpoint"].update(shards_root="0x" + "11" * 32), "shards_root"),
    (lambda c: c["distribution"].pop(0), "has no FileObject"),
    (lambda c: c["laas:checkpoint"].update(checkpoint_id="cp-1"), "is not a checkpoint id"),
])
def test_a_changed_card_fails_naming_what_differs(ran, change, named) -> None:
    card = exported(ran)
    change(card)
    with pytest.raises(HashMismatch, match=named):
        verify_card(ran[0].registry, card)


EVIL = "file:///tmp/planted/evil.parquet"


def _planted_file(c: dict) -> dict:
    return {**c["distribution"][0], "contentUrl": EVIL}


@pytest.mark.parametrize("change", [
    # the FileSet the record set reads: a planted file among its files
    lambda c: c["distribution"][-1]["includes"].append(EVIL),
    # a second FileObject of a shard's name, before the one checked
    lambda c: c["distribution"].insert(0, _planted_file(c)),
    # a FileObject typed by the full IRI cr:FileObject stands for
    lambda c: c["distribution"].insert(0, {**_planted_file(c), "name": "more",
                                           "@type": "http://mlcommons.org/croissant/FileObject"}),
    # a record set whose rows are in the card itself
    lambda c: c["recordSet"].append({"@type": "cr:RecordSet", "@id": "more", "name": "more",
                                     "field": c["recordSet"][0]["field"],
                                     "data": [{"records/prompt": "planted"}]}),
    # a field that rewrites what it reads
    lambda c: c["recordSet"][0]["field"][0]["source"].update(
        transform={"replace": "(.*)/planted"}),
    # the same property under another name the context expands the same way
    lambda c: c.update({"cr:recordSet": [{"@type": "cr:RecordSet", "@id": "more",
                                          "name": "more", "data": [{"x": "planted"}]}]}),
    # the context remapping a term
    lambda c: c["@context"].update(includes="laas:unchecked"),
], ids=["fileset-includes", "twin-fileobject", "iri-typed-fileobject", "inline-records",
        "field-transform", "aliased-property", "context-remap"])
def test_a_card_carrying_rows_from_anything_but_its_checked_files_is_refused(ran, change
                                                                             ) -> None:
    """What a Croissant reader takes rows from (the FileSet, every FileObject however
    written, the record sets, the context) must be what the export wrote: a card changed in
    the store to add rows verifies no more (exit 1 through `laas verify --croissant`)."""
    card = json.loads(json.dumps(exported(ran)))  # as read from its file
    change(card)
    with pytest.raises(HashMismatch, match="not the card laas exports"):
        verify_card(ran[0].registry, card)


def test_a_changed_file_fails_the_card_and_the_export(ran) -> None:
    card = exported(ran)
    tamper(ran[0], ran[1][2].accepted[0].uri)
    with pytest.raises(HashMismatch, match="part-0.jsonl.*does not hash to its committed leaf"):
        verify_card(ran[0].registry, card)
    with pytest.raises(HashMismatch, match="does not hash to its committed leaf"):
        exported(ran)


@pytest.fixture
def ran_v4() -> tuple[FakeLedger, list]:
    """A run whose entries carry their files' sha256 (laas-manifest-v4), as laas writes now."""
    ledger = FakeLedger()
    return ledger, ledger.ingest("ds", "r1", file_sha256=True)


def test_a_v4_card_takes_each_sha256_from_the_manifest_and_reads_no_file(ran_v4,
                                                                          monkeypatch) -> None:
    from laas.anchors.adapters import files

    validated = ran_v4[1][2]
    assert validated.version == "laas-manifest-v4"
    sizes = {s.key: len(read(s.uri)) for s in validated.accepted}

    first = validated.accepted[0].uri  # read once: its columns are the card's fields
    real, opened = files.open_uri, []

    def first_only(uri: str, *a: object, **k: object) -> object:
        opened.append(uri)
        assert uri == first, f"export read {uri}"
        return real(uri, *a, **k)

    with monkeypatch.context() as mp:
        mp.setattr(files, "open_uri", first_only)
        mp.setattr("laas.anchors.services.croissant.open_uri", first_only)
        card = exported(ran_v4)
    assert set(opened) == {first}
    files_ = [d for d in card["distribution"] if d["@type"] == "cr:FileObject"]
    assert [(f["name"], f["sha256"], f["contentSize"]) for f in files_] == [
        (s.key, s.sha256, f"{sizes[s.key]} B") for s in validated.accepted]
    assert verify_card(ran_v4[0].registry, card).manifest.run == "r1"


def test_a_v4_file_rewritten_to_the_same_rows_fails_the_card(ran_v4) -> None:
    """The same rows under another codec keep the leaf; the committed sha256 tells."""
    import pyarrow.parquet as pq

    from laas.anchors.adapters.files import open_uri
    from tests.fakes import write

    card = exported(ran_v4)
    s = ran_v4[1][2].accepted[0]
    with open_uri(s.uri) as f:
        table = pq.read_table(f)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    write(s.uri, buf.getvalue())
    with pytest.raises(HashMismatch, match=f"shard {s.key} .*has sha256 .*not the "
                                           f"{s.sha256} its validated manifest committed"):
        verify_card(ran_v4[0].registry, card)


def test_a_card_without_the_laas_block_is_refused(ran) -> None:
    with pytest.raises(HashMismatch, match="no laas:checkpoint"):
        verify_card(ran[0].registry, {"@type": "sc:Dataset"})


def test_pii_screen_says_what_was_flagged_and_dropped() -> None:
    pii = {"type": "expect_column_values_to_be_free_of_pii", "column": "response",
           "success": False, "unexpected_count": 2, "severity": "error"}
    validated = manifest("ds", "r1", "validated", [], validation={
        "suite": "s", "suite_hash": "0x", "dataset": [],
        "shards": [{"key": "a", "outcomes": [pii]}]})
    assert "2 row(s) flagged, 0 dropped" in pii_screen(validated)
    assert pii_screen(manifest("ds", "r1", "validated", [])).startswith("not screened")


def test_pii_flagged_in_shards_set_aside_is_not_counted_as_in_the_dataset() -> None:
    """A corpus of package copyright files, most set aside for contact details: the card
    said '3568 row(s) flagged, 59 dropped', as if 3,509 such rows were left in it."""
    from laas.anchors.core.entries import ShardEntry

    def pii(n: int) -> dict:
        return {"type": "expect_column_values_to_be_free_of_pii", "column": "text",
                "success": False, "unexpected_count": n, "severity": "error"}

    entries = [ShardEntry(key="kept", uri="/v/kept", source_uri="/s/kept", rows=10,
                          dropped={"expect_column_values_to_be_free_of_pii(text)": 1}),
               ShardEntry(key="aside", uri="/v/aside", source_uri="/s/aside", rows=10,
                          status="quarantined", reason="over max_dropped_rows 10%")]
    validated = manifest("ds", "r1", "validated", entries, validation={
        "suite": "s", "suite_hash": "0x", "dataset": [],
        "shards": [{"key": "kept", "outcomes": [pii(1)]}, {"key": "aside", "outcomes": [pii(7)]}]})
    assert "column(s) text: 1 row(s) flagged, 1 dropped; 7 more in the 1 shard(s) set aside, " \
           "which the dataset does not hold; see the manifest per shard" in pii_screen(validated)
    assert pii_screen(manifest("ds", "r1", "validated", [])).startswith("not screened")


def test_a_card_field_is_held_to_the_type_its_files_hold() -> None:
    """Each Arrow type a validated file can hold (the spec's five) is one Croissant dataType,
    and a field whose name or type differs is named."""
    from laas.anchors.core.card_fields import fields_problem

    doc = {"recordSet": [{"field": [
        {"name": f"records/{n}", "dataType": t} for n, t in (
            ("s", "sc:Text"), ("i", "sc:Integer"), ("f", "sc:Float"), ("b", "sc:Boolean"),
            ("t", "sc:DateTime"))]}]}
    held = [("s", "large_string"), ("i", "int64"), ("f", "double"), ("b", "bool"),
            ("t", "timestamp[us, tz=UTC]")]
    assert fields_problem(doc, held) is None
    assert fields_problem(doc, [("s", "string"), *held[1:]]) is None
    said = fields_problem(doc, [("s", "string"), ("i", "string"), *held[2:]])
    assert said is not None and "the validated files hold s (sc:Text), i (sc:Text)," in said
    assert "fields are s (sc:Text), i (sc:Integer)," in said
