"""`laas run`, `laas runs` and `laas server`: ingesting datasets and the Prefect side."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from shlex import quote
from typing import Annotated, Any

import typer

from laas.commands.common import (
    JsonOpt,
    RunOpt,
    _dataset_name,
    _name,
    _settings,
    app,
    out,
)
from laas.commands.run_summary import checkpoint_line, print_summary
from laas.errors import AnchorPending, ConfigError, LaasError, NotAppendOnly, ValidationFailed
from laas.settings import prefect_defaults


@app.command()
def run(
    dataset: Annotated[str, typer.Argument(help="dataset name or path to a spec YAML")],
    run: RunOpt = None,
    dask_address: Annotated[str | None, typer.Option(help="existing Dask scheduler")] = None,
    deployment: Annotated[bool, typer.Option(
        "--deployment", help="run deployment ingest/DATASET on the Prefect server")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="with --deployment: follow it")] = False,
    timeout: Annotated[float, typer.Option(help="with --wait: give up after seconds")] = 3600,
    as_json: JsonOpt = False,
    no_reuse: Annotated[bool, typer.Option(
        "--no-reuse", help="process every shard, reusing nothing of the previous run")] = False,
) -> None:
    """Ingest a dataset: raw -> normalized -> validated, one checkpoint per stage.
    Exit 0 when the validated stage passed, 1 when it did not, 2 on error."""
    from laas.tasks.dataset_spec import load_spec

    _name("--run", run)
    settings = _settings()  # a bad setting or spec is one line, before Prefect starts
    if not deployment:  # a deployment's spec lives with its workers, not necessarily here
        load_spec(dataset, [settings.datasets_dir] if settings.datasets_dir else None)
    prefect_defaults()
    from laas.tasks.run_names import new_run_name

    run = run or new_run_name()
    if deployment:
        _run_deployment(dataset, run, wait, timeout, as_json, not no_reuse)
        return
    resume = f"(after fixing it, resume with: laas run {quote(dataset)} --run {run})"
    try:
        with _early_start(settings, dask_address) as ingest:
            summary = ingest(dataset, run=run, dask_address=dask_address, reuse=not no_reuse)
    except NotAppendOnly:
        raise  # nothing to resume: the same sources fail the same way
    except LaasError as e:  # what was done is kept: say how to pick it up
        raise type(e)(f"{e} {resume}") from None
    except Exception as e:
        if (denied := _storage_denied(e)) is None:
            raise
        raise ConfigError(f"{denied} {resume}") from None
    if as_json:
        print(summary.model_dump_json(indent=2))
    else:
        print_summary(summary)
    if summary.pending:
        raise typer.Exit(AnchorPending.exit_code)
    if not summary.passed:
        raise ValidationFailed(f"{summary.dataset} run {summary.run}: the validated stage "
                               "failed; see `laas lineage` or the Data Docs for why")


@contextmanager
def _early_start(settings: Any, dask_address: str | None) -> Iterator[Any]:
    """The ingest flow, once Prefect's ephemeral API server (if it is the one used) and the
    local Dask cluster (if no scheduler is given) have started side by side while this process
    imports the flow, not one after the other. The server stops when the block ends."""
    from laas.deployments.ephemeral import ephemeral_api
    from laas.tasks.compute import early_cluster
    from laas.tasks.context import WORKER_PRELOAD, WORKER_WARM

    own = not (dask_address or settings.dask_address)
    # The longest to start first: the workers' imports (GX), then Prefect's server.
    if own and settings.dask_cluster == "local":
        from laas.deployments.clusters import start_forkserver

        start_forkserver(WORKER_PRELOAD)
    with ephemeral_api() as server_up, early_cluster(
            settings.dask_cluster, settings.dask_workers, WORKER_WARM) if own else nullcontext():
        from laas.flows.ingest import ingest

        server_up()
        yield ingest


def _run_deployment(dataset: str, run: str, wait: bool, timeout: float, as_json: bool,
                    reuse: bool = True) -> None:
    from laas.deployments.trigger import trigger

    flow_run = trigger(dataset, run, wait=wait, timeout=timeout, reuse=reuse)
    state = flow_run.state
    if not wait:
        out.print(f"created flow run {flow_run.name} ({flow_run.id}) of ingest/{dataset}; "
                  f"follow it in the Prefect UI or with `laas runs {dataset}`")
        return
    if state is None or not state.is_final():
        raise LaasError(f"flow run {flow_run.name} still {state.name if state else 'pending'} "
                        f"after {timeout:.0f}s; it goes on: follow it with `laas runs {dataset}`")
    if not state.is_completed():
        raise LaasError(f"flow run {flow_run.name} ended {state.name}: {state.message}; "
                        f"resume with: laas run {quote(dataset)} --run {run} --deployment --wait")
    from laas.anchors.core.canonical import name_id
    from laas.wiring import open_reader

    cps = [c for c in open_reader(_settings()).checkpoints(name_id(_dataset_name(dataset)))
           if c.run_id == name_id(run)]
    if as_json:
        print(json.dumps({"flow_run": flow_run.name, "state": state.name, "run": run,
                          "checkpoints": [c.model_dump() for c in cps]}, indent=2))
    else:
        out.print(f"flow run {flow_run.name}: {state.name}")
        for cp in cps:
            out.print(checkpoint_line(cp))
    if not any(c.stage == "validated" and c.passed for c in cps):
        raise ValidationFailed(f"{dataset} run {run}: the validated stage failed or is "
                               f"missing; see `laas runs {_dataset_name(dataset)}`")


@app.command()
def runs(
    dataset: Annotated[str | None, typer.Argument(help="only this dataset")] = None,
    limit: Annotated[int, typer.Option(help="how many")] = 20,
) -> None:
    """Recent ingest runs from the Prefect API, with their checkpoint status from the index."""
    prefect_defaults()
    from laas.deployments.trigger import recent_runs
    from laas.wiring import open_index

    index = open_index(_settings())
    for r in recent_runs(_dataset_name(dataset) if dataset else None, limit):
        cps = {c["stage"]: c for c in index.runs(r["dataset"]) if c["run"] == r["run"]} \
            if r["dataset"] and r["run"] else {}
        validated = cps.get("validated")
        status = ("no checkpoints" if not cps else
                  f"{len(cps)}/3 checkpoints" if validated is None else
                  f"validated passed={validated['passed']} block {validated['block_number']}")
        if r["state"] == "Crashed" and validated is None and r["run"]:
            status += f"; resume: laas run {quote(r['dataset'])} --run {r['run']}"
        start = r["start"].strftime("%Y-%m-%d %H:%M:%S") if r["start"] else "-"
        out.print(f"{start}  {r['state']:<10} {r['flow_run']:<45} {status}")


@app.command()
def server(
    port: Annotated[int, typer.Option(help="Prefect API and UI port")] = 4200,
    deploy: Annotated[bool, typer.Option(help="deploy prefect.yaml")] = True,
) -> None:
    """Prefect server + UI, the laas-local work pool and a worker, and the local chain, on
    loopback, until Ctrl-C; then everything it started stops."""
    import signal
    import time

    from laas.deployments.server import ControlPlane
    from laas.wiring import local_chain

    def stop_on_term(*_: object) -> None:  # `kill` stops it like Ctrl-C does
        raise KeyboardInterrupt

    settings = _settings()
    plane = ControlPlane(settings.home.resolve() / "prefect", port)
    signal.signal(signal.SIGTERM, stop_on_term)
    try:
        if settings.is_local_chain:
            local_chain(settings).up()
        plane.start_server()
        if deploy:
            plane.deploy()
        plane.start_worker()
        out.print(f"Prefect UI http://127.0.0.1:{port}  (API {plane.api_url})")
        out.print(f"in another shell: export PREFECT_API_URL={plane.api_url}")
        out.print("Ctrl-C stops the server, the worker and the local chain")
        while all(p.poll() is None for p in plane.procs):
            time.sleep(1)
        raise LaasError(f"a Prefect process exited; see {plane.home}/server.log, worker.log")
    except KeyboardInterrupt:
        pass
    finally:
        plane.stop()
        if settings.is_local_chain:
            local_chain(settings).down()


def _storage_denied(e: BaseException) -> str | None:
    """A store that refused this process or a Dask worker for want of credentials, said as
    the setting to fix. Matched by name: botocore (and so its errors) may not be installed."""
    name = type(e).__name__
    if name not in ("NoCredentialsError", "PartialCredentialsError") and \
            not isinstance(e, PermissionError):
        return None
    return (f"object store refused access ({name}: {str(e).splitlines()[0] if str(e) else ''}): "
            "set LAAS_S3_KEY and LAAS_S3_SECRET (they travel to the Dask workers with each "
            "batch) or give every worker its own AWS credentials")
