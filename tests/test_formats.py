"""Every format x compression, on local disk and on S3 (moto on loopback): the same rows give
the same normalized hash; the same bytes give the same raw hash wherever they are stored."""

from __future__ import annotations

import gzip
import io
import json

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import zstandard

from laas.anchors.core.canonical import keccak256, to_hex
from laas.anchors.core.hashing import hash_table
from laas.datasets.make_sample import rows
from laas.errors import SchemaError, ShardReadError
from laas.tasks.dataset_spec import load_spec
from laas.tasks.raw_hashing import hash_raw
from laas.tasks.readers import read_table
from tests.fakes import read

SPEC = load_spec("instruct-sample").model_copy(update={"format": None})
ROWS = rows(9, 120) + [{"prompt": "ünïcødé ✓ prompt", "response": "emoji 🚀 and \"quotes\", commas",
                        "source": "s", "license": "mit", "lang": "en"}]


def encode(fmt: str) -> bytes:
    table = pa.Table.from_pylist(ROWS)
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS).encode()
    if fmt == "json":
        return json.dumps(ROWS).encode()
    buf = io.BytesIO()
    if fmt == "csv":
        pacsv.write_csv(table, buf)
    elif fmt == "parquet":
        pq.write_table(table, buf, compression="snappy")
    else:
        pq.write_table(table, buf, compression="zstd", row_group_size=7)
    return buf.getvalue()


COMPRESS = {"": lambda b: b, ".gz": lambda b: gzip.compress(b, mtime=0),
            ".zst": lambda b: zstandard.ZstdCompressor().compress(b)}
CASES = [(fmt, comp) for fmt in ("jsonl", "json", "csv") for comp in COMPRESS] + \
    [("parquet", ""), ("zstd-parquet", "")]


def name_of(fmt: str, comp: str) -> str:
    ext = "parquet" if fmt.endswith("parquet") else fmt
    return f"{fmt}-shard.{ext}{comp}"


EXPECTED = hash_table(pa.Table.from_pylist(ROWS, schema=pa.schema(
    [(c.name, pa.string()) for c in SPEC.columns])))


@pytest.mark.parametrize("fmt, comp", CASES)
def test_every_format_and_compression_locally(tmp_path, fmt: str, comp: str) -> None:
    path = tmp_path / name_of(fmt, comp)
    path.write_bytes(COMPRESS[comp](encode(fmt)))
    table = read_table(str(path), SPEC)
    assert table.num_rows == len(ROWS)
    assert hash_table(table) == EXPECTED


def test_every_format_and_compression_on_s3(s3, tmp_path) -> None:
    bucket = s3.bucket("formats")
    client = s3.client()
    for fmt, comp in CASES:
        data = COMPRESS[comp](encode(fmt))
        name = name_of(fmt, comp)
        client.put_object(Bucket=bucket, Key=f"in/{name}", Body=data)
        (tmp_path / name).write_bytes(data)
        uri = f"s3://{bucket}/in/{name}"
        assert hash_table(read_table(uri, SPEC)) == EXPECTED, name
        assert hash_raw(name, uri).content_hash == hash_raw(name, str(tmp_path / name)) \
            .content_hash


def test_missing_object_on_s3_is_named(s3) -> None:
    bucket = s3.bucket("gone")
    entry = hash_raw("x.jsonl", f"s3://{bucket}/x.jsonl")
    assert entry.status == "failed" and f"s3://{bucket}/x.jsonl" in entry.reason
    with pytest.raises(ShardReadError, match=f"s3://{bucket}/x.jsonl"):
        read_table(f"s3://{bucket}/x.jsonl", SPEC)


