"""Reading shards: the declared schema, and one clear error per bad file naming it."""

import gzip
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from laas.anchors.adapters.files import rehash_parquet_at
from laas.anchors.core.hashing import hash_table
from laas.datasets.make_sample import rows, write_jsonl
from laas.errors import SchemaError, ShardReadError
from laas.tasks.dataset_spec import load_spec
from laas.tasks.normalizer import normalize
from laas.tasks.raw_hashing import discover
from laas.tasks.readers import read_table

SPEC = load_spec("instruct-sample")


def test_sample_spec_and_discovery() -> None:
    found = discover(SPEC)
    assert [k for k, _ in found] == [f"part-{i:05d}.jsonl" + (".gz" if i % 2 else "")
                                     for i in range(8)]
    assert all(uri.endswith(key) for key, uri in found)


def test_a_shard_key_is_the_path_below_the_glob_base_as_pathlib_gives_it() -> None:
    """Keys are sliced off the listed paths (pathlib cost 1.4 s a run at 100,000 shards); a
    path that needs normalizing ('.', '//', a trailing '/') still gets pathlib's answer."""
    import itertools
    from pathlib import PurePosixPath

    from laas.tasks.raw_hashing import _below

    for parts in itertools.chain.from_iterable(
            itertools.product(["a", ".", "..", "", "b.jsonl", ".h"], repeat=n) for n in (1, 2, 3)):
        for base in ("/data/x", "bucket", "/data/x/", "//data"):
            path = f"{base}/{'/'.join(parts)}"
            assert _below(path, base) == str(PurePosixPath(path).relative_to(base)), path
    with pytest.raises(ValueError):
        _below("/data/xy/a.jsonl", "/data/x")


def test_same_rows_as_jsonl_gz_csv_parquet_hash_the_same(tmp_path) -> None:
    rs = rows(1, 40)
    write_jsonl(tmp_path / "a.jsonl", rs)
    write_jsonl(tmp_path / "a.jsonl.gz", rs)
    pa.csv.write_csv(pa.Table.from_pylist(rs), tmp_path / "a.csv")
    pq.write_table(pa.Table.from_pylist(rs), tmp_path / "a.parquet", compression="snappy")
    by_suffix = SPEC.model_copy(update={"format": None})  # format from each file's name
    hashes = {hash_table(read_table(str(tmp_path / n), by_suffix))
              for n in ("a.jsonl", "a.jsonl.gz", "a.csv", "a.parquet")}
    assert len(hashes) == 1


def bad_files() -> dict[str, tuple[bytes, type, str]]:
    good = "".join(json.dumps(r) + "\n" for r in rows(2, 20)).encode()
    missing = "".join(json.dumps({k: v for k, v in r.items() if k != "lang"}) + "\n"
                      for r in rows(3, 20)).encode()
    return {
        "truncated.jsonl.gz": (gzip.compress(good)[:-40], ShardReadError, "truncated.jsonl.gz"),
        "badline.jsonl": (good + b'{"prompt": "x", "response": \n' + good,
                          ShardReadError, "badline.jsonl"),
        "nolang.jsonl": (missing, SchemaError, "missing column"),
        "empty.jsonl": (b"", ShardReadError, "empty"),
        "wrongtype.jsonl": (b'{"prompt": {"a": 1}, "response": "r", "source": "s", '
                            b'"license": "mit", "lang": "en"}\n', ShardReadError,
                            "wrongtype.jsonl"),
    }


@pytest.mark.parametrize("name", list(bad_files()))
def test_bad_shard_gives_one_line_error_naming_it(tmp_path, name: str) -> None:
    data, exc, words = bad_files()[name]
    (tmp_path / name).write_bytes(data)
    with pytest.raises(exc) as info:
        read_table(str(tmp_path / name), SPEC)
    msg = str(info.value)
    assert name in msg and words in msg and "\n" not in msg


def test_normalize_quarantines_instead_of_raising(tmp_path) -> None:
    from laas.anchors.core.models import ShardEntry

    (tmp_path / "t.jsonl.gz").write_bytes(gzip.compress(b'{"prompt": "x"}\n' * 50)[:-30])
    raw = ShardEntry(key="t.jsonl.gz", uri=str(tmp_path / "t.jsonl.gz"),
                     source_uri=str(tmp_path / "t.jsonl.gz"), byte_size=1,
                     content_hash="0x" + "11" * 32)
    out = normalize(raw, SPEC, str(tmp_path / "out"), "quarantined")
    assert out.status == "quarantined" and "t.jsonl.gz" in out.reason and out.leaf is None
    assert not list((tmp_path / "out").glob("*"))  # no half-written shard left behind



