"""The lineage index: a cache of checkpoints and their shards, filled as checkpoints are
committed, queried by `laas lineage`. Any SQLAlchemy URL (SQLite by default). The chain and the
manifests stay the source of truth; this only makes questions fast."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import URL, Engine

from laas.anchors.adapters.files import redact
from laas.anchors.adapters.index_carry import (
    BASE_OF,
    BASE_OMITTED,
    BASE_ROWS,
    Carry,
    plan_carry,
    stages_queries,
)
from laas.anchors.adapters.index_sqlite import as_answer, find_shard, in_stage_order
from laas.anchors.core.models import Checkpoint, StageManifest
from laas.anchors.core.shard_columns import column, leaves

meta = MetaData()
checkpoints = Table(
    "checkpoints", meta,
    Column("checkpoint_id", String(66), primary_key=True),
    Column("dataset", String(100), nullable=False, index=True),
    Column("run", String(100), nullable=False, index=True),
    Column("stage", String(32), nullable=False),
    Column("shards_root", String(66), nullable=False),
    Column("shard_count", Integer, nullable=False),
    Column("manifest_hash", String(66), nullable=False),
    Column("manifest_uri", Text, nullable=False),
    Column("result_hash", String(66), nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("parents", Text, nullable=False),
    Column("tx_hash", String(66), nullable=False),
    Column("block_number", Integer, nullable=False),
    Column("gas_used", Integer),
    Column("created_at", String(40), nullable=False),
)
shards = Table(
    "shards", meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("checkpoint_id", String(66), nullable=False, index=True),
    Column("dataset", String(100), nullable=False),
    Column("run", String(100), nullable=False),
    Column("stage", String(32), nullable=False),
    Column("key", Text, nullable=False, index=True),
    Column("uri", Text, nullable=False, index=True),
    Column("source_uri", Text, nullable=False, index=True),
    Column("content_hash", String(66), index=True),
    Column("byte_size", Integer, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("leaf", String(66), index=True),
    Column("status", String(16), nullable=False),
    Column("reason", Text),
)
_SHARD_COLUMNS = ("checkpoint_id", "dataset", "run", "stage", "key", "uri", "source_uri",
                  "content_hash", "byte_size", "rows", "leaf", "status", "reason")
# rows a checkpoint shares with an earlier one of its dataset and stage (index_carry)
shard_carry = Table(
    "shard_carry", meta,
    Column("checkpoint_id", String(66), primary_key=True),
    Column("owner", String(66), primary_key=True, index=True),
)
shard_omit = Table(
    "shard_omit", meta,
    Column("checkpoint_id", String(66), primary_key=True),
    Column("owner", String(66), primary_key=True),
    Column("key", Text, primary_key=True),
)

# How far `laas index rebuild` has read the chain, per chain and registry, so a rebuild that
# stopped (provider limits, a lost connection) goes on from there instead of block 0.
progress = Table(
    "scan_progress", meta,
    Column("registry", String(120), primary_key=True),  # "chain_id:address"
    Column("through_block", Integer, nullable=False),
)

INSERT_BATCH = 20_000  # rows per executemany: bounded memory at a million shards
# SQLite's page cache while a stage's rows go in (at most): it counts in the flow's peak
# memory (256 MiB raised a 20,000-shard run's peak by ~45 MB), so it is capped well below that
BULK_CACHE_KIB = 64 << 10


class LineageIndex:
    def __init__(self, url: str):
        self.where = redact(url)  # for messages: a Postgres URL may carry a password
        target: str | URL = url
        if url.startswith("sqlite:///"):
            path = url.removeprefix("sqlite:///")
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # The path as given: parsed as a URL, a '?' or '#' in it would end the file name.
            target = URL.create("sqlite", database=path)
        self.engine: Engine = create_engine(target)
        meta.create_all(self.engine)
        for index in shards.indexes:  # an index file from an older laas may lack newer ones
            index.create(self.engine, checkfirst=True)

    def record(self, cp: Checkpoint, manifest: StageManifest) -> None:
        """Insert a committed checkpoint and its shards; recording it again replaces it. Rows
        equal to those the dataset's latest checkpoint of the stage holds are carried from
        their owners, not inserted again (index_carry)."""
        cid = cp.checkpoint_id
        # by columns (a committed manifest is parked): no entry made again
        got = [column(manifest.shards, f) for f in ("key", "uri", "source_uri", "content_hash",
                                                     "byte_size", "rows")]
        head = (cid, manifest.dataset, manifest.run, manifest.stage)
        rows = [(*head, *row, leaf, status, reason) for *row, leaf, status, reason in zip(
            *got, leaves(manifest.shards), column(manifest.shards, "status"),
            column(manifest.shards, "reason"), strict=True)]
        with self.engine.begin() as db:
            self._release(db, cid)
            for table in (shards, shard_carry, shard_omit, checkpoints):
                db.execute(delete(table).where(table.c.checkpoint_id == cid))
            db.execute(insert(checkpoints).values(
                checkpoint_id=cid, dataset=manifest.dataset, run=manifest.run,
                stage=manifest.stage, shards_root=cp.shards_root, shard_count=cp.shard_count,
                manifest_hash=cp.manifest_hash, manifest_uri=cp.manifest_uri,
                result_hash=cp.result_hash, passed=cp.passed, parents=json.dumps(cp.parents),
                tx_hash=cp.tx_hash, block_number=cp.block_number, gas_used=cp.gas_used,
                created_at=manifest.created_at.isoformat(),
            ))
            plan = self._carry(db, cid, manifest, rows)
            del rows
            if plan.owners:
                db.execute(insert(shard_carry), [{"checkpoint_id": cid, "owner": o}
                                                 for o in plan.owners])
            if plan.omitted:
                db.execute(insert(shard_omit), [{"checkpoint_id": cid, "owner": o, "key": k}
                                                for o, k in plan.omitted])
            self._insert(db, plan.own)

    @staticmethod
    def _carry(db: Any, cid: str, manifest: StageManifest, rows: list[tuple]) -> Carry:
        base = db.execute(text(BASE_OF), {"dataset": manifest.dataset, "stage": manifest.stage,
                                          "cid": cid}).scalar()
        if base is None:
            return Carry(rows)
        if db.dialect.name == "sqlite":  # its own cursor: SQLAlchemy's rows cost ~8 us each
            cur = db.connection.dbapi_connection.cursor()
            held = (r for q in BASE_ROWS for r in cur.execute(q, {"base": base}))
        else:
            held = (tuple(r) for q in BASE_ROWS for r in db.execute(text(q), {"base": base}))
        omitted = [tuple(r) for r in db.execute(text(BASE_OMITTED), {"base": base})]
        return plan_carry(rows, held, omitted)

    @staticmethod
    def _release(db: Any, cid: str) -> None:
        """Before a checkpoint's rows are replaced (indexed again, e.g. by a rebuild), the
        rows later checkpoints carry from it move to an owner of their own, under an id no
        checkpoint has: those keep answering as they did, and only they can reach them."""
        import secrets

        if db.execute(select(shard_carry.c.owner).where(shard_carry.c.owner == cid)
                      .limit(1)).first() is None:
            return
        moved = "0x" + secrets.token_hex(32)
        db.execute(update(shards).where(shards.c.checkpoint_id == cid).values(
            checkpoint_id=moved))
        for table in (shard_carry, shard_omit):
            db.execute(update(table).where(table.c.owner == cid).values(owner=moved))

    @staticmethod
    def _insert(db: Any, rows: list[tuple]) -> None:
        if db.dialect.name == "sqlite":  # SQLAlchemy's executemany: ~50 us a row; this ~5
            cur = db.connection.dbapi_connection.cursor()
            # rows land all over the hash and URI indexes: with SQLite's 2 MB page cache
            # each insert reads pages back (60,000 rows into an index of 60,000: 1.9-2.5 s,
            # 1.2-1.5 s with this); back to what it was after, so nothing stays held
            was = cur.execute("PRAGMA cache_size").fetchone()[0]
            cur.execute(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")
            cur.executemany(f"INSERT INTO shards ({', '.join(_SHARD_COLUMNS)}) VALUES "
                            f"({', '.join('?' * len(_SHARD_COLUMNS))})", rows)
            cur.execute(f"PRAGMA cache_size = {int(was)}")
            cur.execute("PRAGMA shrink_memory")  # the pages go back to the allocator now
            return
        for start in range(0, len(rows), INSERT_BATCH):
            db.execute(insert(shards), [dict(zip(_SHARD_COLUMNS, row, strict=True))
                                        for row in rows[start : start + INSERT_BATCH]])

    def scanned_through(self, registry: str) -> int | None:
        with self.engine.connect() as db:
            return db.execute(select(progress.c.through_block).where(
                progress.c.registry == registry)).scalar()

    def set_scanned_through(self, registry: str, block: int | None) -> None:
        """Record (or with None forget) the last block a rebuild has indexed."""
        with self.engine.begin() as db:
            db.execute(delete(progress).where(progress.c.registry == registry))
            if block is not None:
                db.execute(insert(progress).values(registry=registry, through_block=block))

    def checkpoint(self, checkpoint_id: str) -> dict | None:
        with self.engine.connect() as db:
            row = db.execute(select(checkpoints).where(
                checkpoints.c.checkpoint_id == checkpoint_id)).mappings().first()
        return dict(row) if row else None

    def find_shard(self, ref: str, run: str | None = None) -> list[dict]:
        """Shard rows matching a content hash, leaf, URI, path or key; newest run first.
        One indexed lookup per column (an OR across columns would scan the whole table)."""
        with self.engine.connect() as db:
            return find_shard(lambda sql, args: _rows(db, sql, args), ref, run)

    def stages_of(self, dataset: str, run: str, key: str) -> list[dict]:
        """The shard's row and its checkpoint at every stage of one run, in stage order."""
        args = {"dataset": dataset, "run": run, "key": key}
        with self.engine.connect() as db:
            return in_stage_order([r for q in stages_queries() for r in _rows(db, q, args)])

    def runs(self, dataset: str) -> list[dict]:
        q = select(checkpoints).where(checkpoints.c.dataset == dataset).order_by(
            checkpoints.c.created_at.desc())
        with self.engine.connect() as db:
            return [dict(r._mapping) for r in db.execute(q)]


def _rows(db: Any, sql: str, args: dict) -> list[dict]:
    result = db.execute(text(sql), args)
    names = list(result.keys())
    return [as_answer(names, row) for row in result]