@pytest.mark.parametrize("name, data, exc, words", [
    ("wrong.jsonl", b"PAR1\x00\x01garbage", ShardReadError, "not valid jsonl"),
    ("wrong.parquet", b'{"prompt": "x"}\n', ShardReadError, "not valid parquet"),
    ("latin1.jsonl", '{"prompt": "caf\xe9", "response": "r", "source": "s", "license": "mit", '
     '"lang": "en"}\n'.encode("latin-1"), ShardReadError, "UTF-8"),
    ("typed.jsonl", b'{"prompt": 1, "response": true, "source": "s", "license": "mit", '
     b'"lang": "en"}\n', ShardReadError, "typed.jsonl"),
    ("narrow.csv", b"prompt,response\na,b\n", SchemaError, "missing column"),
    # a JSON string, neither an object (a row) nor an array of objects (rows)
    ("scalar.json", b'"x"', SchemaError, "not valid json: a JSON string, not an object or an "
                                         "array of objects"),
    ("narrow.parquet", None, SchemaError, "missing column(s) source, license, lang"),
])
def test_wrong_format_or_schema_names_the_shard(tmp_path, name, data, exc, words) -> None:
    path = tmp_path / name
    if data is None:
        pq.write_table(pa.table({"prompt": ["a"], "response": ["b"]}), path)
    else:
        path.write_bytes(data)
    with pytest.raises(exc) as info:
        read_table(str(path), SPEC)
    assert words in str(info.value) and name in str(info.value)


def test_credentials_in_a_uri_are_redacted_from_errors() -> None:
    uri = "s3://AKIAEXAMPLE:sup3rsecret@no-such-bucket-laas/x.jsonl"
    entry = hash_raw("x.jsonl", uri)
    assert "sup3rsecret" not in (entry.reason or "") and "***@" in entry.reason


@pytest.mark.parametrize("raw, shown", [
    ("s3://AKIA:secret@bucket/k.jsonl", "s3://***@bucket/k.jsonl"),
    ("https://user:pw@host/x", "https://***@host/x"),
    ('bucket name "AKIA:secret@b"', 'bucket name "***@b"'),
    ("s3://bucket/dir@2024/k.jsonl", "s3://bucket/dir@2024/k.jsonl"),
    ("/data/a.jsonl", "/data/a.jsonl"),
])
def test_redact(raw: str, shown: str) -> None:
    from laas.anchors.adapters.files import redact

    assert redact(raw) == shown


def test_a_manifests_bytes_are_pydantics_dump_however_its_report_is_held() -> None:
    """StageManifest.to_bytes writes the report as it is held instead of dumping it again:
    the bytes (and so the manifest hash) must be those of the full dump, with tuples,
    nested records or a value JSON has no type for."""
    from datetime import UTC, datetime

    from laas.anchors.core.canonical import canonical_json
    from laas.anchors.core.models import ShardEntry
    from tests.fakes import manifest

    shards = [ShardEntry(key="a", uri="/a", source_uri="/a", rows=2,
                         content_hash="0x" + "11" * 32)]
    for report in (None, {"shards": [{"key": "a", "outcomes": [{"examples": ("x", 1.5)}]}],
                          "dataset": [], "suite": "s"},
                   {"when": datetime(2026, 1, 1, tzinfo=UTC)}):
        m = manifest("d", "r", "validated", shards, validation=report) if report is None or \
            "when" not in report else manifest("d", "r", "validated", shards).model_copy(
                update={"validation": report})
        assert m.to_bytes() == canonical_json(m.model_dump(mode="json"))
        fresh = m.model_copy()  # nothing cached: streamed as the store writes it
        assert b"".join(fresh.chunks()) == m.to_bytes()
        assert fresh.manifest_hash == to_hex(keccak256(m.to_bytes()))


