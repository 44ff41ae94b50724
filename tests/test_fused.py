"""The normalized and validated stages' work done in one pass per shard gives each stage the
entries, files and text hashes the two stages give apart (the shard read once)."""

import pyarrow.parquet as pq

from laas.anchors.core.hashing import hash_stream
from laas.anchors.core.models import ShardEntry
from laas.datasets.make_sample import rows, write_jsonl
from laas.tasks import shard_validation
from laas.tasks.dataset_spec import load_spec
from laas.tasks.fused import normalized_and_validated
from laas.tasks.normalizer import normalize
from laas.tasks.shard_validation import validated_entries

SPEC = load_spec("instruct-sample")


def _raw(path) -> ShardEntry:
    with open(path, "rb") as f:
        digest, size = hash_stream(f)
    return ShardEntry(key=path.name, uri=str(path), source_uri=str(path), byte_size=size,
                      content_hash="0x" + digest.hex())


def _never(*args: object) -> None:
    raise AssertionError("a normalized file read back")


def test_one_pass_gives_each_stage_what_the_two_stages_give_apart(tmp_path, monkeypatch
                                                                   ) -> None:
    """Small shards pooled, two bigger than a validation batch (of 20 rows here), one that
    fails an expectation, one unreadable: the same normalized and validated entries,
    normalized files and text-hash files either way."""
    monkeypatch.setattr(shard_validation, "VALIDATE_BATCH", 20)
    src = tmp_path / "src"
    src.mkdir()
    sizes = [5, 40, 65, 7]
    for i, n in enumerate(sizes):
        rs = rows(i, n)
        if i == 1:
            rs[3]["license"] = "proprietary"  # fails the suite: set aside
        write_jsonl(src / f"s{i}.jsonl", rs)
    (src / "s9.jsonl").write_bytes(b"{not json\n")
    raws = [_raw(p) for p in sorted(src.iterdir())]
    out = {}
    for way in ("apart", "fused"):
        d = tmp_path / way
        for sub in ("n", "docs", "h"):
            (d / sub).mkdir(parents=True)
        args = (SPEC, str(d / "n"), "quarantined")
        if way == "apart":
            norm = [normalize(r, *args) for r in raws]
            val = validated_entries([e.as_parent() for e in norm], SPEC, "quarantined",
                                    str(d / "docs"), str(d / "h"))
        else:  # the normalized files are written, never read back
            for name in ("verified_table", "verified_batches"):
                monkeypatch.setattr(shard_validation, name, _never)
            norm, val = zip(*normalized_and_validated(raws, *args, str(d / "docs"),
                                                      str(d / "h"), True), strict=True)
        out[way] = [[e.model_dump() for e in es] for es in (norm, val)], sorted(
            pq.read_table(f).to_pylist() == pq.read_table(str(f).replace(way, "apart"))
            .to_pylist() for f in (d / "h").iterdir())
    (norm, val), files = out["fused"]
    assert files == [True]
    swap = (str(tmp_path / "fused"), str(tmp_path / "apart"))
    assert [[{k: v.replace(*swap) if isinstance(v, str) else v for k, v in e.items()}
             for e in es] for es in (norm, val)] == out["apart"][0]
    assert [e["status"] for e in val] == ["ok", "quarantined", "ok", "ok", "quarantined"]
    assert val[2]["rows"] == sizes[2]
    for e in norm:
        if e["status"] == "ok":  # the normalized files are the same bytes
            assert (tmp_path / "fused" / "n" / f"{e['key']}.parquet").read_bytes() == \
                (tmp_path / "apart" / "n" / f"{e['key']}.parquet").read_bytes()
