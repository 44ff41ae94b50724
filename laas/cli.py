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
from laas.commands.common import app, err, said
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
        err.print(said("error:", "red"), _scrub(str(e)), highlight=False)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted: rerun with the same --run to resume")
        sys.exit(130)
    except Exception as e:
        if debug:
            traceback.print_exc()
        err.print(said("error:", "red"), f"unexpected {type(e).__name__}: {_scrub(str(e))} "
                  "(rerun with --debug)")
        sys.exit(2)


def entry() -> None:
    """The `laas` executable: main(), then the exit hooks a normal exit runs (Prefect's log and
    event workers drained, non-daemon threads joined, multiprocessing's helpers stopped,
    logging flushed), then out without the interpreter's teardown of every module and object
    it loaded: after a `laas run` that took 1-3 s on two busy cores, for nothing the operating
    system does not do anyway. Tests call main() in-process; only the executable uses this."""
    import atexit
    import os
    import threading

    code: object = 0
    try:
        main()
    except SystemExit as e:
        code = e.code
    if code is not None and not isinstance(code, int):  # sys.exit("message")
        print(code, file=sys.stderr)
        code = 1
    threading._shutdown()  # type: ignore[attr-defined]  # what Py_Finalize does first
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)
