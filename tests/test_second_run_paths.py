"""What a second run does per shard without making entries or sending shards to Dask gives
the answers the entry-by-entry and cluster paths gave: parked manifests read by column, a plan
made and checked from their columns, stage roots remembered by their leaves, local files hashed
on this machine (a few batches in threads, more in a pool of processes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from laas.anchors.core.merkle import MerkleTree, root_of
from laas.anchors.core.reuse import ReusedColumns, confirm, plan_reuse
from laas.anchors.core.shard_columns import ShardColumns, leaves, values
from laas.tasks.local_pool import PROCESS_BATCHES, local_only
from laas.tasks.raw_hashing import hash_raw, hash_raw_batch, hash_sources
from laas.tasks.reuse_checks import reuse_problems, split_checks
from laas.tasks.reuse_work import by_bytes, check_all_files, files_of
from tests.test_reuse import PIPE, SPEC, _made, previous, raw_entry, this_run
from tests.test_shard_columns import _entries


def test_parked_entries_are_made_in_bulk_and_read_by_value() -> None:
    entries = _entries(40)
    parked = ShardColumns(entries)
    at = [39, 0, 7, 7, 12]
    assert parked.at(at) == [entries[i] for i in at]
    every = list(range(40))  # a second run takes every shard: the columns as they are
    assert parked.at(every) == entries == list(parked.take(every)) and parked.at([]) == []
    assert list(parked.take(at)) == [entries[i] for i in at] and not parked.take([])
    assert list(values(parked)) == list(values(entries))
    assert [dict(zip(type(e).model_fields, row, strict=True)) for e, row in
            zip(entries, values(parked), strict=True)] == [e.__dict__ for e in entries]
    assert leaves(parked) == leaves(entries) == [e.leaf for e in entries]
    assert leaves(parked)[0] is None and leaves(parked)[1] is not None  # set aside: no leaf


def test_a_plan_from_parked_manifests_is_the_plan_from_entries() -> None:
    run = this_run(raw_entry("a"), raw_entry("b", digest="0x" + "33" * 32), raw_entry("c"),
                   raw_entry("d", uri="/moved/d"))
    prev = previous(["a", "b", "d", "e"], aside="e")
    whole = plan_reuse(run, prev, PIPE)
    for m in (run, *prev):
        m.park()
    parked = plan_reuse(run, prev, PIPE)
    assert parked == whole and [r.key for r in parked.reused] == ["a"]
    assert parked.not_reused == {"b": "source bytes changed",
                                 "d": "source moved (another URI)"} and parked.new == 1
    assert isinstance(parked.reused, ReusedColumns)  # from the columns: no entry made
    # a shard whose file was altered leaves the plan, which stays parked
    prev = previous(["a", "b", "c"])
    run = this_run(raw_entry("a"), raw_entry("b"), raw_entry("c"))
    whole = confirm(plan_reuse(run, prev, PIPE), {"b": "altered in the store"})
    for m in (run, *prev):
        m.park()
    parked = confirm(plan_reuse(run, prev, PIPE), {"b": "altered in the store"})
    assert isinstance(parked.reused, ReusedColumns) and parked == whole
    assert [r.key for r in parked.reused] == ["a", "c"] and set(parked.results) == {"a", "c"}
    assert parked.not_reused == {"b": "altered in the store"}


def test_a_remembered_root_is_only_ever_the_root_of_the_same_leaves() -> None:
    tree = [bytes([i]) * 32 for i in range(1, 12)]
    assert root_of(tree) == MerkleTree.build(tree).root
    assert root_of(tree[::-1]) == MerkleTree.build(tree).root  # leaves are sorted first
    changed = [*tree[:-1], b"\xee" * 32]
    assert root_of(changed) == MerkleTree.build(changed).root != root_of(tree)
    assert root_of(tree[:-1]) == MerkleTree.build(tree[:-1]).root != root_of(tree)


# a batch size giving fewer batches than PROCESS_BATCHES (threads), then more (processes)
PATHS = pytest.mark.parametrize("batch", [3, 1], ids=["threads", "processes"])


@PATHS
def test_local_files_hashed_here_are_the_entries_the_workers_made(tmp_path: Path, batch: int
                                                                  ) -> None:
    assert (8 / batch >= PROCESS_BATCHES) == (batch == 1)
    items = []
    for i in range(7):
        (tmp_path / f"s{i}.jsonl").write_bytes(b'{"a": %d}\n' % i * (i + 1))
        items.append(((f"s{i}.jsonl", str(tmp_path / f"s{i}.jsonl")),))
    items.append((("gone.jsonl", str(tmp_path / "gone.jsonl")),))  # unreadable: named
    here = hash_sources(hash_raw_batch, items, {}, address="-", batch_size=batch,
                        bad_status="quarantined")  # no cluster at this address: not asked
    assert here == [hash_raw(key, uri, "quarantined") for ((key, uri),) in items]
    assert here[-1].status == "quarantined" and "unreadable" in here[-1].reason
    assert not local_only(["s3://bucket/k"]) and local_only([str(tmp_path), "file:///x"])


@PATHS
def test_the_reuse_check_here_still_refuses_a_file_altered_in_the_store(tmp_path: Path,
                                                                      batch: int) -> None:
    import hashlib

    kept = []
    for i in range(8):
        f = tmp_path / f"k{i}.parquet"
        f.write_bytes(b"PAR1 rows %d" % i)
        kept.append(((str(f), hashlib.sha256(f.read_bytes()).hexdigest()),))
    (tmp_path / "k3.parquet").write_bytes(b"PAR1 rows 9")  # the same size, other bytes
    problems = check_all_files([(files,) for files in kept], {"batch_size": batch})
    assert [p is None for p in problems] == [True, True, True, False, True, True, True, True]
    assert "altered in the store" in problems[3] and "k3.parquet" in problems[3]


# local files: checked in this process's threads, no cluster at this address asked
CHECK = {"batch_size": 2, "address": "-", "whole_batch": True, "label": "reuse check"}


def test_the_check_of_a_parked_plan_is_the_check_of_its_entries(tmp_path: Path) -> None:
    """Read off the plan's columns, each shard gets the files the check by entry names (its
    derived validated file too) or goes to the check by table; an altered file is caught."""
    import shutil

    from laas.anchors.core.reuse import ReusePlan

    a, b = _made(tmp_path, True)
    kept = b.normalized.model_copy(update={"uri": str(tmp_path / "kept.parquet")})
    shutil.copyfile(b.normalized.uri, kept.uri)
    derived = a.model_copy(update={"key": "d", "normalized": a.normalized.model_copy(
        update={"key": "d"}), "validated": kept.model_copy(update={
            "key": "d", "parent_hash": a.normalized.content_hash, "rows_in": kept.rows + 1})})
    older = _made(tmp_path / "old", False)[0]
    reused = [a, derived, b, older]
    columns = ReusedColumns(reused)
    checked, files, old = split_checks(columns)
    assert checked == [i for i, r in enumerate(reused) if by_bytes(r)] == [0, 1, 2]
    assert files == [files_of(reused[i]) for i in checked] and old == [3]
    assert len(files[1]) == 2  # the derived shard's own validated file is checked too
    plan = ReusePlan(from_run="r1", reused=tuple(reused[:3]))
    plan.park()
    assert reuse_problems(plan, SPEC, str(tmp_path), None, CHECK) == {}
    shutil.copyfile(a.normalized.uri, kept.uri)  # d's kept rows swapped for a's
    (tmp_path / "normalized").joinpath(Path(b.normalized.uri).name).write_bytes(b"PAR1")
    bad = reuse_problems(plan, SPEC, str(tmp_path), None, CHECK)
    assert set(bad) == {"d", b.key} and all("altered in the store" in w for w in bad.values())


def test_name_clashes_are_found_from_a_parked_stage_without_making_its_entries(monkeypatch
                                                                              ) -> None:
    from laas.anchors.core import shard_columns
    from laas.tasks.stage_files import name_clashes

    keys = ["d.jsonl", "d.jsonl.parquet/x.jsonl", "ok.jsonl", "x" * 300 + ".jsonl", "gone"]
    entries = [raw_entry(k) for k in keys[:-1]] + [raw_entry("gone").model_copy(
        update={"status": "failed", "reason": "unreadable"})]
    whole = name_clashes(entries)
    assert set(whole) == {"d.jsonl", keys[3]}  # a folder of another shard's file; too long
    assert "folder of another" in whole["d.jsonl"] and "too long" in whole[keys[3]]
    parked = ShardColumns(entries)
    monkeypatch.setattr(shard_columns, "_entry", lambda row: 1 / 0)  # none made
    assert name_clashes(parked) == whole
