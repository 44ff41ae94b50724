"""Which process runs an in-process ingest flow run, so a run whose process was killed is
shown as Crashed, not Running for good.

A flow run started by `laas run` (or the Python API) lives in that process; killed with
SIGKILL (the OOM killer, a CI timeout, `kill -9`) it runs no `finally`, and Prefect, with no
worker watching it, keeps it Running in the UI and in `laas runs` forever. The flow writes
its process into the run's `infrastructure_pid` as `laas:HOST:PID:START` (START: the
process's start time in clock ticks, so a PID the system reused is not taken for it); later
`laas run` and `laas runs` on the same host mark a Running run whose process is gone as
Crashed. A deployment's run is its worker's to watch: its `infrastructure_pid` is left alone,
and one that is not ours is never acted on."""

from __future__ import annotations

import os
import socket
from typing import Any

PREFIX = "laas"
LIMIT = 200  # Running ingest runs looked at per check: a bound, far above what one host holds


def _start_ticks(pid: int) -> str | None:
    """The process's start time since boot, in clock ticks (/proc/PID/stat field 22), or
    None when there is no such process (or no /proc: not Linux)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: count from after its end
    return stat[stat.rindex(b")") + 2:].split()[19].decode()


def this_process() -> str:
    """This process as `infrastructure_pid` holds it."""
    pid = os.getpid()
    return f"{PREFIX}:{socket.gethostname()}:{pid}:{_start_ticks(pid) or ''}"


def gone(infrastructure_pid: str | None) -> bool:
    """Whether the value names a laas process of this host that no longer runs. Anything
    else (a worker's value, another host, no /proc) is not known to be gone."""
    parts = (infrastructure_pid or "").split(":")
    if len(parts) != 4 or parts[0] != PREFIX or parts[1] != socket.gethostname() or \
            not parts[2].isdigit() or not parts[3] or not os.path.isdir("/proc/self"):
        return False
    return _start_ticks(int(parts[2])) != parts[3]


def claim_this_run() -> list[str]:
    """In the flow, first: mark Crashed the runs whose process is gone (crash_gone), then
    record this process on this run, unless a deployment's worker owns it. Bookkeeping: if
    the API refuses, the run goes on (a warning says so). The names of the runs crashed."""
    from prefect.client.orchestration import get_client
    from prefect.context import FlowRunContext
    from prefect.logging import get_run_logger

    try:
        ctx = FlowRunContext.get()
        run = ctx.flow_run if ctx else None
        with get_client(sync_client=True) as client:
            crashed = crash_gone(client)
            if run and run.deployment_id is None and run.infrastructure_pid is None:
                client.update_flow_run(run.id, infrastructure_pid=this_process())
            return crashed
    except Exception as e:  # never lose a run to its bookkeeping
        get_run_logger().warning("could not record this run's process (%s): a kill -9 "
                                 "would leave it Running in Prefect", type(e).__name__)
        return []


def crash_gone(client: Any) -> list[str]:
    """Mark Crashed each Running ingest run whose laas process is gone; their names."""
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    running = client.read_flow_runs(
        flow_filter=FlowFilter(name=FlowFilterName(any_=["ingest"])),
        flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
            type=FlowRunFilterStateType(any_=[StateType.RUNNING]))), limit=LIMIT)
    crashed = []
    for fr in running:
        if gone(fr.infrastructure_pid):
            pid = fr.infrastructure_pid.split(":")[2]
            client.set_flow_run_state(fr.id, Crashed(message=(
                f"its process (pid {pid}) ended without finishing the run: killed or lost. "
                "What it did is kept: `laas run` with the same --run resumes it")), force=True)
            crashed.append(fr.name)
    return crashed
