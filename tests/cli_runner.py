"""`laas ...` inside the test process: the same entry point (laas.cli.main), arguments,
environment, working folder, stdout, stderr and exit code as a subprocess, without paying for a
new interpreter and its imports (~2-4 s of CPU for a `laas run`, half a second for a gate) on
every call. What the command would have read from a fresh process is reset around each call:
the environment, the cached settings, the process-wide caches the product keeps, Prefect's
settings (built from the call's environment) and the storage configuration.

Tests about processes (signals, kills, what a fresh interpreter imports, logs written by the
libraries, a per-process fee budget) keep the subprocess: `Workspace.laas(..., isolated=True)`
or `Workspace.isolated = True`; LAAS_TEST_CLI=subprocess runs every call that way."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

IN_PROCESS = os.environ.get("LAAS_TEST_CLI", "in-process") != "subprocess"


def run_in_process(argv: list[str], env: Mapping[str, str], cwd: Path
                   ) -> subprocess.CompletedProcess:
    out, err = io.StringIO(), io.StringIO()
    code: int = 0
    with _process_state(argv, env, cwd), contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err), _prefect_settings(), _library_logs_to(err):
        from laas.cli import main

        try:
            main()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def _process_state(argv: list[str], env: Mapping[str, str], cwd: Path) -> Iterator[None]:
    from laas.anchors.adapters import files

    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    saved_argv, saved_stdin = sys.argv, sys.stdin
    saved_files = files.current()
    os.environ.clear()
    os.environ.update(env)
    _fresh_caches()
    try:
        os.chdir(cwd)
        sys.argv, sys.stdin = list(argv), io.StringIO()
        yield
    finally:
        os.chdir(saved_cwd)
        sys.argv, sys.stdin = saved_argv, saved_stdin
        os.environ.clear()
        os.environ.update(saved_env)
        files.configure(saved_files)
        _fresh_caches()


def _fresh_caches() -> None:
    """What a new process would not have: the settings read once, the one fee budget of a
    run, and the hints of where runs are anchored (checked against the chain anyway)."""
    from laas import wiring
    from laas.anchors.adapters import runcalls
    from laas.anchors.core.fees import run_budget
    from laas.settings import get_settings

    wiring.close_indexes()  # a test may have replaced or locked the index file since
    get_settings.cache_clear()
    run_budget.cache_clear()
    runcalls.WHERE.clear()


@contextlib.contextmanager
def _prefect_settings() -> Iterator[None]:
    """Prefect reads its settings when it is first imported; a command run here sees them
    built from its own environment, as its own process would."""
    if "prefect" not in sys.modules:
        yield  # imported during this call, from this call's environment
        return
    from prefect.context import SettingsContext, get_settings_context
    from prefect.settings import Settings

    with SettingsContext(profile=get_settings_context().profile, settings=Settings()):
        yield


@contextlib.contextmanager
def _library_logs_to(stream: io.StringIO) -> Iterator[None]:
    """Prefect's console handlers hold the stderr of when logging was configured; a
    subprocess's stderr would have their lines (runs log 'resuming from ...' there)."""
    import logging

    moved = []
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for h in getattr(logger, "handlers", ()):
            if type(h).__name__ == "PrefectConsoleHandler" and h not in (m[0] for m in moved):
                moved.append((h, h.stream))
                h.stream = h.console.file = stream
    try:
        yield
    finally:
        for h, before in moved:
            h.stream = h.console.file = before
