"""Shared fixtures. Everything real: an anvil process per module on a free loopback port,
the `laas` CLI as a subprocess with its own home, a Dask LocalCluster of worker processes, and
one real Prefect server for the session (a `laas run` would otherwise start and stop Prefect's
ephemeral server, ~6 s each; test_pipeline's `make demo` still takes that default path)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_runner import IN_PROCESS, run_in_process

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "laas" / "datasets"
LAAS = str(Path(sys.executable).parent / "laas")
DASK = str(Path(sys.executable).parent / "dask")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_PREFECT: list = []  # the session's ControlPlane, started by the first Workspace
_DASK: list = []  # the session's Dask scheduler and workers, started by the first Workspace


def _session_dir(prefix: str) -> Path:
    """A folder for one of the session's shared services, removed when the session ends."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("PYTEST_TMP", "/tmp")))


def shared_prefect_api() -> str:
    if not _PREFECT:
        from laas.deployments.server import ControlPlane

        plane = ControlPlane(_session_dir("laas-prefect-"), port=free_port())
        # A loaded 2-core machine has taken minutes to start it (the server imports and
        # migrates its database); every module waits on it anyway.
        plane.start_server(timeout=420)
        _PREFECT.append(plane)
    return _PREFECT[0].api_url


def shared_dask_address() -> str:
    """One real scheduler and two worker processes for the session's runs: a run's own
    LocalCluster costs its start plus every worker's imports (~10 s of CPU on 2 cores), and
    workers read nothing from the environment (storage settings travel with each batch), so
    runs of different workspaces can share them. test_distributed and the demo keep their own."""
    if not _DASK:
        _DASK.append(DaskProcs(_session_dir("laas-dask-")))
    return _DASK[0].address


def pytest_sessionfinish(session: pytest.Session) -> None:
    for procs in _DASK:
        procs.stop()
        shutil.rmtree(procs.log.parent, ignore_errors=True)
    for plane in _PREFECT:
        plane.stop()
        shutil.rmtree(plane.home, ignore_errors=True)


class DaskProcs:
    """A Dask scheduler and two single-threaded workers, each its own process on loopback."""

    def __init__(self, root: Path):
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.log = root / "dask.log"
        self.scheduler = self._spawn("scheduler", "--host", "127.0.0.1", "--port",
                                     str(self.port), "--no-dashboard")
        self.workers = [self.worker() for _ in range(2)]
        try:
            self.wait_for_workers(2)
        except BaseException:
            self.stop()  # not left running (and unreaped) behind the error
            raise

    def _spawn(self, *args: str) -> subprocess.Popen:
        # The scheduler keeps 1000 transitions by default; the kill test reads back the story
        # of the tasks it took from the victim after a whole run, so keep them all.
        env = {**os.environ, "DASK_DISTRIBUTED__ADMIN__LOW_LEVEL_LOG_LENGTH": "1000000"}
        with open(self.log, "ab") as log:
            return subprocess.Popen([DASK, *args], stdout=log, stderr=subprocess.STDOUT,
                                    env=env)

    def worker(self) -> subprocess.Popen:
        return self._spawn("worker", self.address, "--nthreads", "1", "--nworkers", "1",
                           "--host", "127.0.0.1", "--no-dashboard", "--no-nanny")

    def wait_for_workers(self, n: int, timeout: float = 60) -> None:
        from distributed import Client

        with Client(self.address, timeout=30) as c:
            c.wait_for_workers(n, timeout=timeout)

    def stop(self) -> None:
        # Workers first: one whose scheduler has gone spends ~20 s trying to reconnect before
        # it exits; with the scheduler still up each leaves in a fraction of a second.
        for group in (self.workers, [self.scheduler]):
            for p in group:
                p.terminate()
            for p in group:
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=10)