def test_a_big_manifest_is_written_in_chunks_with_the_bytes_and_name_of_its_whole_dump(
        tmp_path) -> None:
    """The store writes a manifest chunk by chunk while hashing it (never its whole JSON at
    once): the file holds exactly canonical_json's bytes, named by their keccak256, and a
    reader gets the manifest back."""
    from laas.anchors.adapters.artifacts import ArtifactStore, read_manifest
    from laas.anchors.core.canonical import canonical_json
    from laas.anchors.core.models import ShardEntry, new_manifest
    from laas.anchors.core.results import compact

    shards = [ShardEntry(key=f"part-{n:05d}.jsonl", uri=f"/v/part-{n:05d}.parquet",
                         source_uri=f"/s/part-{n:05d}.jsonl", rows=5, byte_size=700 + n,
                         content_hash="0x" + f"{n % 251:02x}" * 32) for n in range(6000)]
    held = [{"type": "expect_column_values_to_not_be_null", "column": "prompt",
             "severity": "error", "success": True, "unexpected_count": 0, "examples": [],
             "observed": None}]
    odd = [held[0] | {"success": False, "unexpected_count": 1, "examples": ["ünï ✓"]}]
    report = compact({"suite": "s", "suite_hash": "0x", "dataset": []},
                     ({"key": s.key, "success": n % 7 != 0, "outcomes": odd if n % 7 == 0
                       else held} for n, s in enumerate(shards)))
    m = new_manifest("big", "r1", "validated", "laas-table-v1", shards, passed=True,
                     validation=report)
    whole = canonical_json(m.model_dump(mode="json"))
    assert len(whole) > 3 << 19 and len(list(m.chunks())) >= 2  # never one piece
    uri = ArtifactStore(str(tmp_path)).write_manifest(m)
    assert read(uri) == whole and uri.endswith(f"manifest-{keccak256(whole).hex()}.json")
    assert read_manifest(uri, expected_hash=m.manifest_hash) == m
    assert [p.name for p in (tmp_path / "big" / "r1" / "validated").iterdir()] == [
        uri.rsplit("/", 1)[1]]  # no temporary file left


@pytest.mark.parametrize("bad, words", [
    (b'{"prompt": 5, "response": "r", "source": "s", "license": "mit", "lang": "en"}',
     "line 301: prompt is 5, not a string"),
    (b'{"prompt": "p", "response": {"nested": 1}, "source": "s"}',
     'line 301: response is {"nested": 1}, not a string'),
    (b'{"prompt": "p", "resp', "line 301: not JSON"),
    (b"[1, 2]", "line 301: a JSON array, not an object"),
])
def test_a_bad_jsonl_line_is_named_by_its_line_number(tmp_path, bad: bytes, words: str) -> None:
    """Arrow names a row of its parse block; the message names the line to open the file at,
    in a compressed shard too."""
    good = "".join(json.dumps(r) + "\n" for r in rows(4, 300)).encode()
    path = tmp_path / "crawl.jsonl.gz"
    path.write_bytes(gzip.compress(good + bad + b"\n" + good))
    with pytest.raises(ShardReadError) as e:
        read_table(str(path), SPEC)
    assert "crawl.jsonl.gz: not valid jsonl at " + words in str(e.value)


def test_entries_share_their_field_sets_without_one_copy_changing_another() -> None:
    """Shard entries (made, unpickled from Dask, copied) share one set of their given fields
    for memory; a copy that sets another field gets its own, and nothing else changes."""
    import pickle

    from laas.anchors.core.models import ShardEntry

    a = ShardEntry(key="a", uri="/a", source_uri="/a", rows=2)
    b = pickle.loads(pickle.dumps(ShardEntry(key="b", uri="/b", source_uri="/b", rows=3)))
    c = a.model_copy(update={"docs_uri": "/docs/a.html"})
    assert a.__pydantic_fields_set__ is b.__pydantic_fields_set__
    assert c.model_fields_set == {"key", "uri", "source_uri", "rows", "docs_uri"}
    assert a.model_fields_set == {"key", "uri", "source_uri", "rows"}
    assert a.model_dump(exclude_unset=True) == {"key": "a", "uri": "/a", "source_uri": "/a",
                                                "rows": 2}
    assert c.model_copy().__pydantic_fields_set__ is c.__pydantic_fields_set__
    # and their text values: each stage's entry of a shard repeats its key and URIs
    one, two = (pickle.loads(pickle.dumps(ShardEntry(key="part-1.jsonl", uri=f"/{d}/part-1.jsonl",
                                                     source_uri="/data/part-1.jsonl")))
                for d in ("data", "out"))
    assert one.key is two.key and one.uri is two.source_uri
    # and their field names: unpickled, each record had its own copy of all twenty
    assert all(a is b for a, b in zip(one.__dict__, two.__dict__, strict=True))
