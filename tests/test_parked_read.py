"""A proven manifest read straight into columns (core.parked_read) is the manifest the model
reads, or the model reads it: the same entries, fields set, bytes and root; anything the model
would convert or refuse goes to the model, which says why; altered bytes are still refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from laas.anchors.adapters.artifacts import read_manifest
from laas.anchors.core.models import ShardEntry, StageManifest, new_manifest
from laas.anchors.core.parked_read import parked_manifest
from laas.anchors.core.shard_columns import ShardColumns
from laas.errors import HashMismatch, LaasError
from tests.test_shard_columns import _entries


def _manifest(entries: list[ShardEntry], **fields: object) -> StageManifest:
    return new_manifest("ds", "run-1", "validated", "laas-table-v1", entries, passed=True,
                        **fields)


def _varied() -> list[ShardEntry]:
    """Entries setting every kind of field: results, rows dropped, licenses, contributors."""
    out = []
    for i, e in enumerate(_entries(40)):
        if e.byte_size >= 1 << 63:
            e = e.model_copy(update={"byte_size": 7})  # orjson's ints: 64 bits (see below)
        if i % 4 == 1:
            e = e.model_copy(update={"parent_hash": "0x" + "ab" * 32, "rows_in": 9,
                                     "dropped": {"expect_x": 2}, "dropped_rows_hash": "0x01",
                                     "dropped_uri": f"/d/{i}.parquet", "text_keys_hash": "h"})
        if i % 6 == 2:
            e = e.model_copy(update={"validation": {"success": True, "n": [1, 2.5, None]},
                                     "docs_uri": "/docs/x.html", "licenses": ()})
        if i % 7 == 3:
            e = e.model_copy(update={"contributor": "0x" + "12" * 20,
                                     "contributor_signature": "0x" + "34" * 65})
        out.append(e)
    return out


def _same(a: StageManifest, b: StageManifest) -> None:
    assert a == b and a.__pydantic_fields_set__ == b.__pydantic_fields_set__
    assert list(a.shards) == list(b.shards)
    assert [e.__pydantic_fields_set__ for e in a.shards] == \
        [e.__pydantic_fields_set__ for e in b.shards]
    assert a.to_bytes() == b.to_bytes() and a.tree().root == b.tree().root


def test_a_manifest_read_into_columns_is_the_manifest_the_model_reads() -> None:
    m = _manifest(_varied(), validation={"pipeline_hash": "0x01", "shards": [{"k": 1}]})
    data = m.to_bytes()
    parked = parked_manifest(data)
    assert parked is not None and isinstance(parked.shards, ShardColumns)
    _same(parked, StageManifest.model_validate_json(data))
    assert parked.manifest_hash == m.manifest_hash


@pytest.mark.parametrize("change", [
    lambda d: d["shards"][0].update(byte_size="12"),  # lax: the model converts it
    lambda d: d["shards"][0].update(rows=True),
    lambda d: d["shards"][1].update(byte_size=1 << 70),  # beyond orjson's 64 bits
    lambda d: d["shards"][2].update(licenses=["mit", 3]),
    lambda d: d["shards"][3].update(dropped={"x": "2"}),
    lambda d: d["shards"][4].update(status="maybe"),  # refused: the model says why
    lambda d: d["shards"][5].update(planted="x"),
    lambda d: d["shards"][6].pop("uri"),
    lambda d: d.update(run="../escape"),
    lambda d: d.update(version="laas-manifest-v1"),  # v4 fields in a v1 manifest
    lambda d: d.update(validation=[1]),
], ids=["str-int", "bool-int", "huge-int", "license-type", "dropped-type", "status",
        "extra-field", "missing-uri", "bad-name", "old-version", "report-type"])
def test_anything_the_model_would_convert_or_refuse_is_left_to_the_model(change) -> None:
    doc = json.loads(_manifest(_varied()).to_bytes())
    change(doc)
    data = json.dumps(doc).encode()
    assert parked_manifest(data) is None
    try:
        model = StageManifest.model_validate_json(data)
    except ValueError:
        return  # refused by the model, as read_manifest reports it
    model.park()
    assert model.shards  # converted: read_manifest(parked=True) gives the model's


def test_a_parked_read_still_refuses_altered_bytes_and_says_why(tmp_path: Path) -> None:
    m = _manifest(_varied())
    path = tmp_path / "m.json"
    path.write_bytes(m.to_bytes())
    read = read_manifest(str(path), m.manifest_hash, parked=True)
    assert isinstance(read.shards, ShardColumns)
    _same(read, read_manifest(str(path), m.manifest_hash))
    path.write_bytes(m.to_bytes().replace(b'"rows":1', b'"rows":2', 1))
    with pytest.raises(HashMismatch, match="altered after the commit"):
        read_manifest(str(path), m.manifest_hash, parked=True)
    doc = json.loads(m.to_bytes())
    doc["shards"][0]["status"] = "maybe"
    path.write_text(json.dumps(doc))
    with pytest.raises(LaasError, match="not a laas manifest"):
        read_manifest(str(path), parked=True)
    doc["shards"][0].update(status="ok", byte_size="12")  # lax: the model's, parked
    path.write_text(json.dumps(doc))
    lax = read_manifest(str(path), parked=True)
    assert isinstance(lax.shards, ShardColumns) and lax.shards[0].byte_size == 12
