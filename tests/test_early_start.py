"""`laas run` starts the local Dask cluster in a thread while Prefect's server starts
(tasks.compute.early_cluster): the flow's dask_cluster takes that cluster instead of starting
a second, stops it once, and one nobody took is stopped at the end of the block."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from laas.tasks import compute

EVENTS: list[tuple[str, int, str]] = []


@contextmanager
def fake(n_workers: int = 2) -> Iterator[str]:
    """A cluster factory (by `module:function` name, as LAAS_DASK_CLUSTER takes one) that
    records where it was started and stopped."""
    EVENTS.append(("start", n_workers, threading.current_thread().name))
    try:
        yield f"tcp://127.0.0.1:{len(EVENTS)}"
    finally:
        EVENTS.append(("stop", n_workers, threading.current_thread().name))


FAKE = f"{__name__}:fake"


@pytest.fixture(autouse=True)
def _clear() -> Iterator[None]:
    EVENTS.clear()
    yield
    compute._early.clear()


def test_the_flow_takes_the_cluster_started_early_and_stops_it_once() -> None:
    with compute.early_cluster(FAKE, 3):
        with compute.dask_cluster(None, 3, FAKE) as address:
            assert address == "tcp://127.0.0.1:1"
            assert [e[:2] for e in EVENTS] == [("start", 3)]
            assert EVENTS[0][2].startswith("laas-cluster")  # started in its own thread
        assert [e[:2] for e in EVENTS] == [("start", 3), ("stop", 3)]
    assert len(EVENTS) == 2  # not stopped again at the end of the block


def test_a_cluster_nobody_took_is_stopped_and_another_size_starts_its_own() -> None:
    with compute.early_cluster(FAKE, 2), compute.dask_cluster(None, 4, FAKE):  # another size
        pass
    assert sorted(e[:2] for e in EVENTS) == [("start", 2), ("start", 4), ("stop", 2),
                                             ("stop", 4)]
    with compute.dask_cluster("tcp://127.0.0.1:9", 2, FAKE) as address:  # a given scheduler
        assert address == "tcp://127.0.0.1:9"
    assert len(EVENTS) == 4


def test_a_cluster_that_failed_to_start_early_fails_the_flow_that_takes_it() -> None:
    with compute.early_cluster("tests.test_early_start:missing", 2), \
            pytest.raises(Exception, match="missing"), compute.dask_cluster(
                None, 2, "tests.test_early_start:missing"):
        pass


@pytest.mark.integration
@pytest.mark.prefect
def test_the_ephemeral_api_laas_starts_answers_in_the_block_and_is_gone_after(
        tmp_path, monkeypatch) -> None:
    """`laas run` without PREFECT_API_URL starts Prefect's ephemeral API itself: this process's
    Prefect settings point at it inside the block, and after it the server is stopped and the
    setting is what it was."""
    import os

    from prefect.context import refresh_global_settings_context
    from prefect.settings import get_current_settings

    from laas.deployments.ephemeral import answers, ephemeral_api

    try:
        with monkeypatch.context() as env:
            env.delenv("PREFECT_API_URL", raising=False)
            env.setenv("PREFECT_HOME", str(tmp_path))
            env.setenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")  # as laas's
            refresh_global_settings_context()
            with ephemeral_api() as server_up:
                server_up()
                url = os.environ["PREFECT_API_URL"]
                assert get_current_settings().api.url == url and answers(url)
            assert "PREFECT_API_URL" not in os.environ and not answers(url)
            assert get_current_settings().api.url is None
    finally:
        refresh_global_settings_context()


@pytest.mark.integration
@pytest.mark.prefect
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_the_ephemeral_api_goes_when_its_run_is_killed(tmp_path) -> None:
    """A `laas run` killed with SIGKILL runs no `finally`: its Prefect server stayed up for
    good (~220 MB each, found after killing a run over the package docs). It goes now."""
    import os
    import signal
    import subprocess
    import time

    from laas.deployments.ephemeral import answers

    script = ("import os, sys, time\n"
              "from laas.deployments.ephemeral import ephemeral_api\n"
              "with ephemeral_api() as up:\n"
              "    up()\n"
              "    print(os.environ['PREFECT_API_URL'], flush=True)\n"
              "    time.sleep(300)\n")
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    from laas.settings import PREFECT_DEFAULTS  # as laas starts it: no telemetry

    env |= PREFECT_DEFAULTS | {"PREFECT_HOME": str(tmp_path)}
    run = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE,
                           text=True)
    try:
        url = run.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and answers(url)
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
        run.stdout.close()
    deadline = time.monotonic() + 30
    while answers(url) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not answers(url)


_FORKED = '''
import os, sys
if __name__ == "__main__":
    from multiprocessing import forkserver
    from laas.deployments.clusters import local, start_forkserver
    start_forkserver(("json",))  # before distributed is imported, as `laas run` does
    early = forkserver._forkserver._forkserver_pid
    from distributed import Client
    with local(2) as address, Client(address) as client:
        parents = set(client.run(os.getppid).values())
        cli = set(client.run(lambda: "laas.cli" in sys.modules).values())
    print(early, *parents, *cli)
'''


@pytest.mark.integration
@pytest.mark.dask
def test_the_local_clusters_workers_fork_from_the_early_forkserver_with_the_cli(
        tmp_path) -> None:
    """`laas run` starts the forkserver before the cluster: the workers are forked from that
    one, with the CLI the `laas` script imports (each worker imports the program's main
    module again) imported there once."""
    import subprocess

    (tmp_path / "main.py").write_text(_FORKED)
    out = subprocess.run([sys.executable, str(tmp_path / "main.py")], capture_output=True,
                         text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    early, parent, cli = out.stdout.split()
    assert parent == early and cli == "True"
