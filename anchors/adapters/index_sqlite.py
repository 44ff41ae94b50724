"""The lineage index's questions, answered from its default SQLite file with the standard
library's sqlite3: `laas lineage` then starts without SQLAlchemy (~150 ms of imports, most of
what it paid above `import laas.cli`). Read-only; the same rows, keys and types as
adapters.index.LineageIndex, which writes the file (tests/test_ports_contract.py runs both
through the same assertions and compares their answers)."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from laas.anchors.core.models import STAGE_ORDER
from laas.errors import LaasError

# The tables' columns in their order (adapters.index defines them; a test holds the two equal).
SHARD_COLUMNS = ("id", "checkpoint_id", "dataset", "run", "stage", "key", "uri", "source_uri",
                 "content_hash", "byte_size", "rows", "leaf", "status", "reason")
CHECKPOINT_COLUMNS = ("checkpoint_id", "dataset", "run", "stage", "shards_root", "shard_count",
                      "manifest_hash", "manifest_uri", "result_hash", "passed", "parents",
                      "tx_hash", "block_number", "gas_used", "created_at")
_BOOLEAN = {"passed"}


def known_stages(rows: list[dict]) -> list[dict]:
    """The rows of stages laas writes: a row of another stage is not laas's (anyone with
    write access to the index could put one there; verify and lineage prove from the chain,
    the index only says where to start) and is left out rather than stop them."""
    return [r for r in rows if r.get("stage") in STAGE_ORDER]


def in_stage_order(rows: list[dict]) -> list[dict]:
    """A shard's rows at every stage, in stage order, their checkpoints' parents parsed; a row
    whose parents are not a JSON list of ids is left out, as known_stages leaves rows out."""
    kept = []
    for r in known_stages(rows):
        try:
            parents = json.loads(r["parents"])
        except (TypeError, ValueError):
            continue
        if isinstance(parents, list) and all(isinstance(p, str) for p in parents):
            kept.append(r | {"parents": parents})
    return sorted(kept, key=lambda r: STAGE_ORDER.index(r["stage"]))


def _joined(with_checkpoint: tuple[str, ...]) -> str:
    """shards' columns, then the checkpoint's asked for, named as SQLAlchemy names a join's
    repeated columns (`dataset_1`)."""
    cols = [f"s.{c} AS {c}" for c in SHARD_COLUMNS]
    cols += [f"c.{c} AS {c}_1" if c in SHARD_COLUMNS else f"c.{c} AS {c}"
             for c in with_checkpoint]
    return (f"SELECT {', '.join(cols)} FROM shards AS s "
            "JOIN checkpoints AS c ON c.checkpoint_id = s.checkpoint_id")


class SqliteIndexReader:
    """What `laas lineage` asks of a SQLite lineage index file."""

    def __init__(self, path: Path, where: str):
        self.path = path
        self.where = where

    def _rows(self, sql: str, params: tuple | dict = ()) -> list[dict[str, Any]]:
        # as_uri() percent-encodes the path: a `?` or `#` in it would otherwise end the file
        # name there, and sqlite would create that file, read-write
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        try:
            with closing(sqlite3.connect(uri, uri=True)) as db:
                cur = db.execute(sql, params)
                names = [d[0] for d in cur.description]
                rows = cur.fetchall()
        except sqlite3.DatabaseError as e:
            raise LaasError(f"the lineage index {self.where} cannot be read ({e}): move it "
                            "aside and run `laas index rebuild` to rebuild it from the chain"
                            ) from None
        return [{k: bool(v) if k in _BOOLEAN and v is not None else v
                 for k, v in zip(names, row, strict=True)} for row in rows]

    def checkpoint(self, checkpoint_id: str) -> dict | None:
        rows = self._rows(f"SELECT {', '.join(CHECKPOINT_COLUMNS)} FROM checkpoints "
                          "WHERE checkpoint_id = ?", (checkpoint_id,))
        return rows[0] if rows else None

    def find_shard(self, ref: str, run: str | None = None) -> list[dict]:
        """As LineageIndex.find_shard: one indexed lookup per column, newest run first."""
        cands = sorted({ref} | ({str(Path(ref).resolve())}
                                if not ref.startswith("0x") and "://" not in ref else set()))
        is_hash = ref.startswith("0x") and len(ref) == 66
        found: dict[int, dict] = {}
        marks = ", ".join("?" * len(cands))
        for column in (("content_hash", "leaf") if is_hash else ("uri", "source_uri", "key")):
            sql = f"{_joined(('created_at',))} WHERE s.{column} IN ({marks})"
            args = tuple(cands)
            if run:
                sql, args = sql + " AND s.run = ?", (*args, run)
            found.update((r["id"], r) for r in self._rows(sql, args))
        return sorted(known_stages(list(found.values())), key=lambda r: r["created_at"],
                      reverse=True)

    def stages_of(self, dataset: str, run: str, key: str) -> list[dict]:
        return in_stage_order(self._rows(f"{_joined(CHECKPOINT_COLUMNS)} WHERE s.dataset = ? "
                                         "AND s.run = ? AND s.key = ?", (dataset, run, key)))

    def runs(self, dataset: str) -> list[dict]:
        return self._rows(f"SELECT {', '.join(CHECKPOINT_COLUMNS)} FROM checkpoints "
                          "WHERE dataset = ? ORDER BY created_at DESC", (dataset,))
