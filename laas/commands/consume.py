"""`laas gate`, `laas lineage` and `laas verify`: what consumers of a dataset ask."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from laas.commands.common import (
    JsonOpt,
    _at_least,
    _dataset_name,
    _name,
    _settings,
    _tx,
    app,
    out,
    said,
)
from laas.errors import ConfigError


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
    finality: Annotated[str | None, typer.Option(
        help="latest, safe or finalized: how final the checkpoint's block must be, by the "
             "node's block tags (default LAAS_FINALITY or the network's)")] = None,
    license_: Annotated[list[str] | None, typer.Option(
        "--license", help="a license training may use (repeat for more): a shard under any "
                          "other, or under none recorded, denies (with --policy: those of "
                          "its `licenses` also given here)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Exit 0 if training may use the dataset, 1 (with the reason) if not, 2 on error. Without
    --run, the dataset's latest run (by creation time) is gated and named."""
    from laas.api import GatePolicy, gate_dataset

    if mode not in ("proof", "sample", "full"):
        raise ConfigError(f"--mode {mode}: use proof, sample or full")
    if finality not in (None, "latest", "safe", "finalized"):
        raise ConfigError(f"--finality {finality}: use latest, safe or finalized")
    _at_least("--sample", sample, 1)
    _at_least("--min-confirmations", min_confirmations, 0)
    _name("--run", run)
    _name("--record", record)
    dataset = _dataset_name(dataset)
    rules = GatePolicy.load(policy) if policy else GatePolicy()
    if require_active_committer:
        rules = rules.model_copy(update={"require_active_committer": True})
    if license_:  # a policy's list is narrowed, never widened, by the command line
        given = {x.casefold() for x in license_}
        rules = rules.model_copy(update={"licenses": tuple(license_) if rules.licenses is None
                                         else tuple(x for x in rules.licenses
                                                    if x.casefold() in given)})
    verdict = gate_dataset(dataset, run=run, min_confirmations=min_confirmations, mode=mode,
                           sample=sample, policy=rules, finality=finality)
    recorded = shares = None
    if record and verdict.allowed:  # signs: web3 and eth_account are loaded only for this
        from laas.anchors.services.anchoring import record_training
        from laas.wiring import ledger

        recorded = record_training(ledger(_settings(), start_local=False), verdict, record)
        shares = _shares(dataset, record)
    if as_json:
        print(json.dumps({**verdict.model_dump(mode="json"),
                          "recorded": recorded.model_dump(mode="json") if recorded else None,
                          "shares": shares.commitment.model_dump(mode="json")
                          if shares and shares.commitment else None}, indent=2))
    elif verdict.allowed:
        out.print(said("ALLOW", "green"), f"{dataset}: {verdict.reason}")
        if recorded:
            out.print(f"recorded training set {record}: checkpoint {recorded.checkpoint_id} "
                      f"(root {recorded.shards_root[:18]}…, tx {_tx(recorded.tx_hash)}, block "
                      f"{recorded.block_number})")
            if shares and (c := shares.commitment) is not None:
                out.print(f"contributor shares ({c.format}): {c.contributors} contributor(s) "
                          f"of {c.rows} rows, {c.bytes} bytes; root {c.root} (proofs: "
                          "laas.api.training_shares)")
    else:
        out.print(said("DENY", "red"), f"{dataset}: {verdict.reason}")
    raise typer.Exit(0 if verdict.allowed else 1)


