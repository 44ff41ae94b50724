"""`laas`: run pipelines, run the local chain, query lineage, gate training. Imports are lazy so
that `laas lineage` and `laas gate` never load Prefect, Dask or Great Expectations."""

from __future__ import annotations

import sys
import traceback

from laas.commands import (  # noqa: F401 - registers them
    chain,
    consume,
    contributors,
    export,
    ingest,
    versions,
)
from laas.commands.common import app, err
from laas.errors import LaasError

__all__ = ["app", "main"]


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
