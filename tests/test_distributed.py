"""Distribution for real: a Dask scheduler and two workers as separate processes on loopback.
The same dataset gives the same roots on them as on a LocalCluster, even when a worker is
killed in the middle of a stage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from laas.datasets.make_sample import rows
from tests.conftest import DaskProcs, Workspace


@pytest.fixture(scope="module")
def dask_procs(workspace: Workspace) -> Iterator[DaskProcs]:
    workspace.env.pop("LAAS_DASK_ADDRESS")  # runs here without --dask-address: a LocalCluster
    workspace.isolated = True  # of worker processes spawned by a `laas` process, as users get
    procs = DaskProcs(workspace.root)
    yield procs
    procs.stop()


def _shards(n: int, rows_each: int) -> dict[str, bytes]:
    return {f"part-{i:03d}.jsonl": "".join(json.dumps(r) + "\n" for r in rows(100 + i, rows_each))
            .encode() for i in range(n)}


def _roots(summary: dict) -> list[str]:
    return [c["shards_root"] for c in summary["checkpoints"]]


def _run(ws: Workspace, *args: str) -> dict:
    r = ws.laas("run", *args, "--json", timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr[-4000:]
    return json.loads(r.stdout)


def test_external_scheduler_gives_the_local_cluster_roots(workspace, dask_procs) -> None:
    workspace.add_dataset("spread", _shards(12, 200))
    local = _run(workspace, "spread")
    remote = _run(workspace, "spread", "--dask-address", dask_procs.address)
    assert _roots(remote) == _roots(local)
    assert [c["shard_count"] for c in remote["checkpoints"]] == [12, 12, 12]


def test_a_worker_killed_mid_stage_loses_and_doubles_nothing(workspace, dask_procs) -> None:
    from distributed import Client

    def rescheduled(dask_scheduler) -> list:  # noqa: ANN001
        """Runs on the scheduler (nested, so it is pickled by value: the scheduler cannot
        import tests/). The keys the scheduler took back from a worker because it died
        (processing -> released when the worker's connection is cleaned up) and computed
        afterwards (-> memory) elsewhere. Read from the whole log, not only the keys seen busy
        before the kill: one of those may finish in the instant before the kill lands."""
        lost = set()
        done = set()
        for key, start, finish, _, stimulus, _ in dask_scheduler.transition_log:
            if start == "processing" and str(stimulus).startswith("handle-worker-cleanup"):
                lost.add(key)
            elif key in lost and finish == "memory":
                done.add(key)
        return sorted(map(str, done))

    workspace.add_dataset("survivor", _shards(40, 1500))
    local = _run(workspace, "survivor")
    # --no-reuse: the same sources again would otherwise reuse the first run's results and
    # leave the workers next to nothing to lose
    cmd = [str(Path(sys.executable).parent / "laas"), "run", "survivor", "--json",
           "--no-reuse", "--dask-address", dask_procs.address]
    proc = subprocess.Popen(cmd, cwd=workspace.root, env=workspace.env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    victim = dask_procs.workers[0]
    with Client(dask_procs.address, timeout=30) as client:
        (address,) = [a for a, pid in client.run(os.getpid).items() if pid == victim.pid]
        deadline = time.monotonic() + 300
        busy: list = []
        since: dict = {}  # key -> when the victim was first seen holding it
        while time.monotonic() < deadline and proc.poll() is None:
            now = time.monotonic()
            busy = client.processing().get(address, [])
            since = {k: since.get(k, now) for k in busy}
            # held for 0.25 s and more: a task in mid-work, not one whose result is already on
            # its way (the scheduler's view lags; under load the kill then took nothing)
            if any(now - t >= 0.25 for t in since.values()):
                break
            time.sleep(0.02)
        assert busy, "the victim never got shard work to lose"
        victim.kill()
        victim.wait(timeout=30)  # reaped: its Popen is replaced below, never left a zombie
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, out + err[-4000:]
        # The work the victim held was taken back and done again elsewhere, not just lucky:
        # a run that finished before the kill landed would pass the checks below too.
        assert client.run_on_scheduler(rescheduled), \
            f"no work was taken back from the killed worker and redone (it held {busy})"
    summary = json.loads(out)
    assert _roots(summary) == _roots(local)
    assert [c["shard_count"] for c in summary["checkpoints"]] == [40, 40, 40]
    dask_procs.workers[0] = dask_procs.worker()  # leave two workers for whoever comes next


def test_workers_are_warmed_for_validation_without_waiting(dask_procs) -> None:
    """The raw stage starts the validate stage's imports on every worker and goes on: the
    call returns at once, and Great Expectations is loaded on the workers soon after."""
    from distributed import Client

    from laas.tasks.compute import client_for, warm_workers

    def _has_gx() -> bool:  # defined here: pickled by value, the workers cannot import tests
        import sys

        return "great_expectations" in sys.modules

    dask_procs.wait_for_workers(2)
    client_for(dask_procs.address)  # connected, as the stage's is
    t = time.monotonic()
    warm_workers(dask_procs.address, "laas.validators.gx_suite:warm")
    assert time.monotonic() - t < 5
    with Client(dask_procs.address, timeout=30) as c:
        deadline = time.monotonic() + 180
        while not all(c.run(_has_gx).values()) and time.monotonic() < deadline:
            time.sleep(1)
        assert all(c.run(_has_gx).values())
