"""The Python API for training code: the composition root for a script, as the CLI is for a
shell. Settings come from the environment (or are handed in); the services below get the
adapters built here and read nothing themselves.

    from laas.api import diff_versions, gate_dataset, prove_append_only, verified_reader
    verdict = gate_dataset("instruct-sample").require()   # GateDenied unless it may be used
    for batch in verified_reader("instruct-sample"): ...  # only the rows the gate proved
    diff_versions("crawl").added                          # what the latest version added
    prove_append_only("crawl", "run-1")                   # NotAppendOnly unless it holds
    card = export_croissant("crawl")                      # Croissant 1.1 JSON-LD, with proof
    verify_croissant(card)                                # HashMismatch unless it holds
    training_shares("crawl", "model-7", "0xAb…")          # a contributor's proof to claim
    dataset_contributors("crawl").contributors            # rows, bytes and proofs per address
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from laas.anchors.core.versions import VersionDiff
from laas.anchors.services.gate import GateMode, GatePolicy, GateVerdict, check
from laas.errors import AnchorError, ConfigError, LaasError
from laas.networks import Finality
from laas.settings import Settings, get_settings

if TYPE_CHECKING:
    from laas.anchors.services.reader import VerifiedReader

__all__ = ["GatePolicy", "GateVerdict", "VerifiedReader", "VersionDiff", "dataset_contributors",
           "dataset_versions",
           "diff_versions", "export_croissant", "gate_dataset", "prove_append_only",
           "training_shares", "verified_reader", "verify_croissant"]


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
    dataset = _named(dataset, settings)
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


def _named(dataset: str, settings: Settings | None) -> str:
    """A dataset name, or the name inside a spec given by its file (as the CLI takes it)."""
    from laas.tasks.dataset_spec import spec_name
    from laas.wiring import datasets_dirs

    return spec_name(dataset, list(datasets_dirs(settings or get_settings())))


def _registry(settings: Settings | None) -> Any:
    from laas.wiring import open_reader, use_storage

    settings = settings or get_settings()
    use_storage(settings)
    return open_reader(settings)


def dataset_versions(dataset: str, *, settings: Settings | None = None) -> list[tuple[str, Any]]:
    """(run, validated Checkpoint) of each passed version of the dataset, oldest first."""
    from laas.anchors.services.versions import list_versions

    return list_versions(_registry(settings), _named(dataset, settings))


def diff_versions(dataset: str, old: str | None = None, new: str | None = None, *,
                  settings: Settings | None = None) -> VersionDiff:
    """Shards added, removed and changed from run `old` to run `new` (default: the passed
    version before `new`, and the latest passed one), from validated manifests checked
    against the chain; `.append_only` says whether `new` contains `old` whole."""
    from laas.anchors.services.versions import diff_versions as diff

    return diff(_registry(settings), _named(dataset, settings), old, new)


def prove_append_only(dataset: str, old: str, new: str | None = None, *,
                      settings: Settings | None = None) -> VersionDiff:
    """The proof that version `new` (default: the latest passed) contains every shard of
    version `old` with the same leaf; NotAppendOnly naming the shard if it does not."""
    from laas.errors import NotAppendOnly

    d = diff_versions(dataset, old, new, settings=settings)
    if not d.append_only:
        raise NotAppendOnly(str(d.append_problem))
    return d


def export_croissant(dataset: str, *, run: str | None = None,
                     settings: Settings | None = None) -> dict[str, Any]:
    """The Croissant 1.1 card (a JSON-LD dict) of the validated stage of `run` (default: the
    run the gate would allow now): GateDenied if the gate does not allow it. Each file's
    SHA-256 is the one its manifest commits (no file read); a run before manifest v4 has each
    shard read once, for its SHA-256 and its re-hash to the committed leaf."""
    from laas.anchors.core.croissant import About, Column
    from laas.anchors.services.croissant import export_card
    from laas.tasks.dataset_spec import load_spec
    from laas.wiring import datasets_dirs

    settings = settings or get_settings()
    spec = load_spec(dataset, list(datasets_dirs(settings)))
    # proof: manifests, Merkle proofs and lineage; an older run's bytes: by export_card
    verdict = gate_dataset(spec.name, run=run, mode="proof", settings=settings).require()
    licenses = next((e.kwargs.get("value_set") for e in spec.suite.expectations  # the rows'
                     if e.type == "expect_column_values_to_be_in_set" and e.severity == "error"
                     and e.kwargs.get("column") == "license"), None)  # admitted licenses
    about = About(description=spec.description, source=spec.source or ", ".join(spec.parents),
                  columns=tuple(Column(name=c.name, type=c.type, nullable=c.nullable)
                                for c in spec.columns),
                  licenses=tuple(licenses or ()))
    assert verdict.checkpoint is not None  # an allowed verdict carries its checkpoint
    return export_card(_registry(settings), verdict.checkpoint.checkpoint_id, about)


def verify_croissant(doc: dict[str, Any], *, settings: Settings | None = None) -> Any:
    """The proven validated checkpoint a card claims, once the card, the chain and every file
    it lists agree; HashMismatch naming the first thing that differs."""
    from laas.anchors.services.croissant import verify_card

    return verify_card(_registry(settings), doc)


def training_shares(dataset: str, record: str, contributor: str | None = None, *,
                    settings: Settings | None = None) -> Any:
    """The contributor shares of training record `record` (`laas gate DATASET --record
    NAME`), each with its Merkle proof to the root the record committed, checked against the
    chain; `.claim_args(address)` are ContributorRewards.claim's arguments."""
    from laas.anchors.services.training_shares import training_shares as shares

    return shares(_registry(settings), _named(dataset, settings), record, contributor)


def dataset_contributors(dataset: str, *, run: str | None = None, training: str | None = None,
                         settings: Settings | None = None) -> Any:
    """A ContributorsReport (laas.anchors.services.contributors) of the validated stage of
    `run` (default: the latest passed version) or of training record `training`: rows and
    bytes kept per contributor, and each of their shards' leaf and Merkle proof, all proven
    against the chain first (HashMismatch otherwise)."""
    from laas.anchors.services.contributors import contributors_report, find_checkpoint

    registry = _registry(settings)
    return contributors_report(registry, find_checkpoint(registry, _named(dataset, settings),
                                                         run, training))
