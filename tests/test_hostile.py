"""Hostile inputs through the per-shard path (raw hash, then normalize), as Dask runs it: each
is quarantined with a reason naming the shard, or read correctly; none raises, hangs, or
writes outside the stage's folder."""

from __future__ import annotations

import gzip
import io
import json
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from laas.anchors.adapters.files import redact
from laas.datasets.make_sample import rows
from laas.tasks.dataset_spec import load_spec
from laas.tasks.normalizer import normalize
from laas.tasks.raw_hashing import discover, hash_raw

SPEC = load_spec("instruct-sample")
COLUMNS = ["prompt", "response", "source", "license", "lang"]


def good_jsonl(n: int = 20) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows(5, n)).encode()


def parquet_bytes() -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows(6, 50)), buf)
    return buf.getvalue()


def wide_csv(columns: int) -> bytes:
    names = COLUMNS + [f"extra{i}" for i in range(columns - len(COLUMNS))]
    values = ["p", "r", "s", "mit", "en"] + ["0"] * (columns - len(COLUMNS))
    return (",".join(names) + "\n" + ",".join(values) + "\n").encode()


HOSTILE: dict[str, tuple[bytes, str | None]] = {  # name -> (bytes, words in the reason or None)
    "zero.jsonl": (b"", "empty (0 bytes)"),
    "footerless.parquet": (parquet_bytes()[:-30], "footerless.parquet"),
    "truncated.jsonl.gz": (gzip.compress(good_jsonl())[:-25], "truncated.jsonl.gz"),
    "latin1.jsonl": ('{"prompt": "caf\xe9", "response": "r", "source": "s", "license": "mit", '
                     '"lang": "en"}\n'.encode("latin-1"), "UTF-8"),
    "huge-line.jsonl": (b'{"prompt": "' + b"x" * (100 << 20) + b'", "response": "r"}\n',
                        "huge-line.jsonl"),
    "wide.csv": (wide_csv(10_000), None),  # 10,000 columns: the declared five are read
    "mixed.jsonl": (good_jsonl(3) + b'{"prompt": ["a"], "response": 3}\n', "mixed.jsonl"),
    "nul.jsonl": (b"\x00" * 4096, "nul.jsonl"),
    "not-gzip.jsonl.gz": (b"plain text, not gzip\n", "not-gzip.jsonl.gz"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_shard_is_set_aside_with_its_reason_or_read(tmp_path: Path, name: str) -> None:
    data, words = HOSTILE[name]
    src = tmp_path / "src"
    src.mkdir()
    (src / name).write_bytes(data)
    out_dir = tmp_path / "store" / "normalized"
    spec = SPEC.model_copy(update={"format": None})  # format from the name, as a glob mixes them
    t0 = time.monotonic()
    raw = hash_raw(name, str(src / name), "quarantined")
    entry = normalize(raw, spec, str(out_dir), "quarantined")
    assert time.monotonic() - t0 < 60
    if words is None:
        assert entry.status == "ok" and entry.rows == 1, entry.reason
    else:
        assert entry.status == "quarantined", entry
        assert words in entry.reason and name in entry.reason and "\n" not in entry.reason
        assert entry.leaf is None and not list(out_dir.rglob("*.parquet"))
    assert {p.parent for p in tmp_path.rglob("*") if p.is_file()} <= {src, out_dir}


@pytest.mark.parametrize("key", ["../../escape.jsonl", "/etc/passwd", "a/../../b.jsonl",
                                 "a/./../../../c.jsonl"])
def test_a_shard_name_that_climbs_out_is_refused_and_nothing_is_written(tmp_path: Path,
                                                                        key: str) -> None:
    """Object stores allow keys like these; the key must never become a path outside."""
    src = tmp_path / "src.jsonl"
    src.write_bytes(good_jsonl())
    out_dir = tmp_path / "store" / "run" / "normalized"
    raw = hash_raw(key, str(src), "quarantined")
    entry = normalize(raw, SPEC, str(out_dir), "quarantined")
    assert entry.status == "quarantined" and "unsafe shard name" in entry.reason
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [src]


def test_symlink_loops_do_not_hang_discovery(tmp_path: Path) -> None:
    data = tmp_path / "d"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "loop").symlink_to(data, target_is_directory=True)
    (data / "a.jsonl").write_bytes(good_jsonl())
    spec = SPEC.model_copy(update={"source": f"{data}/**/*.jsonl"})
    t0 = time.monotonic()
    found = discover(spec)
    assert time.monotonic() - t0 < 10
    assert [k for k, _ in found] == ["a.jsonl"]


def test_credentials_in_a_source_uri_never_reach_a_reason() -> None:
    uri = "s3://AKIAEXAMPLE:wJalrXUtnFEMI@bucket/missing.jsonl"
    entry = hash_raw("missing.jsonl", uri, "quarantined")
    assert entry.status == "quarantined"
    assert "wJalrXUtnFEMI" not in entry.reason and "AKIAEXAMPLE" not in entry.reason
    assert redact(uri) == "s3://***@bucket/missing.jsonl"


@pytest.mark.parametrize("name", ["a.jsonl.gz", "a.parquet", "a.csv"])
def test_a_shard_replaced_after_the_raw_stage_is_refused_not_normalized(tmp_path: Path,
                                                                         name: str) -> None:
    """The normalized checkpoint must derive from the bytes the raw checkpoint hashed."""
    def write(seed: int) -> None:
        t = pa.Table.from_pylist(rows(seed, 30))
        if name.endswith(".parquet"):
            pq.write_table(t, tmp_path / name)
        elif name.endswith(".csv"):
            pa.csv.write_csv(t, tmp_path / name)
        else:
            (tmp_path / name).write_bytes(gzip.compress(
                "".join(json.dumps(r) + "\n" for r in t.to_pylist()).encode()))

    spec = SPEC.model_copy(update={"format": None})
    write(1)
    raw = hash_raw(name, str(tmp_path / name), "quarantined")
    same = normalize(raw, spec, str(tmp_path / "same"), "quarantined")
    assert same.status == "ok" and same.rows == 30
    write(2)  # same shape, other rows: only the hash tells
    changed = normalize(raw, spec, str(tmp_path / "out"), "quarantined")
    assert changed.status == "quarantined"
    assert "changed since the raw stage" in changed.reason and name in changed.reason
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_a_shard_gone_between_discovery_and_read_is_named(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    for i in range(3):
        (data / f"s{i}.jsonl").write_bytes(good_jsonl())
    spec = SPEC.model_copy(update={"source": f"{data}/*.jsonl"})
    found = discover(spec)
    (data / "s1.jsonl").unlink()
    entries = [hash_raw(key, uri, "failed") for key, uri in found]
    assert [e.status for e in entries] == ["ok", "failed", "ok"]
    assert "s1.jsonl" in entries[1].reason and "unreadable" in entries[1].reason
    assert entries[1].leaf is None  # no checkpoint can claim it


def test_a_spec_with_credentials_in_its_source_is_refused_without_showing_them(
        tmp_path: Path) -> None:
    from laas.errors import ConfigError

    spec = tmp_path / "leaky.yaml"
    spec.write_text("name: leaky\nsource: s3://AKIAEXAMPLE:wJalrXUtnFEMI@bucket/*.jsonl\n"
                    "schema: [{name: prompt, type: string}]\n"
                    "suite: {builtin: instruction_corpus}\n")
    with pytest.raises(ConfigError) as info:
        load_spec(str(spec))
    msg = str(info.value)
    assert "carries credentials" in msg and "s3://***@bucket/*.jsonl" in msg
    assert "wJalrXUtnFEMI" not in msg and "AKIAEXAMPLE" not in msg and "\n" not in msg
