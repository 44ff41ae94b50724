"""What every command shares: the Typer apps, the consoles, the common options and the small
checks of command-line values. Imports stay lazy so that `laas gate` and `laas lineage` never
load Prefect, Dask or Great Expectations."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from laas.anchors.core.listing import SHOWN, first_of, visible
from laas.errors import ConfigError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Data pipelines for AI training data, checkpointed on an EVM chain.")
chain_app = typer.Typer(no_args_is_help=True, help="The local anvil chain (or a remote one).")
app.add_typer(chain_app, name="chain")
index_app = typer.Typer(no_args_is_help=True, help="The lineage index (a cache of the chain).")
app.add_typer(index_app, name="index")


class _Shown(Console):
    """A console for text from the bucket: control characters (an ESC sequence in a key could
    move the cursor and overwrite what was printed) are shown, not sent to the terminal."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        super().print(*map(_shown, objects), **kwargs)


def _shown(o: Any) -> Any:
    if isinstance(o, str):
        return visible(o)
    if isinstance(o, Text) and (plain := visible(o.plain)) != o.plain:
        o = o.copy()
        o.plain = plain  # as long as before: its colours stay where they were
    return o


# Soft wrap: hashes and URIs stay whole on one line, to be copied or grepped. No markup: keys,
# URIs and reasons come from the bucket, and one holding `[/]` or `[bold]` would be read as a
# tag (a crash after the commit, or a key shown wrongly); colour goes through said().
out = _Shown(soft_wrap=True, markup=False)
err = _Shown(stderr=True, soft_wrap=True, markup=False)  # one line, never wrapped at 80


def said(text: str, style: str) -> Text:
    """A word in colour (ALLOW, NOT PROVEN, error:), printed before the plain text after it."""
    return Text(text, style=style)


RunOpt = Annotated[str | None, typer.Option("--run", help="run name (default: a new run)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def _settings() -> Any:
    """The settings, applied to this process's storage access: every command that reads the
    store calls this first (the composition root for the CLI)."""
    from laas.settings import get_settings
    from laas.wiring import use_storage

    settings = get_settings()
    use_storage(settings)
    return settings


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
    from laas.tasks.dataset_spec import spec_name

    return spec_name(ref)


def _tx(tx_hash: str | None) -> str:
    """A transaction hash, with its page on the network's explorer when there is one."""
    link = _settings().tx_link(tx_hash)
    return f"{tx_hash} ({link})" if link else str(tx_hash)


def _short(h: str | None, n: int = 10) -> str:
    return f"{h[: n + 2]}…" if h else "-"


def print_some(lines: list[str | Text], what: str) -> None:
    """The first SHOWN lines, then how many more `what` there are: a run over package docs set
    783 shards' worth of lines aside on the terminal, pushing its verdict out of sight."""
    for line in first_of(lines, SHOWN, lambda n: f"  … and {n} more {what} (--json lists them)"):
        out.print(line)
