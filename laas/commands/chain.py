"""`laas anchor`, `laas index` and `laas chain`: the ledger side."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from laas.commands.common import (
    JsonOpt,
    RunOpt,
    _name,
    _settings,
    _tx,
    app,
    chain_app,
    index_app,
    out,
    said,
)
from laas.errors import ConfigError


@app.command()
def anchor(
    dataset: Annotated[str | None, typer.Argument(help="only this dataset")] = None,
    run: RunOpt = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="commit stored manifests that are not on chain")] = False,
    all_: Annotated[bool, typer.Option(
        "--all", help="with --resume: every run (of DATASET, if given) trusted to commit")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Commit what runs left pending anchor (chain down, process killed, reorganised away),
    from the manifests in the artifact store: only those whose hash is on chain or that a
    trusted committer attested, each checked against its parent's committed manifest, in stage
    order, nothing committed twice. With neither DATASET --run nor --all it lists what it
    would commit and why, and commits nothing. Exit 0 when every manifest is on chain, 3 if
    the chain is still away, 2 if one cannot be committed (or nothing was chosen)."""
    if not resume:
        raise ConfigError("say --resume to commit pending manifests")
    _name("--run", run)
    from laas.anchors.services.resume import resume as resume_pending
    from laas.wiring import ledger

    dry = not all_ and (dataset is None or run is None)
    done = resume_pending(ledger(_settings()), dataset, run, dry_run=dry)
    if as_json:
        print(json.dumps([d.model_dump(mode="json") for d in done], indent=2))
    else:
        for d in done:
            where = f"{d.dataset}/{d.run}/{d.stage}"
            trust = f"  ({d.trust})" if d.trust else ""
            if d.checkpoint is not None:
                out.print(f"  {d.action:<12} {where}  block {d.checkpoint.block_number}  "
                          f"tx {_tx(d.checkpoint.tx_hash)}{trust}")
            elif d.action == "would commit":
                out.print(" ", said(f"{d.action:<12}", "yellow"), f"{where}{trust}")
            else:
                out.print(" ", said(f"{d.action:<12}", "red"), f"{where}: {d.error or ''}{trust}")
        if not dry:
            committed = sum(d.action == "committed" for d in done)
            out.print(f"{committed} committed, {sum(d.action == 'on chain' for d in done)} "
                      f"already on chain, {sum(d.checkpoint is None for d in done)} not on chain")
    if dry:
        raise ConfigError("nothing committed: name what to commit, `laas anchor --resume "
                          "DATASET --run RUN`, or `--all` for everything listed as trusted")
    raise typer.Exit(2 if any(d.checkpoint is None for d in done) else 0)


@index_app.command("rebuild")
def index_rebuild(
    full: Annotated[bool, typer.Option(
        "--full", help="read from the registry's deploy block, not from where the last "
                       "rebuild stopped")] = False,
) -> None:
    """Refill the index from the chain's events and the manifests they name. It goes on from
    the last block a previous rebuild read (an interrupted one included); --full starts over."""
    from laas.anchors.services.lineage import rebuild_index
    from laas.wiring import open_index, open_reader

    settings = _settings()
    r = rebuild_index(open_reader(settings), open_index(settings), full=full)
    out.print(f"indexed {r.indexed} checkpoints from the chain "
              f"(blocks {r.from_block}..{r.through_block})")


@chain_app.command("up")
def chain_up() -> None:
    """Start anvil on loopback (state kept under .laas/chain) and deploy the registry once."""
    from laas.anchors.adapters.files import redact_url
    from laas.wiring import local_chain, open_registry

    settings = _settings()
    started = local_chain(settings).up()
    reg = open_registry(settings)
    url = redact_url(settings.effective_rpc_url)
    out.print(f"chain {'started' if started else 'already up'} at {url}; "
              f"registry {reg.address}; block {reg.block_number()}")


@chain_app.command("down")
def chain_down() -> None:
    """Stop the local anvil; its state is written to .laas/chain/anvil-state.json."""
    from laas.wiring import local_chain

    stopped = local_chain(_settings()).down()
    out.print("chain stopped" if stopped else "chain was not running")


@chain_app.command("status")
def chain_status() -> None:
    """Is the chain up, which registry, which block."""
    from laas.anchors.adapters.files import redact_url
    from laas.anchors.adapters.localchain import rpc_alive

    settings = _settings()
    # the first endpoint that answers, as every other command would use it
    up = next(((u, c) for u in settings.rpc_urls if (c := rpc_alive(u)) is not None), None)
    if up is None:
        out.print(f"chain at {', '.join(redact_url(u) for u in settings.rpc_urls)} is down")
        raise typer.Exit(1)
    url, chain_id = redact_url(up[0]), up[1]
    from laas.wiring import committer_address, open_reader

    reg = open_reader(settings)
    address = committer_address(settings)
    who = "no committer key (read-only)" if address is None else \
        f"committer {address} ({'has' if reg.is_committer(address) else 'lacks'} the role)"
    out.print(f"chain {chain_id} up at {url}; registry {reg.address}; "
              f"block {reg.block_number()}; {who}")


@chain_app.command("deploy")
def chain_deploy() -> None:
    """Deploy a new CheckpointRegistryV2 (format 2) with the configured key (for a remote
    chain)."""
    from laas.anchors.adapters.registry_v2 import RegistryV2
    from laas.wiring import open_chain, open_sender

    settings = _settings()
    w3 = open_chain(settings)  # the expected chain, or no deployment
    sender = open_sender(settings, w3)
    address, block = RegistryV2.deploy(w3, sender, tx_timeout=settings.tx_timeout)
    out.print(f"deployed format 2 at {address} in block {block}: set "
              f"LAAS_REGISTRY_ADDRESS={address} LAAS_REGISTRY_DEPLOY_BLOCK={block}")


@chain_app.command("grant")
def chain_grant(account: Annotated[str, typer.Argument(help="address to let commit")]) -> None:
    """Give an account the committer role (the configured key must be the registry's admin)."""
    _set_role(account, grant=True)


@chain_app.command("revoke")
def chain_revoke(account: Annotated[str, typer.Argument(help="address to stop")]) -> None:
    """Take the committer role away; that account's commits are refused from the next block."""
    _set_role(account, grant=False)


def _set_role(account: str, grant: bool) -> None:
    from web3 import Web3

    from laas.wiring import open_registry

    if not Web3.is_address(account):
        raise ConfigError(f"{account!r} is not an Ethereum address (0x and 40 hex digits)")
    reg = open_registry(_settings())
    address = Web3.to_checksum_address(account)
    (reg.grant_committer if grant else reg.revoke_committer)(address)
    out.print(f"{address} {'has' if reg.is_committer(address) else 'lacks'} the committer role")