@pytest.mark.parametrize("pooled", [True, False])
def test_a_batch_of_small_shards_gets_what_each_gets_alone(tmp_path, pooled: bool) -> None:
    """validated_entries pools small shards into one GX run (or, for a suite that cannot be
    pooled, slices them back out); either way each shard's result, status and text hashes are
    what validating it alone gives."""
    from laas.anchors.core.models import ShardEntry
    from laas.tasks.shard_validation import validated_entries
    from laas.validators.spec import ExpectationSpec

    spec = SPEC
    if not pooled:  # a table-level expectation: not row-wise, so the suite is not poolable
        extra = ExpectationSpec(type="expect_table_row_count_to_be_between",
                            kwargs={"min_value": 1, "max_value": 10_000})
        spec = SPEC.model_copy(update={"suite": SPEC.suite.model_copy(
            update={"expectations": (*SPEC.suite.expectations, extra)})})
    entries = []
    for i in range(6):
        rs = rows(10 + i, 5 + i)
        if i == 3:
            rs[0]["license"] = "proprietary"  # one shard breaks an expectation
        path = tmp_path / f"s{i}.parquet"
        pq.write_table(pa.Table.from_pylist(rs), path)
        digest, size, n = rehash_parquet_at(str(path))  # validation re-hashes what it validates
        entries.append(ShardEntry(key=f"s{i}", uri=str(path), source_uri=str(path),
                                  byte_size=size, rows=n, content_hash="0x" + digest.hex()))
    for d in ["h-all", *(f"h-{e.key}" for e in entries)]:
        (tmp_path / d).mkdir()
    together = validated_entries(entries, spec, "quarantined", str(tmp_path / "docs"),
                                 str(tmp_path / "h-all"))
    alone = [validated_entries([e], spec, "quarantined", str(tmp_path / "docs1"),
                               str(tmp_path / f"h-{e.key}"))[0] for e in entries]
    assert [e.validation for e in together] == [e.validation for e in alone]
    assert [e.status for e in together] == ["ok"] * 3 + ["quarantined"] + ["ok"] * 2
    hashes = pq.read_table(tmp_path / "h-all").to_pylist()
    assert hashes == [r for e in entries
                      for r in pq.read_table(tmp_path / f"h-{e.key}").to_pylist()]


def test_a_local_folder_is_listed_as_fsspec_lists_it(tmp_path) -> None:
    """The store's runs and manifests are listed without fsspec on local disk (it costs the
    gate ~30 ms to import), and a source's shards from one scandir: the names must be
    fsspec's, hidden entries and symlinks too, and the shards the files fsspec finds."""
    import fsspec

    from laas.anchors.adapters.files import glob_files, names_in, open_uri

    root = tmp_path / "store"
    for d in ("run-1", ".hidden", "run 2", "sub/deeper"):
        (root / d).mkdir(parents=True)
    for f in ("manifest-ab.json", ".manifest-cd.json", "manifest-.json", "other.json",
              "sub/manifest-ef.json", "run-1/manifest-01.json"):
        (root / f).write_text("{}")
    (root / "link").symlink_to(root / "run-1")
    (root / "manifest-gone.json").symlink_to(root / "nowhere")
    fs = fsspec.filesystem("file")
    for folder in (root, root / "run-1", root / "absent"):
        for pattern in ("*", "manifest-*.json"):
            listed = sorted(p.rstrip("/").rsplit("/", 1)[-1]
                            for p in fs.glob(f"{folder}/{pattern}"))
            assert names_in(str(folder), pattern) == listed, (folder, pattern)
            assert names_in(f"file://{folder}", pattern) == listed
    (root / "file-link.json").symlink_to(root / "other.json")
    os.mkfifo(root / "pipe.json")
    for pattern in ("*", "*.json", "manifest-?*.json", "[mo]*", "sub/*", "*/manifest-*.json",
                    "**/*.json", "absent/*", "other.json"):  # the source's glob, as discovered
        want = sorted(p for p, info in fs.glob(f"{root}/{pattern}", detail=True).items()
                      if info["type"] == "file")
        assert glob_files(fs, f"{root}/{pattern}") == want, pattern
    with open_uri(str(root / "run-1" / "manifest-01.json")) as f:
        assert f.read() == b"{}"
    with pytest.raises(OSError, match="not a regular file"):
        open_uri(str(root / "run-1"))


def test_a_pipe_swapped_in_after_the_name_was_checked_is_not_read(tmp_path, monkeypatch
                                                                   ) -> None:
    """Someone who writes the store swaps a file for a named pipe between laas's look at it
    and its open (as if they won that race: os.stat still says a regular file): opening a
    pipe to read blocks until a writer comes, for ever; the open file itself is checked."""
    import os
    import stat
    import threading

    from laas.anchors.adapters.files import open_uri

    pipe = tmp_path / "manifest-ab.json"
    os.mkfifo(pipe)
    regular = os.stat(__file__)
    real_stat = os.stat
    monkeypatch.setattr(os, "stat", lambda p, *a, **k: regular if str(p) == str(pipe)
                        else real_stat(p, *a, **k))
    assert stat.S_ISREG(os.stat(pipe).st_mode)  # the race won
    for mode in ("rb", "r"):
        outcome: list[BaseException | None] = []

        def read(mode: str = mode, outcome: list = outcome) -> None:
            try:
                with open_uri(str(pipe), mode) as f:
                    f.read()
                outcome.append(None)
            except OSError as e:
                outcome.append(e)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(5)
        if reader.is_alive():  # blocked in the open: let it go before failing
            with open(pipe, "wb"):
                pass
        assert outcome and "not a regular file" in str(outcome[0]), (mode, outcome)
