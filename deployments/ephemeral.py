"""Prefect's ephemeral API for one `laas run`, started by laas instead of by Prefect's client.

Prefect's own start (`SubprocessASGIServer`, called from `get_client` when no API URL is set)
imports the whole Prefect server into the calling process only to launch it in another: ~3 s
of CPU on this kind of machine, spent while the server's process, the Dask workers and the
flow's imports compete for the same two cores. This launches the same command with the same
environment (no UI, ephemeral mode, the caller's Prefect settings), points this process's
Prefect settings at it, and stops it when the block ends, as Prefect would at exit."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from laas.deployments import prefect_db
from laas.errors import ConfigError

PORT_TAKEN = 3  # uvicorn's exit code when its port was taken meanwhile
POLL_S = 0.05
DRAIN_S = 5  # most seconds spent sending the run's last logs and events before the stop


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(url: str) -> bool:
    """Whether a Prefect API at url answers its health check."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


# Run in the server's own interpreter before uvicorn (Linux): ask for SIGTERM when the process
# that started it dies (PR_SET_PDEATHSIG), and stop at once if that one is already gone. A
# `laas run` killed with SIGKILL (the OOM killer, a CI timeout) runs no `finally`, and its
# server stayed up for good, ~220 MB each. Set here, not between fork and exec: Python code
# there (Popen's preexec_fn) can crash the child of a process with threads (it did, in tests).
_GUARD = ("import ctypes, os, runpy, signal, sys; "
          "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM); "
          "parent = int(sys.argv.pop(1)); os.getppid() == parent or sys.exit(0); "
          "sys.argv[0] = 'uvicorn'; runpy.run_module('uvicorn', run_name='__main__')")


def _server_command(port: int) -> list[str]:
    """The server's command line. The signal comes when the thread that started it ends:
    `laas run` starts it from its main thread. Elsewhere than Linux the `finally` stops it."""
    args = ["--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1",
            "--port", str(port), "--log-level", "error", "--lifespan", "on"]
    if not sys.platform.startswith("linux"):
        return [sys.executable, "-m", "uvicorn", *args]
    return [sys.executable, "-c", _GUARD, str(os.getpid()), *args]


class _Server:
    def __init__(self, env: dict[str, str]):
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def launch(self) -> None:
        """Start it on a free port and point this process's Prefect settings at it."""
        from prefect.context import refresh_global_settings_context

        port = _free_port()
        self.url = f"http://127.0.0.1:{port}/api"
        self.proc = subprocess.Popen(_server_command(port), env=self.env,
                                     stdin=subprocess.DEVNULL)
        os.environ["PREFECT_API_URL"] = self.url
        refresh_global_settings_context()

    def wait(self, timeout: float) -> None:
        """Until it answers (bounded); a port taken meanwhile means a new one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.proc.poll() if self.proc else None
            if code == PORT_TAKEN:
                self.launch()
            elif code is not None:
                raise ConfigError(f"Prefect's ephemeral API server exited at start (code "
                                  f"{code}; see its output above); set PREFECT_API_URL to a "
                                  "running server, or fix PREFECT_HOME")
            elif answers(self.url):
                return
            time.sleep(POLL_S)
        raise ConfigError(f"Prefect's ephemeral API server did not answer on {self.url} within "
                          f"{timeout:.0f}s: raise PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
                          " or set PREFECT_API_URL to a running server")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


def _drain(timeout: float) -> None:
    """Send what Prefect's log and event workers still hold, while the server is there to take
    it (Prefect's own exit hooks would otherwise retry it against a stopped server)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        worker.drain_all(timeout=timeout)


@contextmanager
def ephemeral_api() -> Iterator[Callable[[], None]]:
    """When no Prefect API is configured (environment or profile), start the ephemeral one
    now and yield what waits until it answers (call it before the flow); else yield a no-op.
    The server stops, and the setting is restored, when the block ends."""
    import prefect
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    if settings.api.url:
        yield lambda: None
        return
    timeout = float(settings.server.ephemeral.startup_timeout_seconds)
    env = {**prefect_db.no_blocks(os.environ), **os.environ, "PREFECT_UI_ENABLED": "0",
           "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1",
           **settings.to_environment_variables(exclude_unset=True)}
    db = prefect_db.default_db(settings)
    new = db is not None and prefect_db.seed(db, prefect.__version__)
    server = _Server(env)

    def ready() -> None:
        server.wait(timeout)
        if new:  # migrated by this server and not used yet: the template for new homes
            prefect_db.keep(db, prefect.__version__)

    try:
        server.launch()
        yield ready
    finally:
        _drain(DRAIN_S)
        server.stop()
        os.environ.pop("PREFECT_API_URL", None)
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()
