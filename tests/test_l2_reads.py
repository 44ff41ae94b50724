"""Reads that do not grow with history (registry format 2): behind a provider that caps
eth_getLogs at 500 blocks (tests/l2proxy.py), with 100 and then 500 earlier runs of the
dataset and thousands of blocks between, `laas gate`, `gate --run`, `lineage` and `verify`
answer without a key in the same, small number of RPC calls (counted by the proxy)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SAMPLE, Workspace, free_port, module_home
from tests.l2proxy import HYPERION_CHAIN_ID, L2Node, L2Proxy
from tests.test_contract_v2 import run_stages

pytestmark = [pytest.mark.chain, pytest.mark.prefect, pytest.mark.dask]

KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # anvil's first
DATASET = "history"
LOG_RANGE = 500
COMMANDS = {"gate": ("gate", DATASET), "gate --run": ("gate", DATASET, "--run", "{run}"),
            "lineage": ("lineage", "{shard}"), "verify": ("verify", "{shard}")}


class History(Workspace):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        from laas.anchors.adapters.registry import connect
        from laas.anchors.adapters.registry_v2 import RegistryV2
        from laas.anchors.adapters.wallet import Sender

        self.node = L2Node(free_port(), root / "anvil.log", block_time=None)  # automine
        w3 = connect(self.node.url)
        dev = Sender(unlocked=w3.eth.accounts[0])  # KEY's account: admin and committer
        address, block = RegistryV2.deploy(w3, dev)
        self.registry = RegistryV2(w3, address, dev, deploy_block=block)
        self.proxy = L2Proxy(self.node.url, log_range=LOG_RANGE).start()
        self.env.update({"LAAS_RPC_URL": self.proxy.url,
                         "LAAS_CHAIN_ID": str(HYPERION_CHAIN_ID),
                         "LAAS_REGISTRY_ADDRESS": address,
                         "LAAS_REGISTRY_DEPLOY_BLOCK": str(block)})
        self.committer = {**self.env, "LAAS_PRIVATE_KEY": KEY}
        self.add_dataset(DATASET, {
            "a.jsonl": (SAMPLE / "instruct-sample" / "part-00000.jsonl").read_bytes()})
        self.earlier = 0

    def grow(self, runs: int, blocks: int) -> None:
        """More earlier runs of the dataset, then blocks. Each run is its own commitRun
        transaction, sent straight to the node without waiting for the one before (the node
        mines each as it comes); then every receipt must say it succeeded."""
        account = self.registry.w3.eth.accounts[0]
        sent = [self.registry.run_call(run_stages(DATASET, f"old-{i}"))[0]
                .transact({"from": account, "gas": 2_000_000})
                for i in range(self.earlier, self.earlier + runs)]
        receipts = [self.registry.w3.eth.wait_for_transaction_receipt(h, timeout=60)
                    for h in sent]
        assert all(r["status"] == 1 for r in receipts)
        self.earlier += runs
        self.node.mine(blocks)

    def calls(self, run: str) -> dict[str, int]:
        r = self.laas("run", DATASET, "--run", run, env=self.committer)
        assert r.returncode == 0, r.stdout + r.stderr
        shard = next((self.root / ".laas" / "artifacts" / DATASET / run / "normalized")
                     .glob("*.parquet"))
        out = {}
        for name, args in COMMANDS.items():
            self.proxy.reset()
            done = self.laas(*(a.format(run=run, shard=shard) for a in args))
            assert done.returncode == 0, (name, done.stdout + done.stderr)
            out[name] = self.proxy.stats()["total"]
            assert self.proxy.calls["eth_getLogs"] <= 2, (name, self.proxy.calls)
        return out

    def close(self) -> None:
        self.proxy.stop()
        self.node.stop()


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    yield from module_home(History, tmp_path_factory, "history")


def test_gate_lineage_and_verify_cost_the_same_calls_with_five_times_the_history(
        history: History) -> None:
    history.grow(100, 3 * LOG_RANGE)
    before = history.calls("r-100")
    history.grow(400, 6 * LOG_RANGE)
    after = history.calls("r-500")
    print(f"\nRPC calls with 100 earlier runs: {before}; with 500: {after}")
    assert history.earlier == 500
    assert after == before, (before, after)
    assert max(after.values()) <= 30
