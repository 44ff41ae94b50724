"""`laas`: run pipelines, run the local chain, query lineage, gate training. Imports are lazy so
that `laas lineage` and `laas gate` never load Prefect, Dask or Great Expectations."""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from laas.errors import AnchorPending, ConfigError, LaasError
from laas.settings import prefect_defaults

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Data pipelines for AI training data, checkpointed on an EVM chain.")
chain_app = typer.Typer(no_args_is_help=True, help="The local anvil chain (or a remote one).")
app.add_typer(chain_app, name="chain")
# Soft wrap: hashes and URIs stay whole on one line, to be copied or grepped.
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)  # one error, one line: never wrapped at 80 columns

RunOpt = Annotated[str | None, typer.Option("--run", help="run name (default: a new run)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def _settings() -> Any:
    from laas.settings import get_settings

    return get_settings()


def _name(kind: str, value: str | None) -> str | None:
    """A run or record name from the command line, refused before anything starts."""
    from laas.anchors.core.models import name_problem

    if value is not None and (problem := name_problem(kind, value)):
        raise ConfigError(problem)
    return value


def _at_least(option: str, value: int | None, low: int) -> None:
    if value is not None and value < low:
        raise ConfigError(f"{option} {value}: must be {low} or more")


def _dataset_name(ref: str) -> str:
    """A dataset name, or the name inside a spec given by path."""
    if ref.endswith((".yaml", ".yml")) or "/" in ref:
        from laas.validators.spec import load_spec

        return load_spec(ref).name
    return ref


def _short(h: str | None, n: int = 10) -> str:
    return f"{h[: n + 2]}…" if h else "-"


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
) -> None:
    """Ingest a dataset: raw -> normalized -> validated, one checkpoint per stage.
    Exit 0 when the validated stage passed, 1 when it did not, 2 on error."""
    from laas.validators.spec import load_spec

    _name("--run", run)
    settings = _settings()  # a bad setting or spec is one line, before Prefect starts
    if not deployment:  # a deployment's spec lives with its workers, not necessarily here
        load_spec(dataset, [settings.datasets_dir] if settings.datasets_dir else None)
    prefect_defaults()
    from laas.tasks.manifests import new_run_name

    run = run or new_run_name()
    if deployment:
        _run_deployment(dataset, run, wait, timeout, as_json)
        return
    from laas.flows.ingest import ingest

    try:
        summary = ingest(dataset, run=run, dask_address=dask_address)
    except LaasError as e:  # what was done is kept: say how to pick it up
        raise type(e)(f"{e} (after fixing it, resume with: laas run {dataset} --run {run})") \
            from None
    if as_json:
        print(summary.model_dump_json(indent=2))
    else:
        _print_summary(summary)
    if summary.pending:
        raise typer.Exit(AnchorPending.exit_code)
    raise typer.Exit(0 if summary.passed else 1)


def _checkpoint_line(cp: Any) -> str:
    verdict = "[green]passed[/]" if cp.passed else "[red]FAILED[/]"
    return (f"  {cp.stage:<10} {cp.shard_count:>6} shards  root {_short(cp.shards_root, 16)}  "
            f"{verdict}  block {cp.block_number}  gas {cp.gas_used or '-'}  tx {cp.tx_hash}")


def _run_deployment(dataset: str, run: str, wait: bool, timeout: float, as_json: bool) -> None:
    from laas.deployments.trigger import trigger

    flow_run = trigger(dataset, run, wait=wait, timeout=timeout)
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
                        f"resume with: laas run {dataset} --run {run} --deployment --wait")
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
            out.print(_checkpoint_line(cp))
    passed = any(c.stage == "validated" and c.passed for c in cps)
    raise typer.Exit(0 if passed else 1)


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
    for r in recent_runs(dataset, limit):
        cps = {c["stage"]: c for c in index.runs(r["dataset"]) if c["run"] == r["run"]} \
            if r["dataset"] and r["run"] else {}
        validated = cps.get("validated")
        status = ("no checkpoints" if not cps else
                  f"{len(cps)}/3 checkpoints" if validated is None else
                  f"validated passed={validated['passed']} block {validated['block_number']}")
        start = r["start"].strftime("%Y-%m-%d %H:%M:%S") if r["start"] else "-"
        out.print(f"{start}  {r['state']:<10} {r['flow_run']:<45} {status}")


