"""Lineage index rows a checkpoint shares with an earlier one, stored once.

An incremental run's stage lists every shard of the dataset, and all but the changed ones
exactly as the previous run's same stage listed them: their index rows (key, URIs, hashes,
size, rows, leaf, status, reason) are equal but for the checkpoint and run they belong to.
Inserting them again cost ~17 CPU-us a row in six indexes: 5 s of a 100,000-shard run's
commit, for rows the index already held. Instead a checkpoint can *carry* the rows of
earlier checkpoints of the same dataset and stage (their owners):

    shard_carry (checkpoint_id, owner)       the checkpoint holds owner's own rows...
    shard_omit  (checkpoint_id, owner, key)  ...but for these keys

A checkpoint's rows are its own rows in `shards` and the rows it carries, each read back
with the carrying checkpoint's id and run (owners always own theirs: carried rows are never
carried on, so no chain is followed). Questions are answered from both, the same rows as if
each had been inserted (tests/test_ports_contract.py compares the two). The index stays a
cache of the chain and the manifests: `laas index rebuild` refills it the same way. An index
file from before has no carried rows; its rows are read as they were."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

# The index's tables' columns in their order (adapters.index defines them; a test holds the
# two equal). Here so `laas lineage` (index_sqlite) needs no SQLAlchemy to name them.
SHARD_COLUMNS = ("id", "checkpoint_id", "dataset", "run", "stage", "key", "uri", "source_uri",
                 "content_hash", "byte_size", "rows", "leaf", "status", "reason")
CHECKPOINT_COLUMNS = ("checkpoint_id", "dataset", "run", "stage", "shards_root", "shard_count",
                      "manifest_hash", "manifest_uri", "result_hash", "passed", "parents",
                      "tx_hash", "block_number", "gas_used", "created_at")
ROW_FACTS = ("key", "uri", "source_uri", "content_hash", "byte_size", "rows", "leaf", "status",
             "reason")  # what must be equal for a row to be carried
# Carry only when most rows are carried, and from a few owners: a question about a shard
# then joins a few carry rows, and every MAX_OWNERS runs a checkpoint holds its rows again.
MAX_OWNERS = 16

_OMITTED = ("NOT EXISTS (SELECT 1 FROM shard_omit AS o WHERE o.checkpoint_id = k.checkpoint_id"
            " AND o.owner = k.owner AND o.key = s.key)")


def _shard_select(carried: bool) -> list[str]:
    """shards' columns; a carried row's checkpoint and run are the carrier's (k, c)."""
    sub = {"checkpoint_id": "k.checkpoint_id", "run": "c.run"} if carried else {}
    return [f"{sub.get(col, 's.' + col)} AS {col}" for col in SHARD_COLUMNS]


def _select(carried: bool, with_checkpoint: Sequence[str]) -> str:
    """shards' columns, then the checkpoint's asked for, named as SQLAlchemy names a join's
    repeated columns (`dataset_1`); FROM the rows owned (s joined to its checkpoint c) or
    carried (s, carried by k into checkpoint c)."""
    cols = _shard_select(carried)
    cols += [f"c.{col} AS {col}_1" if col in SHARD_COLUMNS else f"c.{col} AS {col}"
             for col in with_checkpoint]
    src = ("shards AS s JOIN shard_carry AS k ON k.owner = s.checkpoint_id "
           "JOIN checkpoints AS c ON c.checkpoint_id = k.checkpoint_id") if carried else \
        "shards AS s JOIN checkpoints AS c ON c.checkpoint_id = s.checkpoint_id"
    return f"SELECT {', '.join(cols)} FROM {src}"


