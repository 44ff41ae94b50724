"""on_failure: drop_rows on a real anvil, Prefect and Dask: 1% of the rows fail, 99% are kept,
the gate allows the dataset, the reader yields exactly the kept rows, `laas verify` re-derives
a validated shard from its normalized parent and the committed set of dropped rows."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from laas.anchors.adapters.artifacts import read_manifest
from laas.datasets.make_sample import rows
from tests.conftest import Workspace

PHONE = "call me on (415) 555-0100 tonight"


def _jsonl(rs: list[dict]) -> bytes:
    return ("\n".join(json.dumps(r) for r in rs) + "\n").encode()


@pytest.fixture(scope="module")
def ws(workspace: Workspace) -> Workspace:
    shards = {k: rows(700 + k, 250, seed=700 + k) for k in range(4)}
    for rs in shards.values():  # 1% of the rows fail: a phone number, a bad license
        rs[5]["prompt"] = PHONE
        rs[9]["license"] = "proprietary-scraped"
    shards[3][100] = dict(shards[1][50])  # a later exact duplicate of another shard's row
    bad = rows(800, 40, seed=800)
    for r in bad[:10]:  # 25% of this shard fails: over max_dropped_rows, set aside whole
        r["prompt"] = PHONE
    files = {f"s{k}.jsonl": _jsonl(rs) for k, rs in shards.items()} | {"z.jsonl": _jsonl(bad)}
    workspace.add_dataset("drop", files, on_failure="drop_rows", max_dropped_rows=0.1)
    r = workspace.laas("run", "drop", "--run", "d1", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    workspace.summary = json.loads(r.stdout)
    workspace.shards = shards
    return workspace


def test_failing_rows_are_dropped_and_the_rest_kept(ws) -> None:
    validated = read_manifest(ws.summary["checkpoints"][-1]["manifest_uri"])
    assert validated.version == "laas-manifest-v5"  # v2's fields, each file's sha256, v5's report
    kept = {s.key: s for s in validated.accepted}
    assert sorted(kept) == ["s0.jsonl", "s1.jsonl", "s2.jsonl", "s3.jsonl"]
    for s in kept.values():  # the sha256 each file's writer took of the bytes it wrote
        assert s.sha256 == hashlib.sha256(Path(s.uri).read_bytes()).hexdigest(), s.key
    assert all(s.derived for s in kept.values())  # each its own file, written by the filter
    (aside,) = validated.quarantined
    assert aside.key == "z.jsonl" and "over max_dropped_rows" in aside.reason
    total_in = sum(s.rows_in for s in kept.values())
    total_kept = sum(s.rows for s in kept.values())
    assert total_in == 1000 and total_kept == 1000 - 8 - 1  # 99% kept
    assert kept["s3.jsonl"].dropped["expect_column_values_to_be_unique(_laas_text_hash)"] == 1
    assert "expect_column_values_to_be_unique(_laas_text_hash)" not in \
        (kept["s1.jsonl"].dropped or {})  # the first occurrence stays
    assert all(s.validation is None for s in validated.shards)  # v2: stored once, in the report
    dropped = pq.read_table(kept["s0.jsonl"].dropped_uri).to_pylist()
    assert sorted(r["_laas_row"] for r in dropped) == [5, 9]
    assert any("free_of_pii" in f for r in dropped for f in r["_laas_failed"])
    assert ws.summary["rows_dropped"]["s0.jsonl"].startswith("2 of 250 rows dropped")
    check = next(c for c in ws.summary["dataset_checks"]
                 if c["type"] == "laas_dataset_dropped_rows_at_most")
    assert check["success"] and check["unexpected_count"] == 9


def test_the_gate_allows_and_the_reader_yields_exactly_the_kept_rows(ws) -> None:
    from laas.api import verified_reader
    from laas.settings import Settings

    r = ws.laas("gate", "drop", "--json")
    verdict = json.loads(r.stdout)
    assert r.returncode == 0, verdict["reason"]
    settings = Settings(home=ws.root / ".laas", anvil_port=ws.port)
    got = list(verified_reader("drop", settings=settings))
    # a training script may name the dataset by its spec's file, as the CLI takes it
    assert list(verified_reader(str(ws.root / "datasets" / "drop.yaml"), settings=settings)) == got
    assert len(got) == 991 and not [x for x in got if x["prompt"] == PHONE]
    assert not [x for x in got if x["license"] == "proprietary-scraped"]
    want = []
    for k in range(4):
        for i, row in enumerate(ws.shards[k]):
            if i in (5, 9) or (k == 3 and i == 100):
                continue
            want.append(row)
    assert got == want


def test_verify_rederives_a_validated_shard_and_refuses_a_forged_drop_set(ws) -> None:
    validated = read_manifest(ws.summary["checkpoints"][-1]["manifest_uri"])
    shard = next(s for s in validated.accepted if s.key == "s2.jsonl")
    r = ws.laas("verify", shard.uri, "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["rederived"] is True
    text = ws.laas("verify", shard.uri)
    assert "re-derived" in text.stdout
    # Someone edits the dropped-rows file (claims another row was dropped): refused.
    path = Path(shard.dropped_uri)
    original = path.read_bytes()
    try:
        t = pq.read_table(path)
        forged = t.set_column(t.schema.get_field_index("_laas_row"), "_laas_row",
                              pa.array(t.column("_laas_row").to_numpy() + 1))
        pq.write_table(forged, path)
        bad = ws.laas("verify", shard.uri)
        assert bad.returncode == 1 and "not the committed row set" in bad.stdout, bad.stdout
        # ...or shows other text than the normalized rows it names, under the right numbers
        text = next(c for c in t.column_names if t.schema.field(c).type == pa.string())
        pq.write_table(t.set_column(t.schema.get_field_index(text), text,
                                    pa.array(["someone else's words"] * t.num_rows)), path)
        bad = ws.laas("verify", shard.uri)
        assert bad.returncode == 1, bad.stdout
        assert "dropped-rows file does not hold the normalized rows it names" in bad.stdout
    finally:
        path.write_bytes(original)


def test_a_policy_tolerating_nothing_accepts_dropped_failures(ws, tmp_path) -> None:
    """The failures that were dropped are not failures of what training reads."""
    policy = tmp_path / "strict.yaml"
    policy.write_text("tolerate: []\nmax_set_aside: 0.5\n")
    r = ws.laas("gate", "drop", "--policy", str(policy))
    assert r.returncode == 0, r.stdout


def test_the_unfiltered_files_of_a_filtered_shard_are_not_proven(ws) -> None:
    """The raw and normalized files of a shard whose rows were dropped still hold those rows:
    verify names the validated file instead of proving them."""
    validated = read_manifest(ws.summary["checkpoints"][-1]["manifest_uri"])
    normalized = read_manifest(ws.summary["checkpoints"][1]["manifest_uri"])
    shard = next(s for s in normalized.accepted if s.key == "s0.jsonl")
    for path in (shard.uri, shard.source_uri):
        r = ws.laas("verify", path)
        assert r.returncode == 1 and "still holds the rows validation dropped" in r.stdout, \
            r.stdout + r.stderr
        assert next(s.uri for s in validated.accepted if s.key == "s0.jsonl") in r.stdout


def test_duplicate_keys_rewritten_in_the_store_are_caught(ws, tmp_path) -> None:
    """The text-hash files lie in the store between the validate pass and the row filter:
    a rewritten one no longer matches the digest each entry carries."""
    import shutil

    from laas.tasks.key_files import verified_text_keys

    validated = read_manifest(ws.summary["checkpoints"][-1]["manifest_uri"])
    src = Path(ws.summary["checkpoints"][-1]["manifest_uri"]).parent / "text-hashes"
    copy = tmp_path / "text-hashes"
    shutil.copytree(src, copy)
    good, bad = verified_text_keys(str(copy), list(validated.shards))
    assert not bad and set(good) >= {"s0.jsonl", "s3.jsonl"}
    for f in copy.glob("*.parquet"):  # every key made unique: no duplicate left to drop
        t = pq.read_table(f)
        pq.write_table(t.set_column(1, "h", pa.array([f"{i:032x}" for i in range(len(t))])), f)
    good, bad = verified_text_keys(str(copy), list(validated.shards))
    assert "s3.jsonl" in bad and "rewritten" in bad["s3.jsonl"]


def test_a_training_record_of_a_filtered_dataset(ws) -> None:
    r = ws.laas("gate", "drop", "--record", "model-drop", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["recorded"]["shard_count"] == 4


def test_odd_files_in_the_store_stop_nothing(ws) -> None:
    """A named pipe where a manifest would be, and another dataset's attested manifest copied
    into a made-up run of this one: the gate neither hangs nor believes it."""
    import os
    import shutil

    store = Path(ws.summary["checkpoints"][0]["manifest_uri"]).parents[3]
    pipe_dir = store / "drop" / "zz-pipe" / "raw"
    pipe_dir.mkdir(parents=True)
    os.mkfifo(pipe_dir / ("manifest-" + "ab" * 32 + ".json"))
    from datetime import UTC, datetime

    from laas.anchors.core.canonical import name_id
    from laas.anchors.services.anchoring import store_manifest
    from laas.settings import Settings
    from laas.wiring import ledger

    raw = read_manifest(ws.summary["checkpoints"][0]["manifest_uri"])
    other = raw.model_copy(update={"dataset": "other", "dataset_id": name_id("other"),
                                   "created_at": datetime.now(UTC)})
    uri = Path(store_manifest(ledger(Settings(home=ws.root / ".laas", anvil_port=ws.port)),
                              other))
    fake = store / "drop" / "zz-copied" / "raw"
    fake.mkdir(parents=True)
    for f in [uri, *uri.parent.glob("attest-*.json")]:  # attested, but of another dataset
        shutil.copy(f, fake / f.name)
    r = ws.laas("gate", "drop", timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_rows_repeating_a_shard_set_aside_stay_in_the_shard_that_repeats_them(ws) -> None:
    """Package docs repeat each other's license texts (dbus-bin's copyright is dbus-daemon's):
    when the first copy's shard goes aside whole (too many rows with contact details), the
    next copy is not dropped as its duplicate, which left the dataset without either (a
    clean shard set aside for repeating rows the dataset does not hold)."""
    first = rows(900, 40, seed=900)
    for r in first[:10]:  # 25% fail: over max_dropped_rows, set aside whole
        r["prompt"] = PHONE
    again = [dict(r) for r in first[10:]] + rows(901, 20, seed=901)  # its 30 clean rows
    ws.add_dataset("aside", {"a.jsonl": _jsonl(first), "b.jsonl": _jsonl(again)},
                   on_failure="drop_rows", max_dropped_rows=0.1)
    r = ws.laas("run", "aside", "--run", "a1", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    validated = read_manifest(json.loads(r.stdout)["checkpoints"][-1]["manifest_uri"])
    (kept,) = validated.accepted
    assert (kept.key, kept.rows, kept.dropped) == ("b.jsonl", 50, None)
    (aside,) = validated.quarantined
    assert aside.key == "a.jsonl" and "over max_dropped_rows" in aside.reason


def test_text_keys_read_back_per_shard_in_row_order_from_interleaved_and_empty_files(
        tmp_path) -> None:
    import blake3
    import pyarrow as pa
    import pyarrow.parquet as pq

    from laas.anchors.core.models import ShardEntry
    from laas.tasks.key_files import verified_text_keys
    from laas.tasks.text_hashes import text_keys_bytes

    schema = pa.schema([("key", pa.string()), ("h", pa.string())])
    pq.write_table(pa.table({"key": ["b", "a", "b", "a"], "h": ["b1", "a1", "b2", "a2"]},
                            schema=schema), tmp_path / "batch-1.parquet")
    pq.write_table(schema.empty_table(), tmp_path / "batch-2.parquet")
    want = {"a": ["a1", "a2"], "b": ["b1", "b2"]}
    entries = [ShardEntry(key=k, uri=k, source_uri=k, text_keys_hash="0x" + blake3.blake3(
        text_keys_bytes(v)).hexdigest()) for k, v in want.items()]
    good, bad = verified_text_keys(str(tmp_path), entries)
    assert not bad and {k: v.to_pylist() for k, v in good.items()} == want


def test_text_keys_of_a_shard_split_over_two_files_are_read_file_after_file(tmp_path) -> None:
    import blake3
    import pyarrow as pa
    import pyarrow.parquet as pq

    from laas.anchors.core.models import ShardEntry
    from laas.tasks.key_files import verified_text_keys
    from laas.tasks.text_hashes import text_keys_bytes

    schema = pa.schema([("key", pa.string()), ("h", pa.string())])
    for n, hashes in enumerate((["a1", "a2"], ["a3"])):
        pq.write_table(pa.table({"key": ["a"] * len(hashes), "h": hashes}, schema=schema),
                       tmp_path / f"batch-{n}.parquet")

    def entry(hashes: list[str]) -> ShardEntry:
        return ShardEntry(key="a", uri="a", source_uri="a", text_keys_hash="0x" + blake3.blake3(
            text_keys_bytes(hashes)).hexdigest())

    good, bad = verified_text_keys(str(tmp_path), [entry(["a1", "a2", "a3"])])
    assert not bad and good["a"].to_pylist() == ["a1", "a2", "a3"]
    good, bad = verified_text_keys(str(tmp_path), [entry(["a1", "a2"])])  # not the second file's
    assert "a" in bad and not good
