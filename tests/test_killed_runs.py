"""A `laas run` killed with SIGKILL (the OOM killer, a CI timeout, `kill -9`) ran no `finally`,
and Prefect showed its flow run Running for good, in the UI and in `laas runs`. The run records
its process; the next `laas runs` or `laas run` on the host marks it Crashed and says how to
resume it, and the rerun finishes what it left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from laas.tasks import run_process
from tests.conftest import LAAS, Workspace


def _post(url: str, body: dict) -> object:
    req = urllib.request.Request(url, json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def _flow_run(ws: Workspace, name: str) -> dict | None:
    found = _post(f"{ws.env['PREFECT_API_URL']}/flow_runs/filter",
                  {"flow_runs": {"name": {"any_": [name]}}})
    return found[0] if found else None


def test_a_process_is_gone_only_when_this_host_no_longer_runs_it() -> None:
    me = run_process.this_process()
    assert not run_process.gone(me)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        ticks = run_process._start_ticks(child.pid)
        host = me.split(":")[1]
        theirs = f"laas:{host}:{child.pid}:{ticks}"
        assert not run_process.gone(theirs)
        assert run_process.gone(f"laas:{host}:{child.pid}:{int(ticks) + 1}")  # a reused PID
    finally:
        child.kill()
        child.wait(timeout=30)
    assert run_process.gone(theirs)
    # not ours to judge: another host's process, a worker's value, nothing
    for other in (f"laas:elsewhere:{child.pid}:{ticks}", f"{host}:{child.pid}", None, ""):
        assert not run_process.gone(other)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_run_is_shown_crashed_and_its_rerun_finishes_it(workspace: Workspace) -> None:
    ws = workspace
    assert ws.laas("chain", "up").returncode == 0
    name = "instruct-sample-killed"
    run = subprocess.Popen([LAAS, "run", "instruct-sample", "--run", "killed"], cwd=ws.root,
                           env=ws.env, start_new_session=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and run.poll() is None:
            fr = _flow_run(ws, name)
            if fr and fr["infrastructure_pid"]:
                break
            time.sleep(0.1)
        assert run.poll() is None, "the run ended before it could be killed"
        assert fr["state_type"] == "RUNNING"
        assert fr["infrastructure_pid"].split(":")[2] == str(run.pid)
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=30)
    assert _flow_run(ws, name)["state_type"] == "RUNNING"  # what Prefect alone would show

    listed = ws.laas("runs", "instruct-sample")
    assert listed.returncode == 0, listed.stderr
    line = next(x for x in listed.stdout.splitlines() if name in x)
    assert "Crashed" in line and "laas run instruct-sample --run killed" in line, line
    crashed = _flow_run(ws, name)
    assert crashed["state_type"] == "CRASHED"
    assert "killed or lost" in crashed["state"]["message"]

    rerun = ws.laas("run", "instruct-sample", "--run", "killed")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert ws.laas("gate", "instruct-sample", "--run", "killed").returncode == 0