index_app = typer.Typer(no_args_is_help=True, help="The lineage index (a cache of the chain).")
app.add_typer(index_app, name="index")


@index_app.command("rebuild")
def index_rebuild(
    full: Annotated[bool, typer.Option(
        "--full", help="read from the registry's deploy block, not from where the last "
                       "rebuild stopped")] = False,
) -> None:
    """Refill the index from the chain's events and the manifests they name. It goes on from
    the last block a previous rebuild read (an interrupted one included); --full starts over."""
    from laas.anchors.services.lineage import rebuild_index

    r = rebuild_index(_settings(), full=full)
    out.print(f"indexed {r.indexed} checkpoints from the chain "
              f"(blocks {r.from_block}..{r.through_block})")


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


def _print_summary(summary: Any) -> None:
    out.print(f"[bold]{summary.dataset}[/] run [bold]{summary.run}[/]: checkpoints committed")
    for cp in summary.checkpoints:
        out.print(_checkpoint_line(cp))
    for s in summary.set_aside:
        out.print(f"  [yellow]{s.status}[/] {s.key}: {s.reason}")
    for key, what in summary.rows_dropped.items():
        out.print(f"  [yellow]rows dropped[/] {key}: {what}")
    for check in summary.dataset_checks:
        if not check["success"]:
            out.print(f"  [red]dataset check failed[/] {check['type']}: {check['observed']}")
    if summary.seconds:
        parts = ", ".join(f"{k} {v:.1f}" for k, v in summary.seconds.items())
        out.print(f"  took {sum(summary.seconds.values()):.1f} s ({parts})")
    if summary.pending:
        out.print(f"[yellow]pending anchor[/]: {', '.join(summary.pending)} computed and kept in "
                  "the artifact store, not yet on chain (it was unreachable); commit them with "
                  f"`laas anchor --resume {summary.dataset} --run {summary.run}` once it is back")
        return
    validated = summary.checkpoints[-1]
    if summary.passed:
        out.print("[green]validated stage passed[/]")
    else:
        out.print("[red]validated stage did not pass: the gate will deny this run[/]")
    from laas.anchors.adapters.artifacts import read_manifest

    manifest = read_manifest(validated.manifest_uri)
    docs = next((s.docs_uri for s in manifest.shards if s.docs_uri), None)
    if docs:
        out.print(f"Data Docs:             {docs.rsplit('/', 1)[0]}/")
    out.print(f"lineage of one shard:  laas lineage {manifest.shards[0].source_uri}")
    out.print(f"gate the dataset:      laas gate {summary.dataset} --run {summary.run}")


