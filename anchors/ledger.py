"""The one wiring place for the ledger: settings -> chain (starting the local one if that is
the default) -> committer -> registry, plus the artifact store and the lineage index."""

from __future__ import annotations

import json
from functools import lru_cache

from web3 import Web3

from laas.anchors.index import LineageIndex
from laas.anchors.localchain import LocalChain
from laas.anchors.registry import Registry, connect, unreachable
from laas.anchors.store import ArtifactStore
from laas.anchors.wallet import FeePolicy, Sender, load_sender
from laas.errors import ConfigError
from laas.settings import Settings


def local_chain(settings: Settings) -> LocalChain:
    return LocalChain(settings.home, settings.anvil_port, settings.anvil_bin)


def open_registry(settings: Settings, *, start_local: bool = True) -> Registry:
    """A Registry ready to commit. On the embedded default this starts anvil if it is down and
    deploys the contract once, recording its address under HOME/chain/registry.json."""
    if settings.is_local_chain and start_local:
        local_chain(settings).up()
    w3 = connect(settings.effective_rpc_url)
    chain_id = w3.eth.chain_id
    if settings.chain_id is not None and chain_id != settings.chain_id:
        raise ConfigError(
            f"LAAS_CHAIN_ID is {settings.chain_id} but {settings.effective_rpc_url} is chain "
            f"{chain_id}: fix one of them"
        )
    sender = open_sender(settings, w3)
    if settings.registry_address:
        return Registry(w3, settings.registry_address, sender,
                        deploy_block=settings.registry_deploy_block,
                        tx_timeout=settings.tx_timeout)
    record_file = settings.chain_dir / "registry.json"
    record = json.loads(record_file.read_text()) if record_file.exists() else None
    if record and record["chain_id"] == chain_id and w3.eth.get_code(record["address"]):
        return Registry(w3, record["address"], sender, deploy_block=record["deploy_block"],
                        tx_timeout=settings.tx_timeout)
    if not settings.is_local_chain:
        raise ConfigError(
            "LAAS_REGISTRY_ADDRESS is not set: deploy once with `laas chain deploy` and set it"
        )
    address, block = Registry.deploy(w3, sender, tx_timeout=settings.tx_timeout)
    settings.chain_dir.mkdir(parents=True, exist_ok=True)
    record_file.write_text(json.dumps(
        {"address": address, "chain_id": chain_id, "deploy_block": block}, indent=2))
    return Registry(w3, address, sender, deploy_block=block, tx_timeout=settings.tx_timeout)


def open_sender(settings: Settings, w3: Web3) -> Sender:
    secret = settings.keystore_password
    return load_sender(
        w3,
        private_key=settings.private_key.get_secret_value() if settings.private_key else None,
        keystore_path=settings.keystore_path,
        keystore_password=secret.get_secret_value() if secret else None,
        allow_unlocked=settings.is_local_chain,
        lock_dir=settings.chain_dir,
        fees=FeePolicy(bump_after=settings.fee_bump_after, max_bumps=settings.fee_bumps,
                       max_fee_wei=None if settings.max_fee_gwei is None
                       else int(settings.max_fee_gwei * 10**9)),
    )


def open_store(settings: Settings) -> ArtifactStore:
    return ArtifactStore(settings.effective_artifact_root)


def open_index(settings: Settings) -> LineageIndex:
    return _index(settings.effective_index_url)


@lru_cache(maxsize=4)
def _index(url: str) -> LineageIndex:
    """One engine per index URL per process: creating it costs more than a lineage query."""
    return LineageIndex(url)


class ChainView:
    """A read-only look at the chain (no key, no contract): the head, and where transactions
    landed, if they still are on chain after a reorganisation. One JSON-RPC batch per
    question, so a lineage answer costs two round trips whatever its depth."""

    def __init__(self, w3: Web3):
        self.w3 = w3
        self.head = w3.eth.block_number
        self._blocks: dict[str, int | None] = {}

    def lookup(self, tx_hashes: list[str]) -> None:
        todo = sorted(set(tx_hashes) - self._blocks.keys())
        if not todo:
            return
        # Raw batch: a missing receipt is a null result here, not an exception for the lot.
        answers = self.w3.provider.make_batch_request(
            [("eth_getTransactionReceipt", [h]) for h in todo])
        for h, a in zip(todo, sorted(answers, key=lambda a: a["id"]), strict=True):
            receipt = a.get("result")
            self._blocks[h] = int(receipt["blockNumber"], 16) if receipt else None

    def block_of(self, tx_hash: str) -> int | None:
        self.lookup([tx_hash])
        return self._blocks[tx_hash]


def chain_view(settings: Settings) -> ChainView:
    url = settings.effective_rpc_url
    try:  # the head is the first call: no separate reachability probe
        return ChainView(Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 2.0})))
    except Exception as e:  # requests raises a zoo of connection errors
        raise unreachable(url, e) from None
