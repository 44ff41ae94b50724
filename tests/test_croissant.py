"""Croissant cards through the CLI on the real stack (anvil, Prefect, Dask): `laas export
croissant` after a run writes a card mlcroissant accepts, whose laas:checkpoint is the chain's;
`laas verify --croissant` proves it, and fails (exit 1, one line naming what differs) on a card
with a changed sha256 or root and on a validated file changed after the run."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from laas.anchors.core.canonical import name_id
from laas.anchors.core.models import checkpoint_id
from tests.conftest import Workspace
from tests.test_versions_pipeline import jsonl, run

pytestmark = pytest.mark.filterwarnings(  # mlcroissant builds on rdflib's deprecated graph
    "ignore:ConjunctiveGraph is deprecated:DeprecationWarning")


@pytest.fixture(scope="module")
def ws(workspace: Workspace) -> Workspace:
    workspace.add_dataset("carded", {"a.jsonl": jsonl(1), "b.jsonl": jsonl(2)})
    workspace.summary = run(workspace, "carded", "c1")
    r = workspace.laas("export", "croissant", "carded", "-o", "card.json")
    assert r.returncode == 0, r.stdout + r.stderr
    workspace.card = json.loads((workspace.root / "card.json").read_text())
    return workspace


def test_the_card_validates_with_mlcroissant_and_names_the_chain_checkpoint(ws) -> None:
    mlc = pytest.importorskip("mlcroissant")
    card = ws.card
    # a copy: mlcroissant adds to the card's @context in place, and the card is the module's
    assert not mlc.Dataset(jsonld=json.loads(json.dumps(card))).metadata.ctx.issues.errors
    ext = card["laas:checkpoint"]
    assert (ext["dataset"], ext["run"], ext["stage"]) == ("carded", "c1", "validated")
    assert ext["checkpoint_id"] == checkpoint_id(name_id("carded"), name_id("c1"), "validated")
    r = ws.laas("versions", "carded", "--json")
    (version,) = json.loads(r.stdout)
    assert (ext["shards_root"], ext["manifest_hash"], ext["transaction"]) == (
        version["shards_root"], version["manifest_hash"], version["tx_hash"])
    files = [d for d in card["distribution"] if d["@type"] == "cr:FileObject"]
    assert [f["name"] for f in files] == ["a.jsonl", "b.jsonl"]
    for f in files:
        data = Path(f["contentUrl"].removeprefix("file://")).read_bytes()
        assert f["sha256"] == hashlib.sha256(data).hexdigest()
        assert f["encodingFormat"] == "application/x-parquet"
    assert "response" in card["rai:personalSensitiveInformation"]
    assert [f["name"] for f in card["recordSet"][0]["field"]] == [
        "records/prompt", "records/response", "records/source", "records/license",
        "records/lang"]


def test_a_run_the_gate_denies_is_not_exported(ws) -> None:
    r = ws.laas("export", "croissant", "carded", "--run", "never-ran", "-o", "none.json")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "gate denied carded" in r.stderr and "never-ran" in r.stderr
    assert not (ws.root / "none.json").exists()


def verify(ws: Workspace, card: dict) -> tuple[int, str]:
    (ws.root / "changed.json").write_text(json.dumps(card))
    r = ws.laas("verify", "--croissant", "changed.json")
    return r.returncode, r.stdout + r.stderr


def test_verify_proves_the_card(ws) -> None:
    code, said = verify(ws, ws.card)
    assert code == 0, said
    assert "PROVEN" in said and "2 file(s)" in said and "prose" in said and "not checked" in said


def test_a_changed_sha256_or_root_fails_naming_it(ws) -> None:
    card = json.loads(json.dumps(ws.card))
    card["distribution"][1]["sha256"] = "0" * 64
    code, said = verify(ws, card)
    assert code == 1 and "NOT PROVEN" in said and "FileObject b.jsonl" in said, said
    card = json.loads(json.dumps(ws.card))
    card["laas:checkpoint"]["shards_root"] = "0x" + "11" * 32
    code, said = verify(ws, card)
    assert code == 1 and "shards_root" in said, said


def test_a_card_claiming_another_license_than_its_shards_carry_fails(ws) -> None:
    """The card's license is what the shards' committed licenses say, not prose: a card
    edited to say "mit" of shards under cc-by-4.0 verified."""
    assert ws.card["license"] and ws.card["license"] != "unknown"
    card = json.loads(json.dumps(ws.card))
    card["license"] = ["mit"]
    code, said = verify(ws, card)
    assert code == 1 and "NOT PROVEN" in said and "its license is not" in said, said
    card["license"] = "unknown"
    assert verify(ws, card)[0] == 1


@pytest.mark.parametrize("field, lie", [
    ("rai:personalSensitiveInformation", "screened: no PII found"),
    ("rai:dataPreprocessingProtocol", ["validated: a strict suite, reviewed by hand"])])
def test_a_card_claiming_another_screen_or_suite_than_its_run_fails(ws, field, lie) -> None:
    """What the PII screen found and which suite ran are read from the proven manifest, not
    written by whoever exports: a card edited to say "no PII found", or another suite, was
    PROVEN (found on a card of vim's runtime files, whose screen flagged file headers)."""
    card = json.loads(json.dumps(ws.card))
    card[field] = lie
    code, said = verify(ws, card)
    assert code == 1 and "NOT PROVEN" in said and f"its {field} is not" in said, said
    card = json.loads(json.dumps(ws.card))
    card["rai:dataCollection"] = "gathered from the project's own mirror"  # the spec's: prose
    card["description"] = "pairs, reviewed"
    assert verify(ws, card)[0] == 0


@pytest.mark.parametrize("edit", ["drop", "retype", "rename"])
def test_a_card_whose_fields_are_not_the_files_columns_fails(ws, edit) -> None:
    """The record set was rebuilt from the card's own fields, so a card that dropped a
    column, called a text column an integer or renamed one was PROVEN; a reader takes the
    rows as the card describes them. The fields are held to the validated files' columns."""
    card = json.loads(json.dumps(ws.card))
    fields = card["recordSet"][0]["field"]
    assert [f["name"] for f in fields][:2] == ["records/prompt", "records/response"]
    if edit == "drop":
        fields.pop(1)
    elif edit == "retype":
        fields[0]["dataType"] = "sc:Integer"
    else:
        fields[0]["name"] = fields[0]["@id"] = "records/question"
        fields[0]["source"]["extract"]["column"] = "question"
    code, said = verify(ws, card)
    assert code == 1 and "NOT PROVEN" in said and "its recordSet's fields are" in said, said
    assert "the validated files hold prompt (sc:Text), response (sc:Text)" in said, said


def test_a_validated_file_changed_after_the_run_fails_the_card(ws) -> None:
    """Last in this module: it changes a file of the run."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    uri = ws.card["distribution"][0]["contentUrl"]
    path = uri.removeprefix("file://")
    table = pq.read_table(path)
    pq.write_table(table.slice(1), path)  # one row fewer, still a valid Parquet file
    assert isinstance(table, pa.Table)
    code, said = verify(ws, ws.card)
    # held to the sha256 the validated manifest commits for the file (v4)
    assert code == 1 and "a.jsonl" in said and "changed after validation" in said, said
    assert "its validated manifest committed" in said