@app.command()
def gate(
    dataset: Annotated[str, typer.Argument(help="dataset name or path to its spec YAML")],
    run: Annotated[str | None, typer.Option("--run", help="run name (default: latest)")] = None,
    min_confirmations: Annotated[int | None, typer.Option(help="blocks on top")] = None,
    mode: Annotated[str, typer.Option(
        help="proof: manifest and proofs only; sample: also re-hash --sample shards; "
             "full: re-hash every shard")] = "full",
    sample: Annotated[int, typer.Option(help="shards re-hashed in sample mode")] = 8,
    policy: Annotated[str | None, typer.Option(
        help="YAML: suites one of which must have run, severities tolerated, max_set_aside")
    ] = None,
    record: Annotated[str | None, typer.Option(
        help="if allowed, commit the shard set as training checkpoint NAME (parent: the "
             "validated checkpoint)")] = None,
    require_active_committer: Annotated[bool, typer.Option(
        "--require-active-committer",
        help="deny checkpoints whose committer no longer holds the role")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Exit 0 if training may use the dataset, 1 (with the reason) if not, 2 on error. Without
    --run, the dataset's latest run (by creation time) is gated and named."""
    from laas.anchors.services.gate import GatePolicy, gate_dataset, record_training

    if mode not in ("proof", "sample", "full"):
        raise ConfigError(f"--mode {mode}: use proof, sample or full")
    _at_least("--sample", sample, 1)
    _at_least("--min-confirmations", min_confirmations, 0)
    _name("--run", run)
    _name("--record", record)
    dataset = _dataset_name(dataset)
    rules = GatePolicy.load(policy) if policy else GatePolicy()
    if require_active_committer:
        rules = rules.model_copy(update={"require_active_committer": True})
    verdict = gate_dataset(dataset, run=run, min_confirmations=min_confirmations, mode=mode,
                           sample=sample, policy=rules)
    recorded = record_training(_settings(), verdict, record) if record and verdict.allowed \
        else None
    if as_json:
        print(json.dumps({**verdict.model_dump(mode="json"),
                          "recorded": recorded.model_dump(mode="json") if recorded else None},
                         indent=2))
    elif verdict.allowed:
        out.print(f"[green]ALLOW[/] {dataset}: {verdict.reason}")
        if recorded:
            out.print(f"recorded training set {record}: checkpoint {recorded.checkpoint_id} "
                      f"(root {recorded.shards_root[:18]}…, tx {recorded.tx_hash}, block "
                      f"{recorded.block_number})")
    else:
        out.print(f"[red]DENY[/] {dataset}: {verdict.reason}")
    raise typer.Exit(0 if verdict.allowed else 1)


@app.command()
def lineage(
    shard: Annotated[str, typer.Argument(help="shard path, URI, key or content hash")],
    run: Annotated[str | None, typer.Option("--run", help="run name (default: latest)")] = None,
    graph: Annotated[Path | None, typer.Option(
        help="also draw the lineage graph to this .png or .svg (needs matplotlib)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """A shard's path through every stage, with the checkpoint of each, and on through the
    parent datasets of a derived dataset back to the raw sources."""
    from laas.anchors.services.lineage import shard_lineage

    result = shard_lineage(_settings(), shard, run)
    if graph is not None:
        from laas.anchors.services.lineage_graph import draw

        draw(result, graph)
        out.print(f"wrote {graph}")
    if as_json:
        print(json.dumps(result, indent=2, default=str))
        return
    _print_lineage(result, "")
    if result["other_runs"]:
        out.print(f"also in runs: {', '.join(result['other_runs'])} (use --run)")
    if result["used_by"]:
        out.print(f"read by training: {', '.join(result['used_by'])} (laas gate --record)")


def _print_lineage(node: dict, indent: str) -> None:
    say = out.print
    say(f"{indent}shard [bold]{node['key']}[/] of {node['dataset']}, run {node['run']}")
    say(f"{indent}  source       {node['source_uri']}")
    for s in node["stages"]:
        status = "[green]ok[/]" if s["status"] == "ok" else f"[yellow]{s['status']}[/]"
        rows = f"{s['rows']} rows  " if s["stage"] != "raw" else ""
        confirmations = "?" if s["confirmations"] is None else s["confirmations"]
        if s["confirmed"] is False:
            confirmations = "0 [red]UNCONFIRMED: not on chain (reorganised away?); " \
                            "`laas anchor --resume` commits it again[/]"
        say(f"{indent}  {s['stage']:<12} {status}  {rows}content {s['content_hash'] or '-'}")
        if s["reason"]:
            say(f"{indent}  {'':<12} reason: {s['reason']}")
        say(f"{indent}  {'':<12} checkpoint {s['checkpoint_id']} (passed={s['passed']})")
        say(f"{indent}  {'':<12} tx {s['tx_hash']}  block {s['block_number']}  "
            f"confirmations {confirmations}")
    for parent in node["derived_from"]:
        say(f"{indent}  └─ derived from")
        _print_lineage(parent, indent + "     ")


@app.command()
def verify(
    shard_file: Annotated[str, typer.Argument(help="a shard file (Parquet or raw), path or URI")],
    as_json: JsonOpt = False,
) -> None:
    """Prove one shard file against the chain: its leaf and Merkle proof at its stage, and
    every parent checkpoint back to raw. Exit 0 proven, 1 not (with why), 2 on error."""
    from laas.anchors.adapters.files import url_to_fs
    from laas.anchors.services.verify import verify_shard
    from laas.errors import HashMismatch
    from laas.wiring import open_index, open_reader

    settings = _settings()
    fs, path = url_to_fs(shard_file)
    if not fs.isfile(path):
        raise ConfigError(f"{shard_file}: no such file; give the path or URI of a shard file")
    try:
        proof = verify_shard(open_reader(settings), open_index(settings), shard_file)
    except HashMismatch as e:
        out.print(f"[red]NOT PROVEN[/] {shard_file}: {e}")
        raise typer.Exit(1) from None
    failed = proof.passed is not True  # proven, but only a passed validated stage is a yes
    if as_json:
        print(proof.model_dump_json(indent=2))
        raise typer.Exit(1 if failed else 0)
    out.print(f"[green]PROVEN[/] {shard_file}: shard {proof.key} of {proof.dataset}, "
              f"run {proof.run}, content {proof.content_hash}")
    if proof.rederived:
        out.print("  re-derived: the normalized shard minus the committed dropped rows hashes "
                  "to the validated shard")
    if proof.passed is False:
        out.print(f"[red]but run {proof.validated_run} did NOT pass validation[/]: the gate "
                  "denies it; do not train on it")
    elif proof.passed is None:
        out.print(f"[yellow]but run {proof.run} has no validated checkpoint on chain[/] (not "
                  "validated yet, or pending anchor): do not train on it yet")
    for s in proof.stages:
        out.print(f"  {s.stage:<11} leaf {s.leaf[:18]}… proof of {len(s.proof)} hashes → root "
                  f"{s.shards_root[:18]}… (checkpoint {s.checkpoint_id[:18]}…, block "
                  f"{s.block_number}, tx {s.tx_hash[:18]}…)")
    raise typer.Exit(1 if failed else 0)


@app.command()
def anchor(
    dataset: Annotated[str | None, typer.Argument(help="only this dataset")] = None,
    run: RunOpt = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="commit stored manifests that are not on chain")] = False,
    all_: Annotated[bool, typer.Option(
        "--all", help="with --resume: every run (of DATASET, if given) trusted to commit")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Commit what runs left pending anchor (chain down, process killed, reorganised away),
    from the manifests in the artifact store: only those whose hash is on chain or that a
    trusted committer attested, each checked against its parent's committed manifest, in stage
    order, nothing committed twice. With neither DATASET --run nor --all it lists what it
    would commit and why, and commits nothing. Exit 0 when every manifest is on chain, 3 if
    the chain is still away, 2 if one cannot be committed (or nothing was chosen)."""
    if not resume:
        raise ConfigError("say --resume to commit pending manifests")
    _name("--run", run)
    from laas.anchors.services.anchoring import resume as resume_pending

    dry = not all_ and (dataset is None or run is None)
    done = resume_pending(_settings(), dataset, run, dry_run=dry)
    if as_json:
        print(json.dumps([d.model_dump(mode="json") for d in done], indent=2))
    else:
        for d in done:
            where = f"{d.dataset}/{d.run}/{d.stage}"
            trust = f"  ({d.trust})" if d.trust else ""
            if d.checkpoint is not None:
                out.print(f"  {d.action:<12} {where}  block {d.checkpoint.block_number}  "
                          f"tx {d.checkpoint.tx_hash}{trust}")
            elif d.action == "would commit":
                out.print(f"  [yellow]{d.action:<12}[/] {where}{trust}")
            else:
                out.print(f"  [red]{d.action:<12}[/] {where}: {d.error or ''}{trust}")
        if not dry:
            committed = sum(d.action == "committed" for d in done)
            out.print(f"{committed} committed, {sum(d.action == 'on chain' for d in done)} "
                      f"already on chain, {sum(d.checkpoint is None for d in done)} not on chain")
    if dry:
        raise ConfigError("nothing committed: name what to commit, `laas anchor --resume "
                          "DATASET --run RUN`, or `--all` for everything listed as trusted")
    raise typer.Exit(2 if any(d.checkpoint is None for d in done) else 0)


@chain_app.command("up")
def chain_up() -> None:
    """Start anvil on loopback (state kept under .laas/chain) and deploy the registry once."""
    from laas.anchors.adapters.files import redact_url
    from laas.wiring import local_chain, open_registry

    settings = _settings()
    started = local_chain(settings).up()
    reg = open_registry(settings)
    url = redact_url(settings.effective_rpc_url)
    out.print(f"chain {'started' if started else 'already up'} at {url}; "
              f"registry {reg.address}; block {reg.block_number()}")


@chain_app.command("down")
def chain_down() -> None:
    """Stop the local anvil; its state is written to .laas/chain/anvil-state.json."""
    from laas.wiring import local_chain

    stopped = local_chain(_settings()).down()
    out.print("chain stopped" if stopped else "chain was not running")


@chain_app.command("status")
def chain_status() -> None:
    """Is the chain up, which registry, which block."""
    from laas.anchors.adapters.files import redact_url
    from laas.anchors.adapters.localchain import rpc_alive

    settings = _settings()
    # the first endpoint that answers, as every other command would use it
    up = next(((u, c) for u in settings.rpc_urls if (c := rpc_alive(u)) is not None), None)
    if up is None:
        out.print(f"chain at {', '.join(redact_url(u) for u in settings.rpc_urls)} is down")
        raise typer.Exit(1)
    url, chain_id = redact_url(up[0]), up[1]
    from laas.wiring import committer_account, open_reader

    reg = open_reader(settings)
    account = committer_account(settings)
    who = "no committer key (read-only)" if account is None else \
        f"committer {account.address} " \
        f"({'has' if reg.is_committer(account.address) else 'lacks'} the role)"
    out.print(f"chain {chain_id} up at {url}; registry {reg.address}; "
              f"block {reg.block_number()}; {who}")


@chain_app.command("deploy")
def chain_deploy() -> None:
    """Deploy a new CheckpointRegistryV2 (format 2) with the configured key (for a remote
    chain)."""
    from laas.anchors.adapters.registry import connect
    from laas.anchors.adapters.registry_v2 import RegistryV2
    from laas.wiring import open_sender, rpc_retry

    settings = _settings()
    w3 = connect(settings.rpc_urls, settings.rpc_timeout, rpc_retry(settings))
    sender = open_sender(settings, w3)
    address, block = RegistryV2.deploy(w3, sender, tx_timeout=settings.tx_timeout)
    out.print(f"deployed format 2 at {address} in block {block}: set "
              f"LAAS_REGISTRY_ADDRESS={address} LAAS_REGISTRY_DEPLOY_BLOCK={block}")


@chain_app.command("grant")
def chain_grant(account: Annotated[str, typer.Argument(help="address to let commit")]) -> None:
    """Give an account the committer role (the configured key must be the registry's admin)."""
    _set_role(account, grant=True)


@chain_app.command("revoke")
def chain_revoke(account: Annotated[str, typer.Argument(help="address to stop")]) -> None:
    """Take the committer role away; that account's commits are refused from the next block."""
    _set_role(account, grant=False)


def _set_role(account: str, grant: bool) -> None:
    from web3 import Web3

    from laas.wiring import open_registry

    if not Web3.is_address(account):
        raise ConfigError(f"{account!r} is not an Ethereum address (0x and 40 hex digits)")
    reg = open_registry(_settings())
    address = Web3.to_checksum_address(account)
    (reg.grant_committer if grant else reg.revoke_committer)(address)
    out.print(f"{address} {'has' if reg.is_committer(address) else 'lacks'} the committer role")


def _scrub(text: str) -> str:
    """Messages from libraries may echo a URL with credentials in it (an RPC provider's key,
    user:password@): every URL is shown as scheme://host:port only."""
    import re

    from laas.anchors.adapters.files import redact_url

    text = text.splitlines()[0] if text else text  # one error, one line
    return re.sub(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+",
                  lambda m: redact_url(m.group(0)) if m.group(0).startswith(("http", "ws"))
                  else m.group(0), text)


def main() -> None:
    debug = "--debug" in sys.argv
    if debug:
        sys.argv.remove("--debug")
    try:
        app()
    except LaasError as e:
        if debug:
            traceback.print_exc()
        err.print(f"[red]error:[/] {_scrub(str(e))}", markup=True, highlight=False)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted: rerun with the same --run to resume")
        sys.exit(130)
    except Exception as e:
        if debug:
            traceback.print_exc()
        err.print(f"[red]error:[/] unexpected {type(e).__name__}: {_scrub(str(e))} "
                  "(rerun with --debug)")
        sys.exit(2)
