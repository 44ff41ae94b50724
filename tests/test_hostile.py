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

from laas.anchors.storage import redact
from laas.datasets.make_sample import rows
from laas.tasks.shards import discover, hash_raw, normalize
from laas.validators.spec import load_spec

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