def _shares(dataset: str, record: str):  # noqa: ANN202 - a TrainingShares (web3 is loaded)
    """The record's shares as a contributor will prove them: read back and checked against
    the chain, not taken from what was just sent."""
    from laas.api import training_shares

    return training_shares(dataset, record, settings=_settings())


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
    from laas.wiring import chain_view, open_index_reader

    settings = _settings()
    result = shard_lineage(open_index_reader(settings), partial(chain_view, settings), shard,
                           run)
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
    say(Text.assemble(f"{indent}shard ", (node["key"], "bold"),
                      f" of {node['dataset']}, run {node['run']}"))
    say(f"{indent}  source       {node['source_uri']}")
    for s in node["stages"]:
        status = said("ok", "green") if s["status"] == "ok" else said(s["status"], "yellow")
        rows = f"{s['rows']} rows  " if s["stage"] != "raw" else ""
        confirmations: str | Text = "?" if s["confirmations"] is None else \
            str(s["confirmations"])
        if s["confirmed"] is False:
            confirmations = said("0 UNCONFIRMED: not on chain (reorganised away?); "
                                 "`laas anchor --resume` commits it again", "red")
        say(Text.assemble(f"{indent}  {s['stage']:<12} ", status,
                          f"  {rows}content {s['content_hash'] or '-'}"))
        if s["reason"]:
            say(f"{indent}  {'':<12} reason: {s['reason']}")
        say(f"{indent}  {'':<12} checkpoint {s['checkpoint_id']} (passed={s['passed']})")
        final = ("  ", (s["finality"], "bold")) if s.get("finality") else ()
        say(Text.assemble(f"{indent}  {'':<12} tx {_tx(s['tx_hash'])}  block "
                          f"{s['block_number']}  confirmations ", confirmations, *final))
    for parent in node["derived_from"]:
        say(f"{indent}  └─ derived from")
        _print_lineage(parent, indent + "     ")


@app.command()
def verify(
    shard_file: Annotated[str | None, typer.Argument(
        help="a shard file (Parquet or raw), path or URI; with --against, a dataset")] = None,
    against: Annotated[str | None, typer.Option(
        help="prove that version --run (default: the latest passed) contains every shard of "
             "this run's version, from the chain and the manifests alone")] = None,
    run: Annotated[str | None, typer.Option("--run", help="with --against: the newer run")
                   ] = None,
    croissant: Annotated[Path | None, typer.Option(
        help="check a Croissant card (laas export croissant) and every file it lists against "
             "the chain")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Prove one shard file against the chain: its leaf and Merkle proof at its stage, and
    every parent checkpoint back to raw. Exit 0 proven, 1 not (with why), 2 on error. With
    --against OLD (the argument is then a dataset): exit 0 if the version contains every
    shard of OLD with the same leaf, 1 naming the first dropped or replaced. With
    --croissant CARD: exit 0 if the card's checkpoint and every file agree, 1 naming what
    differs."""
    if croissant is not None:
        from laas.commands.export import verify_card_file

        return verify_card_file(croissant)
    if shard_file is None:
        raise ConfigError("give a shard file, a dataset with --against, or --croissant CARD")
    if against is not None or run is not None:
        from laas.commands.versions import prove_against

        if against is None:
            raise ConfigError("--run goes with --against OLD (verify DATASET --against OLD)")
        return prove_against(shard_file, against, run, as_json)
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
        out.print(said("NOT PROVEN", "red"), f"{shard_file}: {e}")
        raise typer.Exit(1) from None
    failed = proof.passed is not True  # proven, but only a passed validated stage is a yes
    if as_json:
        print(proof.model_dump_json(indent=2))
        raise typer.Exit(1 if failed else 0)
    out.print(said("PROVEN", "green"), f"{shard_file}: shard {proof.key} of {proof.dataset}, "
              f"run {proof.run}, content {proof.content_hash}")
    if proof.left_out:
        out.print(f"  left out at reading: {proof.left_out} unreadable record(s); their file "
                  "holds exactly the committed set")
    if proof.rederived:
        out.print("  re-derived: the normalized shard minus the committed dropped rows hashes "
                  "to the validated shard")
    if proof.passed is False:
        out.print(said(f"but run {proof.validated_run} did NOT pass validation", "red"),
                  "the gate denies it; do not train on it", sep=": ")
    elif proof.passed is None:
        out.print(said(f"but run {proof.run} has no validated checkpoint on chain", "yellow"),
                  "(not validated yet, or pending anchor): do not train on it yet")
    for s in proof.stages:
        out.print(f"  {s.stage:<11} leaf {s.leaf[:18]}… proof of {len(s.proof)} hashes → root "
                  f"{s.shards_root[:18]}… (checkpoint {s.checkpoint_id[:18]}…, block "
                  f"{s.block_number}, tx {_tx(s.tx_hash)})")
    raise typer.Exit(1 if failed else 0)