def find_queries(column: str, refs: int, run: bool) -> list[str]:
    """The rows (own, then carried) whose `column` is one of `refs` named parameters r0..,
    with their checkpoint's created_at; with `run`, of the run named :run."""
    marks = ", ".join(f":r{i}" for i in range(refs))
    out = []
    for carried in (False, True):
        sql = f"{_select(carried, ('created_at',))} WHERE s.{column} IN ({marks})"
        if run:
            sql += f" AND {'c' if carried else 's'}.run = :run"
        out.append(f"{sql} AND {_OMITTED}" if carried else sql)
    return out


def stages_queries() -> list[str]:
    """A shard's rows (own, then carried) in every checkpoint of one run, with each
    checkpoint's columns: parameters :dataset, :run, :key."""
    return [f"{_select(False, CHECKPOINT_COLUMNS)} WHERE s.dataset = :dataset AND s.run = :run "
            "AND s.key = :key",
            f"{_select(True, CHECKPOINT_COLUMNS)} WHERE c.dataset = :dataset AND c.run = :run "
            f"AND s.key = :key AND {_OMITTED}"]


# A checkpoint's rows as it holds them (own and carried), with their owner, by key.
BASE_ROWS = [f"SELECT {', '.join('s.' + f for f in ROW_FACTS)}, s.checkpoint_id FROM shards AS s "
             "WHERE s.checkpoint_id = :base",
             f"SELECT {', '.join('s.' + f for f in ROW_FACTS)}, s.checkpoint_id FROM shard_carry "
             "AS k JOIN shards AS s ON s.checkpoint_id = k.owner WHERE k.checkpoint_id = :base "
             f"AND {_OMITTED}"]
BASE_OMITTED = "SELECT owner, key FROM shard_omit WHERE checkpoint_id = :base"
# The latest other checkpoint of the same dataset and stage: what a new one may carry from.
BASE_OF = ("SELECT checkpoint_id FROM checkpoints WHERE dataset = :dataset AND stage = :stage "
           "AND checkpoint_id != :cid ORDER BY created_at DESC LIMIT 1")


class Carry:
    """What a checkpoint stores: its own rows, the owners whose rows it carries, and the
    (owner, key) of each owner's row it does not (changed, or no longer in the stage)."""

    def __init__(self, own: list[tuple], owners: Iterable[str] = (),
                 omitted: Iterable[tuple[str, str]] = ()):
        self.own = own
        self.owners = sorted(owners)
        self.omitted = sorted(set(omitted))


def plan_carry(rows: list[tuple], base: Iterable[Sequence[Any]],
               base_omitted: Iterable[tuple[str, str]]) -> Carry:
    """rows: the new checkpoint's rows (adapters.index's tuples: checkpoint_id, dataset, run,
    stage, then ROW_FACTS). base: the rows of the checkpoint it may carry from, as that one
    holds them (ROW_FACTS, then the owner), each key once; base_omitted: that one's
    omissions. All its rows are its own when carrying would not save most of them."""
    held, n = {}, 0
    for r in base:  # tuples: ROW_FACTS, then the owner
        held[r[0]] = r
        n += 1
    if len(held) != n or len({r[4] for r in rows}) != len(rows):
        return Carry(rows)  # a key twice (no stage of laas lists one so): nothing to match
    own, carried = [], {}
    facts = len(ROW_FACTS)
    for row in rows:
        hit = held.pop(row[4], None)
        if hit is not None and hit[:facts] == row[4:]:
            carried[hit[facts]] = carried.get(hit[facts], 0) + 1
        else:
            own.append(row)
            if hit is not None:
                held[row[4]] = hit  # not carried: omitted below like the unmatched ones
    if not carried or 2 * len(own) > len(rows) or len(carried) > MAX_OWNERS:
        return Carry(rows)
    # every row of a carried owner that this checkpoint does not take is omitted for it: the
    # base's rows not matched, and those the base itself omitted from that owner
    omitted = [(r[facts], key) for key, r in held.items() if r[facts] in carried]
    omitted += [(owner, key) for owner, key in base_omitted if owner in carried]
    return Carry(own, carried, omitted)
