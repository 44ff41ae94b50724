"""The Python API for training code: the composition root for a script, as the CLI is for a
shell. Settings come from the environment (or are handed in); the services below get the
adapters built here and read nothing themselves.

    from laas.api import gate_dataset, verified_reader
    verdict = gate_dataset("instruct-sample").require()   # GateDenied unless it may be used
    for batch in verified_reader("instruct-sample"): ...  # only the rows the gate proved
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from laas.anchors.services.gate import GateMode, GatePolicy, GateVerdict, check
from laas.errors import AnchorError, ConfigError, LaasError
from laas.networks import Finality
from laas.settings import Settings, get_settings

if TYPE_CHECKING:
    from laas.anchors.services.reader import VerifiedReader

__all__ = ["GatePolicy", "GateVerdict", "VerifiedReader", "gate_dataset", "verified_reader"]


def __getattr__(name: str) -> Any:
    """VerifiedReader on first use: it loads pyarrow, which `laas gate --mode proof` and
    `laas lineage` do not need."""
    if name == "VerifiedReader":
        from laas.anchors.services.reader import VerifiedReader

        return VerifiedReader
    raise AttributeError(f"module 'laas.api' has no attribute {name!r}")


def gate_dataset(dataset: str, *, run: str | None = None, min_confirmations: int | None = None,
                 mode: GateMode = "full", sample: int = 8, policy: GatePolicy | None = None,
                 finality: Finality | None = None,
                 settings: Settings | None = None) -> GateVerdict:
    """The gate for a training script: settings from the environment, chain as configured.
    `gate_dataset(...).require()` raises GateDenied; `.shards` lists the verified URIs.
    finality: default LAAS_FINALITY (or the network profile's), else latest."""
    from laas.wiring import open_reader, open_store, use_storage

    settings = settings or get_settings()
    use_storage(settings)
    if min_confirmations is None:
        min_confirmations = settings.min_confirmations
    finality = finality or settings.effective_finality
    try:
        registry = open_reader(settings)
    except LaasError as e:
        if not settings.is_local_chain or isinstance(e, ConfigError | AnchorError):
            raise  # only "nothing deployed here yet" is a denial; a chain that is down is not
        return GateVerdict(allowed=False, dataset=dataset, reason=str(e))
    return check(registry, dataset, run=run, min_confirmations=min_confirmations, mode=mode,
                 sample=sample, policy=policy, store=open_store(settings), finality=finality)


def verified_reader(dataset: str, *, run: str | None = None, **gate_options: Any
                    ) -> VerifiedReader:
    """Gate the dataset, then read what the gate verified."""
    from laas.anchors.services.reader import VerifiedReader

    return VerifiedReader.from_verdict(gate_dataset(dataset, run=run, **gate_options))
