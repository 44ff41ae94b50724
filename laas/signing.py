"""The composition root's signing half (laas.wiring re-exports it): the web3 chain, the
committer key, the fee policy and the registry client that commits, deploying the local one
once. Only commands that sign import it, so readers never load web3 or eth_account."""

from __future__ import annotations

import json
from typing import Any

from web3 import Web3

from laas.anchors.adapters.jsonrpc import mapped
from laas.anchors.adapters.localchain import home_key
from laas.anchors.adapters.registry import Registry, connect, rpc_of
from laas.anchors.adapters.registry_read import format_of
from laas.anchors.adapters.registry_v2 import RegistryV2
from laas.anchors.adapters.wallet import FeePolicy, Sender, load_account, load_sender
from laas.anchors.core.fees import FeeBudget, run_budget
from laas.errors import ConfigError
from laas.settings import Settings
from laas.wiring import _deployed, _expected_chain, local_chain, rpc_proxies, rpc_retry


def open_chain(settings: Settings) -> Web3:
    """A web3 over the configured endpoints, for the signing client."""
    w3 = connect(settings.rpc_urls, settings.rpc_timeout, rpc_retry(settings),
                 proxies=rpc_proxies())
    _expected_chain(settings, w3.eth.chain_id, w3.provider.endpoint_uri)
    return w3


def open_registry(settings: Settings, *, start_local: bool = True) -> Registry:
    """A Registry ready to commit. On the embedded default this starts anvil if it is down and
    deploys the contract once, recording its address under HOME/chain/registry.json; the
    committer there is a key generated for this home (see `committer_account`)."""
    if settings.is_local_chain and start_local:
        local_chain(settings).up()
    w3 = open_chain(settings)
    sender = open_sender(settings, w3)
    where = _deployed(settings, w3.eth.chain_id, lambda a: bool(w3.eth.get_code(a)))
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


def registry_at(w3: Any, address: str, sender: Any, **kwargs: Any) -> Registry:
    """The signing client for whatever format the registry at `address` is."""
    with mapped(rpc_of(w3).urls):
        version = format_of(rpc_of(w3), address)
    return (RegistryV2 if version >= 2 else Registry)(w3, address, sender, **kwargs)
