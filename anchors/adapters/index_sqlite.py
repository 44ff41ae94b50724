"""The lineage index's questions, answered from its default SQLite file with the standard
library's sqlite3: `laas lineage` then starts without SQLAlchemy (~150 ms of imports, most of
what it paid above `import laas.cli`). Read-only; the same rows, keys and types as
adapters.index.LineageIndex, which writes the file (tests/test_ports_contract.py runs both
through the same assertions and compares their answers)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

from laas.anchors.adapters.index_carry import (
    CHECKPOINT_COLUMNS,
    SHARD_COLUMNS,
    find_queries,
    stages_queries,
)
from laas.anchors.core.models import STAGE_ORDER
from laas.errors import LaasError

__all__ = ["CHECKPOINT_COLUMNS", "SHARD_COLUMNS", "SqliteIndexReader"]  # what callers import
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


def as_answer(names: list[str], row: Any) -> dict[str, Any]:
    """A result row as both clients answer it: by column name, booleans as bool (SQLite
    keeps them as integers)."""
    return {k: bool(v) if k in _BOOLEAN and v is not None else v
            for k, v in zip(names, row, strict=True)}


def find_shard(rows: Callable[[str, dict], list[dict]], ref: str, run: str | None
               ) -> list[dict]:
    """Shard rows matching a content hash, leaf, URI, path or key (own rows and carried
    ones: index_carry), newest run first; `rows(sql, args)` runs a query. One indexed lookup
    per column (an OR across columns would scan the whole table)."""
    cands = sorted({ref} | ({str(Path(ref).resolve())}
                            if not ref.startswith("0x") and "://" not in ref else set()))
    is_hash = ref.startswith("0x") and len(ref) == 66
    args: dict[str, Any] = {f"r{i}": c for i, c in enumerate(cands)} | ({"run": run} if run
                                                                          else {})
    found: dict[tuple, dict] = {}
    for column in (("content_hash", "leaf") if is_hash else ("uri", "source_uri", "key")):
        for sql in find_queries(column, len(cands), bool(run)):
            found.update(((r["checkpoint_id"], r["id"]), r) for r in rows(sql, args))
    return sorted(known_stages(list(found.values())), key=lambda r: r["created_at"],
                  reverse=True)


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
        except sqlite3.OperationalError as e:
            if "shard_carry" in sql and str(e).startswith("no such table: shard_"):
                return []  # a file no laas that carries rows has written to yet: none carried
            raise self._unreadable(e) from None
        except sqlite3.DatabaseError as e:
            raise self._unreadable(e) from None
        return [as_answer(names, row) for row in rows]

    def _unreadable(self, e: Exception) -> LaasError:
        return LaasError(f"the lineage index {self.where} cannot be read ({e}): move it "
                        "aside and run `laas index rebuild` to rebuild it from the chain")

    def checkpoint(self, checkpoint_id: str) -> dict | None:
        rows = self._rows(f"SELECT {', '.join(CHECKPOINT_COLUMNS)} FROM checkpoints "
                          "WHERE checkpoint_id = ?", (checkpoint_id,))
        return rows[0] if rows else None

    def find_shard(self, ref: str, run: str | None = None) -> list[dict]:
        """As LineageIndex.find_shard."""
        return find_shard(self._rows, ref, run)

    def stages_of(self, dataset: str, run: str, key: str) -> list[dict]:
        args = {"dataset": dataset, "run": run, "key": key}
        return in_stage_order([r for q in stages_queries() for r in self._rows(q, args)])

    def runs(self, dataset: str) -> list[dict]:
        return self._rows(f"SELECT {', '.join(CHECKPOINT_COLUMNS)} FROM checkpoints "
                          "WHERE dataset = ? ORDER BY created_at DESC", (dataset,))
