"""A new PREFECT_HOME's database is seeded from a template of one freshly migrated
(deployments/prefect_db.py), without ever touching a database that exists; the integration
test starts Prefect's real server on a new home twice: the first leaves the template, the
second starts from it."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydantic import SecretStr

from laas.deployments import prefect_db


def _db(path: Path, rows: int, wal: bool = False) -> sqlite3.Connection:
    con = sqlite3.connect(path)
    if wal:
        con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE t (n INTEGER)")
    con.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(rows)])
    con.commit()
    return con


def _rows(path: Path) -> int:
    with sqlite3.connect(path) as con:
        return con.execute("SELECT count(*) FROM t").fetchone()[0]


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "laas"


def test_a_new_home_is_seeded_from_the_template_and_an_existing_database_never(
        tmp_path, cache) -> None:
    home = tmp_path / "home"
    assert prefect_db.seed(home / "prefect.db", "9.9") is True  # no template yet: keep one
    assert not (home / "prefect.db").exists()
    cache.mkdir(parents=True)
    _db(cache / "prefect-9.9.db", 3).close()
    assert prefect_db.seed(home / "prefect.db", "9.9") is False
    assert _rows(home / "prefect.db") == 3
    assert prefect_db.seed(tmp_path / "other" / "prefect.db", "1.0") is True  # another version
    mine = tmp_path / "mine"
    mine.mkdir()
    _db(mine / "prefect.db", 7).close()
    assert prefect_db.seed(mine / "prefect.db", "9.9") is False
    assert _rows(mine / "prefect.db") == 7  # never replaced
    assert sorted(p.name for p in home.iterdir()) == ["prefect.db"]  # no copy left behind


def test_the_template_is_a_consistent_copy_of_a_database_in_use(tmp_path, cache) -> None:
    live = _db(tmp_path / "prefect.db", 5, wal=True)  # open, its rows still in the WAL file
    try:
        assert (tmp_path / "prefect.db-wal").stat().st_size > 0
        prefect_db.keep(tmp_path / "prefect.db", "9.9")
    finally:
        live.close()
    assert _rows(cache / "prefect-9.9.db") == 5
    assert [p.name for p in cache.iterdir()] == ["prefect-9.9.db"]


def test_no_home_directory_means_no_template_rather_than_one_in_the_working_folder(
        tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(os.path, "expanduser", lambda path: path)  # "~" stays "~"
    monkeypatch.chdir(tmp_path)
    assert prefect_db.seed(tmp_path / "home" / "prefect.db", "9.9") is False
    _db(tmp_path / "prefect.db", 1).close()
    prefect_db.keep(tmp_path / "prefect.db", "9.9")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prefect.db"]


def test_only_the_default_database_is_seeded_and_the_environment_keeps_block_settings(
        tmp_path) -> None:
    def settings(url: str | None) -> SimpleNamespace:
        return SimpleNamespace(home=tmp_path, server=SimpleNamespace(database=SimpleNamespace(
            connection_url=None if url is None else SecretStr(url))))

    assert prefect_db.default_db(settings(f"sqlite+aiosqlite:///{tmp_path}/prefect.db")) == \
        tmp_path / "prefect.db"
    assert prefect_db.default_db(settings("postgresql+asyncpg://u@127.0.0.1/p")) is None
    assert prefect_db.default_db(settings(f"sqlite+aiosqlite:///{tmp_path}/x.db")) is None
    assert prefect_db.no_blocks({}) == prefect_db.BLOCKS
    assert prefect_db.no_blocks({"PREFECT_API_BLOCKS_REGISTER_ON_START": "true"}) == {}


@pytest.mark.integration
@pytest.mark.prefect
def test_a_second_new_home_starts_from_the_first_ones_migrated_database(
        tmp_path, cache, monkeypatch) -> None:
    """The real server: the first new home migrates its database and leaves the template;
    the second starts from a copy of it, at the same revision, and answers; so does `laas
    server`'s control plane on a third."""
    from prefect.context import refresh_global_settings_context

    from laas.deployments.ephemeral import ephemeral_api
    from laas.deployments.server import ControlPlane
    from laas.settings import PREFECT_DEFAULTS
    from tests.conftest import free_port

    def revision(home: Path) -> str:
        with sqlite3.connect(home / "prefect.db") as con:
            return con.execute("SELECT version_num FROM alembic_version").fetchone()[0]

    def seeded(home: Path) -> bool:
        with sqlite3.connect(home / "prefect.db") as con:
            return con.execute("SELECT count(*) FROM sqlite_master WHERE name = "
                               "'seeded_by_laas'").fetchone()[0] == 1

    try:
        for name in ("first", "second"):
            with monkeypatch.context() as env:
                env.delenv("PREFECT_API_URL", raising=False)
                for k, v in PREFECT_DEFAULTS.items():
                    env.setenv(k, v)
                env.setenv("PREFECT_HOME", str(tmp_path / name))
                (tmp_path / name).mkdir()
                refresh_global_settings_context()
                with ephemeral_api() as server_up:
                    server_up()
            templates = list(cache.iterdir())
            assert len(templates) == 1 and templates[0].name.startswith("prefect-")
            if name == "first":  # a mark only a copy of the template can carry
                with sqlite3.connect(templates[0]) as con:
                    con.execute("CREATE TABLE seeded_by_laas (x)")
        assert revision(tmp_path / "first") == revision(tmp_path / "second")
        assert seeded(tmp_path / "second") and not seeded(tmp_path / "first")
        assert not (tmp_path / "second" / "memo_store.toml").exists()  # blocks left to others
        plane = ControlPlane(tmp_path / "plane", free_port(), env={  # `laas server`'s
            k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"})
        (tmp_path / "plane" / "prefect.db").unlink(missing_ok=True)
        try:
            plane.start_server(timeout=420)
            assert revision(tmp_path / "plane") == revision(tmp_path / "first")
            assert seeded(tmp_path / "plane")
            assert (tmp_path / "plane" / "memo_store.toml").exists()  # its UI's blocks, its own
        finally:
            plane.stop()
    finally:
        refresh_global_settings_context()
        os.environ.pop("PREFECT_API_URL", None)
