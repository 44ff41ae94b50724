"""`laas export croissant DATASET`: the validated stage of a run as a Croissant 1.1 card that
carries its checkpoint (laas.anchors.core.croissant)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from laas.commands.common import _name, app, out, said

export_app = typer.Typer(no_args_is_help=True, help="Describe a dataset in other formats.")
app.add_typer(export_app, name="export")


@export_app.command()
def croissant(
    dataset: Annotated[str, typer.Argument(help="dataset name or path to its spec YAML")],
    run: Annotated[str | None, typer.Option(
        "--run", help="run (default: the one the gate allows now)")] = None,
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", help="write the card here (default: standard output)")] = None,
) -> None:
    """A Croissant 1.1 JSON-LD card of the validated stage: one FileObject per shard with its
    SHA-256, the RecordSet from the schema, the Responsible-AI fields laas knows and the
    checkpoint (laas:checkpoint). Only a run the gate allows is exported."""
    from laas.api import export_croissant

    text = json.dumps(export_croissant(dataset, run=_name("--run", run)), indent=2) + "\n"
    if output is None:
        print(text, end="")
        return
    output.write_text(text)
    card = json.loads(text)
    out.print(f"wrote {output}: {len(card['distribution']) - 1} shard(s), checkpoint "
              f"{card['laas:checkpoint']['checkpoint_id']}")


def verify_card_file(path: Path) -> None:
    """`laas verify --croissant CARD`: exit 0 when the card's checkpoint is a passed validated
    stage on chain, its roots and hashes are the chain's and every file it lists hashes to its
    sha256 and its leaf; 1 naming the first thing that differs."""
    from laas.api import verify_croissant
    from laas.commands.common import _settings
    from laas.errors import ConfigError, HashMismatch

    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"Croissant card {path}: {e}") from None
    settings = _settings()
    try:
        top = verify_croissant(doc, settings=settings)
    except HashMismatch as e:
        out.print(said("NOT PROVEN", "red"), f"{path}: {e}")
        raise typer.Exit(1) from None
    m = top.manifest
    out.print(said("PROVEN", "green"), f"{path}: {m.dataset} run {m.run}, {len(m.accepted)} "
              f"file(s) match their sha256 and leaves under root {top.stored.shards_root}, "
              f"checkpoint {top.checkpoint.checkpoint_id}; its prose (name, description, url, "
              "datePublished, dataCollection) is the card's own word, not checked")
