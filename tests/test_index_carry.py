"""The lineage index stores rows an incremental run shares with the previous one once
(adapters.index_carry): every question gets the answer an index holding every row gets."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from laas.anchors.adapters import index_carry
from laas.anchors.adapters.index import LineageIndex
from laas.anchors.adapters.index_sqlite import SqliteIndexReader
from laas.anchors.core.canonical import keccak256, to_hex
from laas.anchors.core.models import Checkpoint, ShardEntry, StageManifest
from tests.fakes import manifest

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _h(text: str) -> str:
    return to_hex(keccak256(text.encode()))


def _stage(dataset: str, run: str, stage: str, n: int, shards: dict[str, str],
           set_aside: frozenset = frozenset()) -> tuple[Checkpoint, StageManifest]:
    """A stage whose shards are key -> version; a normalized shard keeps the file of the run
    that first wrote its version (as a reused shard keeps the previous run's file)."""
    entries = []
    for key, version in sorted(shards.items()):
        uri = f"/data/{dataset}/{key}" if stage == "raw" else \
            f"/store/{dataset}/{version}/{stage}/{key}.parquet"
        status = "quarantined" if key in set_aside else "ok"
        entries.append(ShardEntry(key=key, uri=uri, source_uri=f"/data/{dataset}/{key}",
                                  byte_size=len(key + version), rows=3,
                                  content_hash=_h(f"{key}{version}"), status=status,
                                  reason="bad rows" if status != "ok" else None))
    m = manifest(dataset, run, stage, entries, created_at=T0 + timedelta(minutes=n))
    cp = Checkpoint(checkpoint_id=m.checkpoint_id, dataset_id=m.dataset_id, run_id=m.run_id,
                    stage=stage, shards_root=m.shards_root, shard_count=len(entries),
                    manifest_hash=_h(f"{run}{stage}"), manifest_uri=f"/store/{run}/{stage}",
                    result_hash=m.result_hash, passed=True, parents=(), committer="0x",
                    tx_hash=_h(f"tx{run}"), block_number=n)
    return cp, m


def _history() -> list[tuple[Checkpoint, StageManifest]]:
    """Runs of one dataset: a shard changed, one added, one removed and brought back the same,
    one set aside, the same sources again and again (more runs than MAX_OWNERS), and
    another dataset with the same keys."""
    base = {"a": "v1", "b": "v1", "c": "v1", "d": "v1"}
    runs = [("r1", base, frozenset()), ("r2", base | {"c": "v2", "e": "v1"}, frozenset()),
            ("r3", {"a": "v1", "b": "v1", "c": "v2", "e": "v1"}, frozenset()),
            ("r4", base | {"c": "v2", "e": "v1"}, frozenset()),
            ("r5", base | {"c": "v2", "e": "v1"}, frozenset({"b"}))]
    runs += [(f"s{i:02d}", base | {"c": f"s{i}"}, frozenset()) for i in range(20)]
    out = []
    for n, (run, shards, aside) in enumerate(runs):
        for stage in ("raw", "normalized"):
            out.append(_stage("ds", run, stage, n, shards, aside))
    out.append(_stage("other", "r1", "raw", len(runs), base))
    return out


def _refs(history: list[tuple[Checkpoint, StageManifest]]) -> set[str]:
    return {ref for _, m in history for s in m.shards
            for ref in (s.key, s.uri, s.source_uri, s.content_hash, s.leaf) if ref}


def _answers(index: LineageIndex | SqliteIndexReader, history: list, refs: set[str]) -> dict:
    runs = sorted({m.run for _, m in history})
    out: dict = {}
    for ref in sorted(refs):
        for run in (None, "r2", "s19"):
            rows = index.find_shard(ref, run)
            # a row's id is where the index keeps it, in no answer laas gives
            out[ref, run] = sorted(({k: v for k, v in r.items() if k != "id"} for r in rows),
                                   key=lambda r: (r["created_at"], r["checkpoint_id"], r["key"]))
            assert [r["created_at"] for r in rows] == sorted(
                (r["created_at"] for r in rows), reverse=True)
    for run in runs:
        for key in "abcdef":
            out[run, key] = [{k: v for k, v in r.items() if k != "id"}
                             for r in index.stages_of("ds", run, key)]
    return out


@pytest.fixture(params=["file", pytest.param("postgres", marks=pytest.mark.integration)])
def carry_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "file":
        yield f"sqlite:///{tmp_path / 'carry.db'}"
        return
    from tests.conftest import postgres_server

    with postgres_server() as server:
        yield server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)


def test_carried_rows_answer_as_rows_inserted_again(tmp_path: Path, carry_url: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    history = _history()
    full = LineageIndex(f"sqlite:///{tmp_path / 'full.db'}")
    with monkeypatch.context() as m:
        m.setattr(index_carry, "MAX_OWNERS", 0)  # every row inserted, as before carrying
        for cp, man in history:
            full.record(cp, man)
    carry = LineageIndex(carry_url)
    for cp, man in history:
        carry.record(cp, man)
    with carry.engine.connect() as db:
        from sqlalchemy import text

        stored = db.execute(text("SELECT count(*) FROM shards")).scalar()
    assert stored < sum(len(m.shards) for _, m in history) / 2  # most rows were carried
    refs = _refs(history)
    want = _answers(full, history, refs)
    assert _answers(carry, history, refs) == want
    if carry_url.startswith("sqlite"):
        reader = SqliteIndexReader(tmp_path / "carry.db", "the index")
        assert _answers(reader, history, refs) == want
    # a checkpoint indexed again (a rebuild) while later ones carry its rows: theirs stay
    for cp, man in history[2:4]:
        carry.record(cp.model_copy(update={"tx_hash": _h("again")}), man)
        full.record(cp.model_copy(update={"tx_hash": _h("again")}), man)
    assert _answers(carry, history, refs) == _answers(full, history, refs)
    full.engine.dispose()
    carry.engine.dispose()


def test_an_index_from_before_carrying_gains_the_tables_and_answers_as_before(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An index file written before carried rows (no carry tables) is read as it was and
    carries from its old rows from the next run on."""
    import sqlite3

    history = _history()[:6]
    path = tmp_path / "index.db"
    index = LineageIndex(f"sqlite:///{path}")
    with monkeypatch.context() as m:
        m.setattr(index_carry, "MAX_OWNERS", 0)  # every row inserted
        for cp, man in history[:4]:
            index.record(cp, man)
    index.engine.dispose()
    with sqlite3.connect(path) as db:  # as an older laas left it
        db.execute("DROP TABLE shard_carry")
        db.execute("DROP TABLE shard_omit")
    reader = SqliteIndexReader(path, "the index")  # `laas lineage` before any run
    assert [r["run"] for r in reader.find_shard("a")] == ["r2", "r2", "r1", "r1"]
    assert [r["stage"] for r in reader.stages_of("ds", "r2", "c")] == ["raw", "normalized"]
    index = LineageIndex(f"sqlite:///{path}")
    for cp, man in history[4:]:
        index.record(cp, man)
    assert [r["run"] for r in index.find_shard("a")] == ["r3", "r3", "r2", "r2", "r1", "r1"]
    assert [r["stage"] for r in index.stages_of("ds", "r3", "c")] == ["raw", "normalized"]
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM shard_carry").fetchone()[0] == 2  # r3's
    index.engine.dispose()
