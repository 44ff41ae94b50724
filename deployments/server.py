"""The Prefect control plane on one machine: a Prefect server with its UI on loopback, the
`laas-local` process work pool with a worker, and the deployments of prefect.yaml. `laas
server` (`make server`) runs it in the foreground; tests start the same pieces on free ports.
Every child runs in its own process group and is stopped with it: nothing is left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from importlib import metadata
from pathlib import Path

from laas.deployments import prefect_db
from laas.errors import ConfigError
from laas.settings import PREFECT_DEFAULTS

POOL = "laas-local"
REPO = Path(__file__).resolve().parent.parent


def _prefect() -> str:
    return str(Path(sys.executable).parent / "prefect")


class ControlPlane:
    def __init__(self, home: Path, port: int = 4200, env: dict[str, str] | None = None):
        self.home = home
        self.port = port
        self.api_url = f"http://127.0.0.1:{port}/api"
        self.env = {
            **PREFECT_DEFAULTS,
            **(env if env is not None else os.environ),
            "PREFECT_HOME": str(home),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_WORKER_QUERY_SECONDS": "2",
        }
        self.procs: list[subprocess.Popen] = []
        home.mkdir(parents=True, exist_ok=True)

    def _spawn(self, *args: str, log: str) -> subprocess.Popen:
        # The child writes through its own copy of the descriptor: ours is closed at once.
        with open(self.home / log, "ab") as out:
            proc = subprocess.Popen([_prefect(), *args], env=self.env, cwd=REPO, stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        self.procs.append(proc)
        return proc

    def _run(self, *args: str, timeout: float = 300) -> str:
        r = subprocess.run([_prefect(), *args], env=self.env, cwd=REPO, capture_output=True,
                           text=True, timeout=timeout)
        if r.returncode:
            raise ConfigError(f"`prefect {' '.join(args)}` failed: {r.stderr.strip()[-400:]}")
        return r.stdout

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as resp:
                return json.load(resp) is True
        except (OSError, ValueError):
            return False

    def start_server(self, timeout: float = 120) -> None:
        """The server, its database seeded from laas's template when its home has none (and no
        other database is configured): see deployments/prefect_db.py."""
        db, version = self.home / "prefect.db", metadata.version("prefect")
        new = not any(k.startswith("PREFECT_") and "DATABASE" in k for k in self.env) and \
            prefect_db.seed(db, version)
        server = self._spawn("server", "start", "--host", "127.0.0.1", "--port", str(self.port),
                             log="server.log")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if server.poll() is not None:
                tail = (self.home / "server.log").read_text(errors="replace")[-400:]
                raise ConfigError(f"Prefect server exited at start (port {self.port}?): {tail}")
            if self.healthy():
                if new:  # migrated by this server: the template for new homes
                    prefect_db.keep(db, version)
                return
            time.sleep(0.5)
        self.stop()  # not left running behind the error
        raise ConfigError(f"Prefect server not healthy on {self.api_url} after {timeout:.0f}s")

    def deploy(self) -> None:
        """The work pool, then every deployment of prefect.yaml."""
        self._run("work-pool", "create", POOL, "--type", "process", "--overwrite")
        self._run("--no-prompt", "deploy", "--all")

    def start_worker(self) -> None:
        self._spawn("worker", "start", "--pool", POOL, "--type", "process", log="worker.log")

    def stop(self, timeout: float = 20) -> None:
        for proc in reversed(self.procs):  # worker first, server last
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        self.procs.clear()
