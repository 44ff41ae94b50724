"""What `laas run` prints when it ends: each stage's checkpoint, the shards set aside and
those rows were dropped from, what an incremental run reused, and the next commands."""

from __future__ import annotations

from shlex import quote
from typing import Any

from rich.text import Text

from laas.commands.common import _settings, _short, _tx, out, print_some, said


def checkpoint_line(cp: Any) -> Text:
    verdict = said("passed", "green") if cp.passed else said("FAILED", "red")
    return Text.assemble(
        f"  {cp.stage:<10} {cp.shard_count:>6} shards  root {_short(cp.shards_root, 16)}  ",
        verdict, f"  block {cp.block_number}  gas {cp.gas_used or '-'}  tx {_tx(cp.tx_hash)}")


def print_summary(summary: Any) -> None:
    """A run's result for people (`--json` prints the summary itself)."""
    out.print(Text.assemble((summary.dataset, "bold"), " run ", (summary.run, "bold"),
                            ": checkpoints committed"))
    for cp in summary.checkpoints:
        out.print(checkpoint_line(cp))
    print_set_aside(summary)
    for check in summary.dataset_checks:
        if not check["success"]:
            out.print(" ", said("dataset check failed", "red"),
                      f"{check['type']}: {check['observed']}")
    print_reuse(summary.reuse)
    if summary.seconds:
        parts = ", ".join(f"{k} {v:.1f}" for k, v in summary.seconds.items())
        out.print(f"  took {sum(summary.seconds.values()):.1f} s ({parts})")
    if summary.pending:
        from laas.wiring import fee_budget

        budget = fee_budget(_settings())
        why = budget.refusal if budget is not None and budget.refusal else \
            "the chain was unreachable"
        out.print(Text.assemble(
            ("pending anchor", "yellow"), f": {', '.join(summary.pending)} computed and kept in "
            f"the artifact store, not yet on chain ({why}); commit them with `laas anchor "
            f"--resume {summary.dataset} --run {summary.run}` once that is settled"))
        return
    validated = summary.checkpoints[-1]
    if summary.passed:
        out.print(said("validated stage passed", "green"))
    else:
        out.print(said("validated stage did not pass: the gate will deny this run", "red"))
    from laas.anchors.adapters.artifacts import read_manifest

    manifest = read_manifest(validated.manifest_uri)
    docs = next((s.docs_uri for s in manifest.shards if s.docs_uri), None)
    if docs:
        out.print(f"Data Docs:             {docs.rsplit('/', 1)[0]}/")
    # quoted: a key may hold spaces or shell characters, and the line is there to be pasted
    out.print(f"lineage of one shard:  laas lineage {quote(manifest.shards[0].source_uri)}")
    out.print(f"gate the dataset:      laas gate {summary.dataset} --run {summary.run}")


def print_set_aside(summary: Any) -> None:
    """What `laas run` says of the shards it set aside and those it dropped rows of."""
    print_some([_flagged(s.status, f"{s.key}: {s.reason}") for s in summary.set_aside],
               "shard(s) set aside")
    print_some([_flagged("rows dropped", f"{k}: {what}") for k, what in
                summary.rows_dropped.items()], "shard(s) with rows dropped")


def _flagged(flag: str, rest: str) -> Text:
    return Text.assemble("  ", said(flag, "yellow"), " ", rest)


def print_reuse(reuse: dict) -> None:
    """What `laas run` says of an incremental run: shards reused, from which run, and why
    any shard the previous run had was processed again."""
    if not reuse:
        return
    if reuse.get("note"):
        out.print(f"  reuse: none ({reuse['note']})")
        return
    out.print(f"  reuse: {reuse['reused']} shard(s) from run {reuse['from_run']}, "
              f"{reuse['processed']} processed ({reuse['new']} new)")
    print_some([_flagged("not reused", f"{key}: {why}") for key, why in
                reuse["not_reused"].items()], "not reused")
