"""A new PREFECT_HOME's database, seeded from a copy laas kept of one it saw freshly migrated.

Prefect's ephemeral server creates its SQLite database on first start by running every
Alembic migration since Prefect 2 (~100 revisions, each a batch table rebuild in SQLite): ~4 s
of CPU on this kind of machine, half of the server's start and a sixth of a one-shard `laas
run` on a fresh home (a new user's first run, every test module's server, every benchmark run
with fresh homes), for a result that is the same empty database each time. The first server
laas starts on a new home leaves a snapshot of that database, taken as soon as the server
answers (migrated, nothing run yet), in the user's cache (XDG_CACHE_HOME or ~/.cache, under
laas/), one per Prefect version; a later new home starts from a copy of it, and Prefect's own
start then finds it at the newest revision (it still checks, and migrates anything newer).
Only the default database (prefect.db in PREFECT_HOME) is seeded; a configured one (Postgres,
another path) is Prefect's alone."""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

# Prefect registers its block types in the database at every start unless a memo in PREFECT_HOME
# says it did so for this database URL: ~1 s of CPU on a new home, and the memo's hash at every
# start. laas's server has no UI and laas uses no blocks. Both are turned off together: with
# the memo on, Prefect writes it even when registration is off, and a later server on the home
# (`prefect server start`) would then never register them; with neither, that server finds no
# memo and registers them itself.
BLOCKS = {"PREFECT_SERVER_REGISTER_BLOCKS_ON_START": "false",
          "PREFECT_SERVER_MEMOIZE_BLOCK_AUTO_REGISTRATION": "false"}
ALIASES = ("PREFECT_API_BLOCKS_REGISTER_ON_START", "PREFECT_MEMOIZE_BLOCK_AUTO_REGISTRATION")


def no_blocks(environ: dict[str, str]) -> dict[str, str]:
    """The settings that skip it, unless the environment sets either (a profile's settings
    come after these in the server's environment, and win too)."""
    return {} if any(name in environ for name in (*BLOCKS, *ALIASES)) else dict(BLOCKS)


def cache_dir() -> Path | None:
    """$XDG_CACHE_HOME/laas or ~/.cache/laas; None when neither is an absolute path (no home
    directory): no template then, rather than one relative to wherever laas was run."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"))
    return base / "laas" if base.is_absolute() else None


def default_db(settings: Any) -> Path | None:
    """The SQLite file Prefect's server uses when nothing else is configured, else None."""
    url = settings.server.database.connection_url
    db = Path(settings.home) / "prefect.db"
    if url is None or url.get_secret_value() != f"sqlite+aiosqlite:///{db}":
        return None
    return db


def template(version: str) -> Path | None:
    cache = cache_dir()
    return None if cache is None else cache / f"prefect-{version}.db"


def seed(db: Path, version: str) -> bool:
    """Before the server starts: a missing database made from the template, if there is one.
    True when the database is missing and no template exists (the server will migrate a new
    one: `keep` it once it answers). Never replaces a database that exists, even one that
    appeared meanwhile (a concurrent run on the same home): linked, not renamed, into place."""
    if db.exists() or _wal(db).exists():
        return False
    source = template(version)
    if source is None or not source.is_file():
        return source is not None
    db.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=db.parent, prefix=".prefect-seed-")
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            out.write(src.read())
        os.link(tmp, db)
    except OSError:  # a database appeared meanwhile, or the copy failed: Prefect makes its own
        pass
    finally:
        os.unlink(tmp)
    return False


def keep(db: Path, version: str) -> None:
    """The server's freshly migrated database, copied (SQLite's online backup: consistent while
    the server writes) to the template for later new homes; a failure only costs the saving."""
    target = template(version)
    if target is None:
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".prefect-template-")
        os.close(fd)
        try:
            src = sqlite3.connect(db, timeout=5)
            dst = sqlite3.connect(tmp)
            try:
                src.backup(dst)
                dst.execute("PRAGMA journal_mode=DELETE")  # one file (Prefect sets WAL again)
            finally:
                dst.close()
                src.close()
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except (OSError, sqlite3.Error):
        pass


def _wal(db: Path) -> Path:
    return db.with_name(db.name + "-wal")
