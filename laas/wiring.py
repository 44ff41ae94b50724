"""The one wiring place for the ledger: settings -> chain (starting the local one if that is
the default) -> committer -> registry, plus the artifact store and the lineage index."""

from __future__ import annotations

import json
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from web3 import Web3

from laas.anchors.adapters import files
from laas.anchors.adapters.artifacts import ArtifactStore
from laas.anchors.adapters.chainview import ChainView
from laas.anchors.adapters.files import redact_url
from laas.anchors.adapters.index import LineageIndex
from laas.anchors.adapters.localchain import LocalChain, home_key
from laas.anchors.adapters.registry import Registry, connect, unreachable
from laas.anchors.adapters.registry_v2 import RegistryV2
from laas.anchors.adapters.rpc import Retry
from laas.anchors.adapters.wallet import FeePolicy, Sender, load_account, load_sender
from laas.anchors.core.canonical import keccak256
from laas.anchors.core.fees import FeeBudget, run_budget
from laas.anchors.ports import Ledger
from laas.errors import ConfigError, LaasError
from laas.settings import Settings
from laas.tasks.context import StageContext


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

    return StageContext(ledger=ledger(settings), address=address,
                        batch_size=settings.batch_size, batch_bytes=settings.batch_bytes,
                        gate=partial(gate_dataset, settings=settings),
                        datasets_dirs=datasets_dirs(settings), tx_link=settings.tx_link)


def local_chain(settings: Settings) -> LocalChain:
    return LocalChain(settings.home, settings.anvil_port, settings.anvil_bin)


def rpc_retry(settings: Settings) -> Retry:
    return Retry(budget=settings.rpc_budget)


def open_chain(settings: Settings) -> Web3:
    """The configured endpoints, refused unless they serve the expected chain (LAAS_CHAIN_ID or
    the network profile's): a registry deployed or a key used on the wrong chain is a mistake
    that costs money."""
    w3 = connect(settings.rpc_urls, settings.rpc_timeout, rpc_retry(settings))
    chain_id = w3.eth.chain_id
    if settings.chain_id is not None and chain_id != settings.chain_id:
        raise ConfigError(
            f"{settings.chain_id_source} expects chain {settings.chain_id} but "
            f"{redact_url(w3.provider.endpoint_uri)} is chain {chain_id}: point LAAS_RPC_URL "
            "at that network, or fix the setting"
        )
    return w3


def _deployed(settings: Settings, w3: Web3) -> dict[str, Any] | None:
    """Where the registry is: LAAS_REGISTRY_ADDRESS, or the local deployment's record."""
    if settings.registry_address:
        return {"address": settings.registry_address,
                "deploy_block": settings.registry_deploy_block}
    record_file = settings.chain_dir / "registry.json"
    record = json.loads(record_file.read_text()) if record_file.exists() else None
    if record and record["chain_id"] == w3.eth.chain_id and w3.eth.get_code(record["address"]):
        return record
    return None


def open_reader(settings: Settings) -> Registry:
    """A read-only Registry for consumers (gate, verify, lineage, reader): no key needed, no
    signing, and it never starts a chain or deploys a contract."""
    w3 = open_chain(settings)
    where = _deployed(settings, w3)
    if where is None:
        if settings.is_local_chain:
            raise LaasError("no CheckpointRegistry deployed on the local chain of "
                            f"{settings.home}: nothing was committed here yet (`laas run` first)")
        raise ConfigError("LAAS_REGISTRY_ADDRESS is not set: set it to the deployed registry")
    return registry_at(w3, where["address"], None, deploy_block=where["deploy_block"],
                       tx_timeout=settings.tx_timeout, log_range=settings.log_range)


def open_registry(settings: Settings, *, start_local: bool = True) -> Registry:
    """A Registry ready to commit. On the embedded default this starts anvil if it is down and
    deploys the contract once, recording its address under HOME/chain/registry.json; the
    committer there is a key generated for this home (see `committer_account`)."""
    if settings.is_local_chain and start_local:
        local_chain(settings).up()
    w3 = open_chain(settings)
    sender = open_sender(settings, w3)
    where = _deployed(settings, w3)
    if where is None:
        if not settings.is_local_chain:
            raise ConfigError(
                "LAAS_REGISTRY_ADDRESS is not set: deploy once with `laas chain deploy` and "
                "set it")
        # The admin from the start: no public key holds a role.
        home = home_key(settings.chain_dir).address
        w3.provider.make_request("anvil_setBalance", [home, hex(10**22)])
        address, block = RegistryV2.deploy(w3, _dev_admin(w3), admin=home,
                                           tx_timeout=settings.tx_timeout)
        settings.chain_dir.mkdir(parents=True, exist_ok=True)
        where = {"address": address, "chain_id": w3.eth.chain_id, "deploy_block": block}
        (settings.chain_dir / "registry.json").write_text(json.dumps(where, indent=2))
    registry = registry_at(w3, where["address"], sender, deploy_block=where["deploy_block"],
                           tx_timeout=settings.tx_timeout, log_range=settings.log_range)
    if settings.is_local_chain and not settings.registry_address:
        _enable_local_committer(w3, registry, settings, sender.address)
    return registry


