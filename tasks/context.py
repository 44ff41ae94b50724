"""What the stage tasks are handed by the flow's entry (its composition root), instead of
reading settings: the ledger (store, index, registry opener, committer), the Dask scheduler,
the batching, the gate for a derived dataset's parents and the spec search path."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from laas.anchors.ports import Ledger

# What each Dask worker imports ahead of the validate stage (Great Expectations: seconds).
WORKER_WARM = "laas.validators.gx_suite:warm"
# What a local cluster's worker processes inherit, imported once in the process they are forked
# from instead of once in each (Great Expectations: ~3 s of CPU per import here), in this
# order: Arrow's allocator settings before anything loads pyarrow.
WORKER_PRELOAD = ("laas.deployments.worker_memory", "great_expectations",
                  "laas.validators.gx_suite")


@dataclass(frozen=True)
class StageContext:
    ledger: Ledger
    address: str  # the Dask scheduler
    batch_size: int  # shards per Dask task at most
    batch_bytes: int  # and bytes per Dask task, beyond its first shard
    gate: Callable[[str], Any]  # dataset name -> its GateVerdict (derived datasets' parents)
    datasets_dirs: tuple[Path, ...] = ()  # where specs are looked up beyond the shipped ones
    tx_link: Callable[[str], str | None] | None = None  # a tx hash -> its explorer page
