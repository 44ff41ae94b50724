"""The embedded chain over a long history: anvil keeps the current state, every block, receipt
and log, and nothing else, so 5,000 empty blocks leave its state file, its memory and its
scratch folder (~/.foundry/anvil/tmp, where it spills old block states) small; checkpoints
survive a kill -9 and `laas chain down` / `up`.

5,000 blocks, not more: anvil's mining slows with the chain's length (20,000 took 143 s), and
5,000 already tell the two apart. With the old flags (`--preserve-historical-states`) they left
a 1.6 GB state file, 1.7 GB in ~/.foundry and 3 GB of RSS; a header is ~1.6 kB."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import requests
from web3.exceptions import ContractCustomError

from laas.anchors.adapters.localchain import STATE_INTERVAL, LocalChain
from tests.conftest import Workspace
from tests.test_faults import small_manifest

pytestmark = pytest.mark.chain  # starts its own anvil without a fixture

BLOCKS = 5_000
HEADER = 2_400  # bytes a block may add to the state file: ~1.6 kB of header, with room
MB = 1 << 20


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def rss(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) * 1024


def test_five_thousand_empty_blocks_stay_small_and_keep_the_checkpoints(
        tmp_path: Path) -> None:
    from laas.anchors.adapters.registry import Registry, connect
    from laas.anchors.adapters.wallet import Sender

    ws = Workspace(tmp_path / "ws")
    home = tmp_path / "home"  # anvil's HOME: its ~/.foundry is this test's to measure
    env = {**ws.env, "HOME": str(home)}
    chain = LocalChain(ws.root / ".laas", ws.port)
    try:
        assert ws.laas("chain", "up", env=env).returncode == 0
        # A format-1 registry: one event per checkpoint, found again from its own block.
        w3 = connect(chain.url)
        dev = Sender(unlocked=w3.eth.accounts[0])
        address, deployed = Registry.deploy(w3, dev)
        cp = Registry(w3, address, dev).commit(small_manifest("long", "r1"), "file:///m")

        def rpc(method: str, *params: object) -> object:
            return requests.post(chain.url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                                  "params": list(params)}, timeout=120).json()

        start = time.monotonic()
        for _ in range(BLOCKS // 1000):
            rpc("anvil_mine", hex(1000))
        head = int(rpc("eth_blockNumber")["result"], 16)
        print(f"\nmined {BLOCKS} empty blocks in {time.monotonic() - start:.0f}s")
        time.sleep(STATE_INTERVAL + 1.5)  # the state file has been written since
        sizes = {"state file": chain.state_file.stat().st_size, "anvil RSS": rss(chain.pid()),
                 "~/.foundry": folder_size(home / ".foundry")}
        print({k: f"{v / MB:.1f} MB" for k, v in sizes.items()})
        # ~1.6 kB per empty block header is what anvil stores; no block's state is kept
        assert sizes["state file"] < BLOCKS * HEADER + MB
        assert sizes["anvil RSS"] < 500 * MB
        assert sizes["~/.foundry"] < 5 * MB

        os.kill(chain.pid(), signal.SIGKILL)  # no chance to write its state: the last dump
        assert ws.laas("chain", "up", env=env).returncode == 0
        assert int(rpc("eth_blockNumber")["result"], 16) >= head  # lost nothing mined before
        assert ws.laas("chain", "down", env=env).returncode == 0
        assert ws.laas("chain", "up", env=env).returncode == 0

        w3 = connect(chain.url)
        reader = Registry(w3, address, None, deploy_block=deployed)
        again = reader.get(cp.checkpoint_id)  # its event, from its block, after the restarts
        assert again is not None and again.tx_hash == cp.tx_hash
        assert [c.checkpoint_id for c in reader.checkpoints()] == [cp.checkpoint_id]

        # A mined, failed transaction's reason is replayed at its block; this node keeps no
        # state that old, so the replay runs on the latest state instead of failing.
        writer = Registry(w3, address, Sender(unlocked=w3.eth.accounts[0]))
        again = writer._commit_call(small_manifest("long", "r1"), "file:///m")
        with pytest.raises(ContractCustomError):  # CheckpointExists, not BlockOutOfRange
            writer.sender._raise_revert(again, 5)
    finally:
        chain.down()
