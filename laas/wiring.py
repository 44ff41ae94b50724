"""The one wiring place for the ledger: settings -> chain (starting the local one if that is
the default) -> committer -> registry, plus the artifact store and the lineage index.

Readers (gate, lineage, verify) get the light client (adapters.registry_read over
adapters.jsonrpc); web3, eth_account and the index's SQLAlchemy are imported only by the
builders that need them, so `laas gate` and `laas lineage` start fast."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from laas.anchors.adapters import files
from laas.anchors.adapters.endpoints import Retry
from laas.anchors.adapters.files import redact_url
from laas.anchors.adapters.jsonrpc import Rpc, connect_rpc, mapped
from laas.anchors.adapters.registry_read import RegistryRead, reader_at
from laas.anchors.ports import IndexReader, Ledger
from laas.errors import ConfigError, LaasError
from laas.settings import Settings

if TYPE_CHECKING:  # the builders import these where they are used

    from laas.anchors.adapters.artifacts import ArtifactStore
    from laas.anchors.adapters.chainview import ChainView
    from laas.anchors.adapters.index import LineageIndex
    from laas.anchors.adapters.localchain import LocalChain
    from laas.tasks.context import StageContext

# The signing half (laas.signing) loads web3 and eth_account: re-exported on first use only.
_SIGNING = ("open_chain", "open_registry", "committer_account", "open_sender", "fee_budget",
            "registry_at")


def __getattr__(name: str) -> Any:
    if name in _SIGNING:
        from laas import signing

        return getattr(signing, name)
    raise AttributeError(f"module 'laas.wiring' has no attribute {name!r}")


def committer_address(settings: Settings) -> str | None:
    """committer_account(settings).address, without loading eth_account and web3 unless a
    keystore must be decrypted (for `laas chain status`)."""
    from laas.anchors.adapters.keys import address_of

    key_file = settings.chain_dir / "committer.key"
    if settings.private_key:
        try:
            return address_of(settings.private_key.get_secret_value())
        except ValueError:
            raise ConfigError("LAAS_PRIVATE_KEY is not a valid hex private key") from None
    if not settings.keystore_path and settings.is_local_chain and key_file.exists():
        try:
            return address_of(key_file.read_text())
        except ValueError:
            raise ConfigError(f"{key_file} does not hold a hex private key") from None
    from laas.signing import committer_account  # a keystore, or a home key to create

    account = committer_account(settings)
    return None if account is None else account.address


def storage_config(settings: Settings) -> files.StorageConfig:
    return files.StorageConfig(
        s3_endpoint_url=settings.s3_endpoint_url, s3_region=settings.s3_region,
        s3_profile=settings.s3_profile, s3_key=settings.s3_key, s3_secret=settings.s3_secret)


def use_storage(settings: Settings) -> None:
    """This process reaches storage with these settings (the CLI and a flow's entry call it;
    Dask workers get the same config with each batch)."""
    files.configure(storage_config(settings))


def ledger(settings: Settings, *, start_local: bool = True) -> Ledger:
    """The anchoring services' parts. The registry is opened on demand (per commit attempt),
    so a chain that is down holds up commits, not the work."""
    from laas.signing import committer_account, open_registry

    return Ledger(
        store=open_store(settings), index=open_index(settings),
        open_registry=partial(open_registry, settings, start_local=start_local),
        committer=committer_account(settings),
        trusted_committers=tuple(settings.trusted_committer_addresses),
        anchor_attempts=settings.anchor_attempts, anchor_backoff=settings.anchor_backoff)


def datasets_dirs(settings: Settings) -> tuple[Path, ...]:
    return (settings.datasets_dir,) if settings.datasets_dir else ()


def stage_context(settings: Settings, address: str) -> StageContext:
    """What the ingest flow's stage tasks are handed (the flow's entry calls this)."""
    from laas.api import gate_dataset
    from laas.tasks.context import StageContext

    return StageContext(ledger=ledger(settings), address=address,
                        batch_size=settings.batch_size, batch_bytes=settings.batch_bytes,
                        gate=partial(gate_dataset, settings=settings),
                        datasets_dirs=datasets_dirs(settings), tx_link=settings.tx_link)


def local_chain(settings: Settings) -> LocalChain:
    from laas.anchors.adapters.localchain import LocalChain

    return LocalChain(settings.home, settings.anvil_port, settings.anvil_bin)


def rpc_retry(settings: Settings) -> Retry:
    return Retry(budget=settings.rpc_budget)


def rpc_proxies() -> dict[str, str]:
    """HTTP(S)_PROXY and NO_PROXY as requests and urllib read them (adapters.proxies); {} when
    none is set, without importing urllib.request."""
    if not any(k.lower().endswith("_proxy") for k in os.environ):
        return {}
    from urllib.request import getproxies_environment

    return getproxies_environment()


def _expected_chain(settings: Settings, chain_id: int, url: str) -> None:
    """Refused unless the endpoints serve the expected chain (LAAS_CHAIN_ID or the network
    profile's): a registry deployed or a key used on the wrong chain costs money."""
    if settings.chain_id is not None and chain_id != settings.chain_id:
        raise ConfigError(
            f"{settings.chain_id_source} expects chain {settings.chain_id} but "
            f"{redact_url(url)} is chain {chain_id}: point LAAS_RPC_URL at that network, or "
            "fix the setting"
        )


def open_rpc(settings: Settings) -> Rpc:
    """The light JSON-RPC client over the configured endpoints, for the readers."""
    rpc = connect_rpc(settings.rpc_urls, settings.rpc_timeout, rpc_retry(settings),
                      proxies=rpc_proxies())
    _expected_chain(settings, rpc.chain_id(), rpc.urls[rpc.endpoints.current])
    return rpc


def _deployed(settings: Settings, chain_id: int, has_code: Callable[[str], bool]
              ) -> dict[str, Any] | None:
    """Where the registry is: LAAS_REGISTRY_ADDRESS, or the local deployment's record."""
    if settings.registry_address:
        return {"address": settings.registry_address,
                "deploy_block": settings.registry_deploy_block}
    record_file = settings.chain_dir / "registry.json"
    record = json.loads(record_file.read_text()) if record_file.exists() else None
    if record and record["chain_id"] == chain_id and has_code(record["address"]):
        return record
    return None


def open_reader(settings: Settings) -> RegistryRead:
    """A read-only client for consumers (gate, verify, lineage, reader): no key needed, no
    signing library loaded, and it never starts a chain or deploys a contract."""
    rpc = open_rpc(settings)
    with mapped(rpc.urls):
        where = _deployed(settings, rpc.chain_id(), lambda a: rpc.request(
            "eth_getCode", [a, "latest"]) not in (None, "0x", ""))
    if where is None:
        if settings.is_local_chain:
            raise LaasError("no CheckpointRegistry deployed on the local chain of "
                            f"{settings.home}: nothing was committed here yet (`laas run` first)")
        raise ConfigError("LAAS_REGISTRY_ADDRESS is not set: set it to the deployed registry")
    return reader_at(rpc, where["address"], deploy_block=where["deploy_block"],
                     log_range=settings.log_range)


def open_store(settings: Settings) -> ArtifactStore:
    from laas.anchors.adapters.artifacts import ArtifactStore

    return ArtifactStore(settings.effective_artifact_root)


def open_index(settings: Settings) -> LineageIndex:
    return _index(settings.effective_index_url)


def open_index_reader(settings: Settings) -> IndexReader:
    """The index for answering only: its default SQLite file through the standard library
    (no SQLAlchemy to import), else the full client (another database, or no file yet)."""
    url = settings.effective_index_url
    path = Path(url.removeprefix("sqlite:///"))
    if url.startswith("sqlite:///") and path.is_file():
        from laas.anchors.adapters.index_sqlite import SqliteIndexReader

        return SqliteIndexReader(path, files.redact(url))
    return open_index(settings)


_INDEXES: dict[str, LineageIndex] = {}


def _index(url: str) -> LineageIndex:
    """One engine per index URL per process: creating it costs more than a lineage query."""
    if url not in _INDEXES:
        from laas.anchors.adapters.index import LineageIndex

        _INDEXES[url] = LineageIndex(url)
    return _INDEXES[url]


def close_indexes() -> None:
    """Close every index engine this process opened (its pooled connections with it)."""
    while _INDEXES:
        _INDEXES.popitem()[1].engine.dispose()


def chain_view(settings: Settings) -> ChainView:
    """Lineage answers without the chain when it is away, so this gives up fast: short
    timeouts, one pass over the endpoints, a few seconds in all."""
    from laas.anchors.adapters.chainview import ChainView

    urls = settings.rpc_urls
    retry = Retry(rounds=1, budget=min(settings.rpc_budget, 5.0), max_wait=2.0)
    with mapped(urls):  # the head is the first call: no separate reachability probe
        return ChainView(connect_rpc(urls, timeout=2.0, retry=retry, probe=False,
                                     proxies=rpc_proxies()))