class Workspace:
    """A laas home of its own: chain, artifacts, index, Prefect state, dataset specs."""

    isolated = False  # True: every `laas` call of this workspace is a subprocess

    def __init__(self, root: Path):
        self.root = root
        self.port = free_port()
        self.env = {
            **os.environ,
            "LAAS_HOME": str(root / ".laas"),
            "LAAS_ANVIL_PORT": str(self.port),
            "LAAS_DATASETS_DIR": str(root / "datasets"),
            "PREFECT_HOME": str(root / "prefect"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "COLUMNS": "200",
        }
        for k in ("LAAS_RPC_URL", "LAAS_REGISTRY_ADDRESS", "LAAS_PRIVATE_KEY", "LAAS_DASK_CLUSTER"):
            self.env.pop(k, None)
        self.env["PREFECT_API_URL"] = shared_prefect_api()
        self.env["LAAS_DASK_ADDRESS"] = shared_dask_address()
        (root / "datasets").mkdir(parents=True, exist_ok=True)

    def laas(self, *args: str, timeout: float = 300, env: dict[str, str] | None = None,
             isolated: bool | None = None) -> subprocess.CompletedProcess:
        """The CLI, in this process (tests/cli_runner.py) unless the test is about processes
        (`isolated`, or the workspace's own `isolated`); `timeout` bounds a subprocess only,
        pytest-timeout the rest."""
        if IN_PROCESS and not (self.isolated if isolated is None else isolated):
            return run_in_process([LAAS, *args], env or self.env, self.root)
        return subprocess.run([LAAS, *args], cwd=self.root, env=env or self.env, text=True,
                              capture_output=True, timeout=timeout)

    def settings(self):  # noqa: ANN201 - the Settings of this workspace
        from laas.settings import Settings

        return Settings(home=self.root / ".laas", anvil_port=self.port)

    def add_dataset(self, name: str, shards: dict[str, bytes], **spec_changes: object) -> Path:
        """A copy of the sample spec named `name` over the given shard files; on_failure
        quarantine unless changed (the tests built on it set shards aside whole; the sample
        itself drops rows)."""
        import yaml

        spec = yaml.safe_load((SAMPLE / "instruct-sample.yaml").read_text())
        spec.update({"name": name, "source": f"{name}/*", "on_failure": "quarantine",
                     **spec_changes})
        folder = self.root / "datasets" / name
        folder.mkdir(parents=True, exist_ok=True)
        for fname, data in shards.items():
            (folder / fname).write_bytes(data)
        path = self.root / "datasets" / f"{name}.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        return path

    def close(self) -> None:
        self.laas("chain", "down", timeout=60)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    yield from module_home(Workspace, tmp_path_factory, "ws")


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """A fresh anvil with the registry deployed, for contract-level tests."""
    from laas.wiring import local_chain, open_registry

    ws = Workspace(tmp_path_factory.mktemp("chain"))
    ws.registry = open_registry(ws.settings())
    yield ws
    local_chain(ws.settings()).down()


# Which real service each fixture starts, as markers: a test is tiered by what it actually
# uses, so a new test that takes `workspace` or `s3` can never slip into the fast tier.
SERVICE_MARKERS = {
    "workspace": ("chain", "prefect", "dask"),  # the CLI in a subprocess: the whole stack
    "chain": ("chain",),
    "remote": ("chain",),  # tests/test_faults.py: someone else's anvil
    "s3": ("s3",),
    "dask_procs": ("dask",),
    "plane": ("prefect",),
    "l2": ("chain", "prefect", "dask"),  # tests/test_l2.py: anvil behind a provider proxy
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`integration` = anything that starts a real service (or is marked so by its module);
    `make check` runs the rest."""
    for item in items:
        services = {m for f in item.fixturenames for m in SERVICE_MARKERS.get(f, ())}
        for name in sorted(services):
            item.add_marker(name)
        if services or any(item.get_closest_marker(m) for m in ("chain", "s3", "dask",
                                                                 "prefect", "slow")):
            item.add_marker("integration")


def node_available() -> bool:
    return shutil.which("node") is not None and (REPO / "node_modules").is_dir()


class S3:
    """moto's S3 server on a loopback port, and the settings that point laas at it."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        # laas's own settings, not the AWS credential chain: they travel with each batch to
        # the suite's shared Dask workers, which were started without them.
        self.env = {
            "LAAS_S3_KEY": "testing", "LAAS_S3_SECRET": "testing",
            "LAAS_S3_REGION": "us-east-1", "LAAS_S3_ENDPOINT_URL": self.endpoint,
        }

    def client(self):  # noqa: ANN201 - a boto3 S3 client for arranging and tampering
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name


@pytest.fixture(scope="module")
def s3() -> Iterator[S3]:
    from laas.anchors.adapters import files
    from laas.settings import get_settings
    from laas.wiring import use_storage

    server = S3()
    server.server.start()
    before = files.current()
    with pytest.MonkeyPatch.context() as mp:
        for k, v in server.env.items():
            mp.setenv(k, v)
        get_settings.cache_clear()
        use_storage(get_settings())  # this process is a composition root too: the tests
        yield server
    files.configure(before)
    get_settings.cache_clear()
    server.server.stop()


@contextlib.contextmanager
def posts_to(status: int, received: list | None = None) -> Iterator[str]:
    """A loopback HTTP endpoint answering every POST with `status` (its JSON bodies appended
    to `received`); yields its URL and closes its socket after (warnings are errors)."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if received is not None:
                received.append(json.loads(body))
            self.send_response(status)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def module_home(kind: type, factory: pytest.TempPathFactory, name: str) -> Iterator:
    """A module fixture's body: a workspace of `kind` in a fresh folder, closed after."""
    ws = kind(factory.mktemp(name))
    try:
        yield ws
    finally:
        ws.close()


@contextlib.contextmanager
def postgres_server() -> Iterator:
    """pgserver's PostgreSQL on a Unix socket, in a folder outside pytest's: pgserver runs it
    as its own system user and opens the folder's parents to it, and another pytest session
    on the machine resets /tmp/pytest-of-root to 0700 (Permission denied, mid-suite)."""
    import pgserver  # in the dev extra: missing it is an error, not a skip

    folder = _session_dir("laas-pg-")
    server = pgserver.get_server(folder / "pg", cleanup_mode="stop")
    try:
        yield server
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)
