"""A new run's name. Apart from the stage code: `laas run` names a run before it starts
Prefect's server, and importing tasks.manifests for it (Arrow, pandas, the readers: ~0.5 s of
CPU) delayed that start, the longest part of a small run, by as much."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime


def new_run_name() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
