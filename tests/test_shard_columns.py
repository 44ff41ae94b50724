"""Parked manifests (entries held as columns): the same manifest, bytes and entries, in a
fraction of the memory; a plan's reused shards likewise."""

from __future__ import annotations

import pickle
import tracemalloc

from laas.anchors.core.models import ShardEntry, new_manifest
from laas.anchors.core.reuse import Reused, ReusePlan
from laas.anchors.core.shard_columns import ShardColumns, column


def _entries(n: int) -> list[ShardEntry]:
    out = []
    for i in range(n):
        e = ShardEntry(key=f"k-{i:05d}", uri=f"/data/k-{i:05d}.parquet",
                       source_uri=f"/src/k-{i:05d}.jsonl", byte_size=1000 + i, rows=i % 7,
                       content_hash=f"0x{i:064x}", sha256=f"{i:064x}")
        if i % 5 == 0:  # fields only some shards set, and a huge int
            e = e.model_copy(update={"status": "quarantined", "reason": f"bad {i}",
                                     "byte_size": 1 << 70, "licenses": ("mit",)})
        out.append(e)
    return out


def test_a_parked_manifest_is_the_same_manifest() -> None:
    entries = _entries(300)
    m = new_manifest("ds", "run-1", "normalized", "laas-table-v1", entries, passed=True)
    before, digest = m.to_bytes(), m.manifest_hash
    m.drop_bytes()
    m.park()
    assert isinstance(m.shards, ShardColumns)
    assert list(m.shards) == entries and m.shards == tuple(entries)
    assert [e.model_dump() for e in m.shards] == [e.model_dump() for e in entries]
    assert m.shards[7] == entries[7] and m.shards[-1] == entries[-1]
    assert m.shards[10:20] == entries[10:20]
    assert len(m.accepted) == 240 and len(m.quarantined) == 60
    m._hash = None  # dumped again from the columns: the same bytes, so the same hash
    assert m.to_bytes() == before and m.manifest_hash == digest
    assert list(column(m.shards, "key")) == [e.key for e in entries] == column(entries, "key")
    assert pickle.loads(pickle.dumps(m.shards)) == entries


def test_parked_entries_take_a_fraction_of_the_memory() -> None:
    entries = _entries(5000)
    tracemalloc.start()
    try:
        copies = [e.model_copy() for e in entries]
        as_objects = tracemalloc.get_traced_memory()[0]
        del copies
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        parked = ShardColumns(entries)
        as_columns = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert len(parked) == 5000
    assert as_columns < as_objects / 3, (as_columns, as_objects)  # ~143 vs ~552 B a shard


def test_a_parked_plan_keeps_its_reused_shards() -> None:
    entries = _entries(50)
    reused = tuple(Reused(key=e.key, normalized=e, validated=e.model_copy(update={
        "docs_uri": f"/docs/{e.key}.html"})) for e in entries)
    plan = ReusePlan(from_run="run-0", reused=reused, new=3)
    plan.park()
    assert plan.reused == reused and list(plan.reused) == list(reused)
    assert plan.reused[3] == reused[3] and plan.reused[-2:] == list(reused[-2:])
    assert plan.summary()["reused"] == 50


def test_a_parked_manifest_picks_its_accepted_and_set_aside_shards_by_status(monkeypatch
                                                                             ) -> None:
    """The same shards as the entries give, and none made to count them or to find that none
    was set aside (each made again per call was 40% of a second run at 100,000 shards)."""
    from laas.anchors.core import shard_columns
    from laas.anchors.core.models import ShardEntry
    from tests.fakes import manifest

    shards = [ShardEntry(key=f"s{i}", uri=f"/n/s{i}", source_uri="/r", byte_size=1, rows=1,
                         content_hash="0x" + "11" * 32,
                         **({"status": "quarantined", "reason": "bad"} if i % 3 == 0 else {}))
              for i in range(9)]
    whole = manifest("ds", "r1", "normalized", shards, passed=False)
    parked = whole.model_copy()
    parked.park()
    assert parked.accepted == whole.accepted and parked.quarantined == whole.quarantined
    assert parked.accepted_count == len(whole.accepted) == 6
    odd = {"s1", "s5", "s7"}
    assert shard_columns.picked(parked.shards, odd.__contains__) == \
        shard_columns.picked(whole.shards, odd.__contains__) == [shards[i] for i in (1, 5, 7)]
    clean = manifest("ds", "r1", "normalized", [s for s in shards if s.status == "ok"])
    clean.park()
    made: list = []
    real = shard_columns._entry
    monkeypatch.setattr(shard_columns, "_entry", lambda row: made.append(row) or real(row))
    assert clean.quarantined == [] and clean.accepted_count == 6
    assert made == []


def test_a_parked_manifest_makes_only_its_derived_shards(monkeypatch) -> None:
    """drop_rows' checks ask for the shards a stage changed; a parked manifest makes only
    those, and finds the same ones as its entries."""
    from laas.anchors.core import shard_columns

    entries = _entries(40)
    entries = [e.model_copy(update={"parent_hash": "0x" + "22" * 32, "rows_in": e.rows + 2})
               if i % 8 == 3 else e for i, e in enumerate(entries)]
    m = new_manifest("ds", "r1", "normalized", "laas-table-v1", entries, passed=True)
    m.park()
    made: list = []
    real = shard_columns._entry
    monkeypatch.setattr(shard_columns, "_entry", lambda row: made.append(row) or real(row))
    got = shard_columns.derived(m.shards)
    assert got == shard_columns.derived(entries) == [entries[i] for i in (3, 11, 19, 27, 35)]
    assert [e.left_out for e in got] == [2] * 5 and len(made) == 5