def _dev_admin(w3: Web3) -> Sender:
    """anvil's first unlocked dev account: deploys the local registry and is its admin."""
    return Sender(unlocked=w3.eth.accounts[0])


def _enable_local_committer(w3: Web3, registry: Registry, settings: Settings,
                            address: str) -> None:
    """On the local chain the home's key is the registry's admin and anvil's public dev key
    holds no role (a home deployed before took them from it: they move to the home key once).
    The configured committer gets gas, and the committer role from the home key."""
    home = home_key(settings.chain_dir)
    for who in {home.address, address}:
        if w3.eth.get_balance(who) < 10**18:
            w3.provider.make_request("anvil_setBalance", [who, hex(10**22)])
    as_home = Registry(w3, registry.address, load_sender(w3, account=home),
                       tx_timeout=settings.tx_timeout)
    if not registry.is_admin(home.address):
        dev = Registry(w3, registry.address, _dev_admin(w3), tx_timeout=settings.tx_timeout)
        dev.grant_admin(home.address)
        as_home.revoke_committer(dev.sender.address)
        as_home.revoke_admin(dev.sender.address)
    if not registry.is_committer(address):
        as_home.grant_committer(address)


def committer_account(settings: Settings) -> Any:
    """The committer key as a LocalAccount, without touching the chain (so a manifest can be
    attested while the chain is down): LAAS_PRIVATE_KEY, the keystore, or on the local chain a
    key generated once for this home (HOME/chain/committer.key, mode 0600). anvil's dev keys
    are public, so signing with them would prove nothing."""
    secret = settings.keystore_password
    account = load_account(
        private_key=settings.private_key.get_secret_value() if settings.private_key else None,
        keystore_path=settings.keystore_path,
        keystore_password=secret.get_secret_value() if secret else None)
    if account is None and settings.is_local_chain:
        account = home_key(settings.chain_dir)
    return account


def open_sender(settings: Settings, w3: Web3) -> Sender:
    return load_sender(
        w3,
        account=committer_account(settings),
        lock_dir=settings.chain_dir,
        fees=FeePolicy(bump_after=settings.fee_bump_after, max_bumps=settings.fee_bumps,
                       max_fee_wei=None if settings.max_fee_gwei is None
                       else int(settings.max_fee_gwei * 10**9),
                       percentile=settings.fee_percentile,
                       history_blocks=settings.fee_history_blocks,
                       headroom=settings.base_fee_headroom),
        budget=fee_budget(settings),
    )


def fee_budget(settings: Settings) -> FeeBudget | None:
    """This process's fee cap (LAAS_MAX_FEE_PER_RUN), shared by every Sender it opens."""
    cap = settings.max_fee_per_run
    return None if cap is None else run_budget(cap, settings.currency)


def open_store(settings: Settings) -> ArtifactStore:
    return ArtifactStore(settings.effective_artifact_root)


def open_index(settings: Settings) -> LineageIndex:
    return _index(settings.effective_index_url)


@lru_cache(maxsize=4)
def _index(url: str) -> LineageIndex:
    """One engine per index URL per process: creating it costs more than a lineage query."""
    return LineageIndex(url)


def chain_view(settings: Settings) -> ChainView:
    """Lineage answers without the chain when it is away, so this gives up fast: short
    timeouts, one pass over the endpoints, a few seconds in all."""
    urls = settings.rpc_urls
    retry = Retry(rounds=1, budget=min(settings.rpc_budget, 5.0), max_wait=2.0)
    try:  # the head is the first call: no separate reachability probe
        return ChainView(connect(urls, timeout=2.0, retry=retry, probe=False))
    except Exception as e:  # requests raises a zoo of connection errors
        raise unreachable(urls, e) from None


def registry_at(w3: Any, address: str, sender: Any, **kwargs: Any) -> Registry:
    """The client for whatever format the registry at `address` is: format 2 answers VERSION(),
    format 1 has no such function (the call reverts)."""
    from web3 import Web3

    selector = keccak256(b"VERSION()")[:4]
    try:
        answer = w3.eth.call({"to": Web3.to_checksum_address(address), "data": selector})
        version = int.from_bytes(answer, "big") if len(answer) == 32 else 1
    except Exception:  # a revert, in whichever form the node and web3 give it
        version = 1
    return (RegistryV2 if version >= 2 else Registry)(w3, address, sender, **kwargs)
