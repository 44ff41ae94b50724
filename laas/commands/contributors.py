"""`laas contributors DATASET`: rows and bytes kept per contributor of a dataset version or a
training record, with each shard's proof material, proven against the chain before it is shown
(laas.anchors.services.contributors)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from laas.commands.common import (
    JsonOpt,
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
def contributors(
    dataset: Annotated[str, typer.Argument(help="dataset name or path to its spec YAML")],
    run: Annotated[str | None, typer.Option(
        "--run", help="run whose validated stage to count (default: the latest passed)")] = None,
    training: Annotated[str | None, typer.Option(
        "--training", help="count the shard set of this training record instead")] = None,
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="also write a bar chart of rows and bytes per contributor (PNG)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Per contributor: rows and bytes kept (rows validation dropped do not count), shards,
    and for each shard its leaf, Merkle proof, checkpoint, root and transaction. Exit 0 when
    proven, 1 when the chain does not prove what the store holds, 2 on error."""
    from laas.api import dataset_contributors
    from laas.errors import HashMismatch

    if run is not None and training is not None:
        raise ConfigError("give --run or --training, not both")
    settings = _settings()
    name = _dataset_name(dataset)
    try:
        report = dataset_contributors(name, run=_name("--run", run),
                                      training=_name("--training", training), settings=settings)
    except HashMismatch as e:
        out.print(said("NOT PROVEN", "red"), f"{name}: {e}")
        raise typer.Exit(1) from None
    if plot is not None:
        _plot(report, plot)
    if as_json:
        print(json.dumps(report.model_dump(mode="json"), indent=2))
        return
    _print(report, plot)


def _print(r: Any, plot: Path | None) -> None:
    what = f"training record {r.run}" if r.stage == "training" else f"run {r.run}"
    out.print(f"{r.dataset} {what}: {r.stage} checkpoint {r.checkpoint_id}, block "
              f"{r.block_number}, tx {_tx(r.tx_hash)}")
    out.print(f"  root {r.shards_root} (on chain; every proof below checked against it, "
              "one also by the contract's verifyLeaf)")
    if not r.contributors:
        out.print(f"  no contributors: its {r.unattributed} shard(s) name none (leaf v1)")
        return
    out.print(f"  shares root {r.shares_root} (laas-shares-v1 over contributor, rows, bytes)")
    for c in r.contributors:
        signed = sum(1 for s in c.shards if s.signed)
        out.print(f"  {c.contributor}  rows {c.rows:,}  bytes {c.bytes:,}  shards "
                  f"{len(c.shards)}  signed {signed}")
        for s in c.shards:
            out.print(f"    {s.key}  rows {s.rows:,}  leaf {s.leaf}  proof "
                      f"[{', '.join(s.proof)}]")
    if r.unattributed:
        out.print(f"  {r.unattributed} shard(s) name no contributor")
    if plot is not None:
        out.print(f"wrote {plot}")


def _plot(r: Any, path: Path) -> None:
    """Rows and bytes kept per contributor, side by side (matplotlib, loaded only here)."""
    import matplotlib

    matplotlib.use("Agg")  # a file, never a window
    import matplotlib.pyplot as plt

    names = [f"{c.contributor[:6]}…{c.contributor[-4:]}" for c in r.contributors]
    fig, (rows, size) = plt.subplots(1, 2, figsize=(max(6, 1.2 * len(names) + 4), 4))
    rows.bar(names, [c.rows for c in r.contributors], color="#4477aa")
    rows.set_title("rows kept")
    size.bar(names, [c.bytes for c in r.contributors], color="#ee6677")
    size.set_title("bytes kept")
    for ax in (rows, size):
        ax.tick_params(axis="x", labelrotation=30)
    fig.suptitle(f"{r.dataset} {r.stage} {r.run}: contributors")
    fig.tight_layout()
    try:
        fig.savefig(path, format="png")
    except OSError as e:
        raise ConfigError(f"--plot {path}: {e.strerror or e}") from None
    finally:
        plt.close(fig)
