"""Runs through the Prefect API: trigger a deployment's flow run (and follow it), list recent
ingest runs. Needs PREFECT_API_URL pointing at a server (`make server`)."""

from __future__ import annotations

from typing import Any

from laas.errors import ConfigError


def trigger(dataset: str, run: str, *, wait: bool, timeout: float, reuse: bool = True) -> Any:
    """Create a flow run of deployment ingest/DATASET; with wait, follow it to a final state
    (bounded by timeout) and return the flow run. reuse=False: a full run (the parameter is
    sent only then, so deployments made before incremental runs still take the others)."""
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    try:
        return run_deployment(
            name=f"ingest/{dataset}", parameters={"dataset": dataset, "run": run,
                                                **({} if reuse else {"reuse": False})},
            flow_run_name=f"{dataset}-{run}", timeout=timeout if wait else 0, poll_interval=1,
            as_subflow=False)
    except ObjectNotFound:
        raise ConfigError(
            f"no deployment ingest/{dataset} on the Prefect server: run `prefect deploy --all` "
            "(or `make server`), or drop --deployment to run in-process"
        ) from None


def recent_runs(dataset: str | None, limit: int) -> list[dict[str, Any]]:
    """The latest ingest flow runs, newest first: name, state, dataset, run, start time."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    from laas.tasks.run_process import crash_gone

    with get_client(sync_client=True) as client:
        crash_gone(client)  # a run whose process was killed is not listed as Running
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["ingest"])),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=limit * 4 if dataset else limit)
    out = []
    for fr in runs:
        params = fr.parameters or {}
        run = params.get("run")
        # the flow run is named DATASET-RUN by the spec's name, also when given the spec's file
        name = fr.name.removesuffix(f"-{run}") if run and fr.name.endswith(f"-{run}") else \
            params.get("dataset")
        if dataset and dataset not in (name, params.get("dataset")):
            continue
        out.append({"flow_run": fr.name, "id": str(fr.id), "state": fr.state_name,
                    "dataset": name, "run": run,
                    "start": fr.start_time or fr.expected_start_time})
    return out[:limit]
