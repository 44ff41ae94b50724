"""An RPC endpoint that answers with JSON of the wrong type (a number where the node gives a
hex string, an object where it gives a list): the gate and `laas verify` end with the one line
and exit 2, never an "unexpected TypeError". A lying proxy in front of a real anvil."""

from __future__ import annotations

import json
from typing import Any

import pytest

from laas.anchors.adapters.artifacts import read_manifest
from laas.datasets.make_sample import rows
from tests.conftest import Workspace
from tests.l2proxy import L2Proxy


class LyingProxy(L2Proxy):
    """Forwards to anvil, but answers `method` with `lie` in place of its result."""

    method, lie = "", None

    def answer(self, call: Any) -> dict[str, Any]:
        reply = super().answer(call)
        if isinstance(call, dict) and call.get("method") == self.method and "result" in reply:
            reply = {**reply, "result": self.lie}
        return reply


@pytest.fixture(scope="module")
def ws(workspace: Workspace) -> Workspace:
    data = ("\n".join(json.dumps(r) for r in rows(700, 20, seed=700)) + "\n").encode()
    workspace.add_dataset("lies", {"a.jsonl": data})
    r = workspace.laas("run", "lies", "--run", "r1", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    workspace.summary = json.loads(r.stdout)
    return workspace


@pytest.fixture(scope="module")
def proxy(ws: Workspace):
    p = LyingProxy(f"http://127.0.0.1:{ws.port}").start()
    yield p
    p.stop()


LIES = [("eth_blockNumber", 5), ("eth_blockNumber", None), ("eth_call", 12),
        ("eth_call", {"data": "0x"}), ("eth_call", "0xzz"), ("eth_getLogs", {"logs": []}),
        ("eth_getLogs", [5]), ("eth_getLogs", [{"topics": 3}]), ("eth_getCode", 7),
        ("eth_chainId", [1]), ("eth_getBlockByNumber", {"number": 7}),
        ("eth_getBlockByNumber", {"timestamp": "x"}), ("eth_getTransactionReceipt", [1])]


@pytest.mark.parametrize(("method", "lie"), LIES, ids=[f"{m}-{json.dumps(v)}" for m, v in LIES])
def test_an_answer_of_the_wrong_type_is_one_line_and_exit_2(ws, proxy, method, lie) -> None:
    registry = json.loads((ws.root / ".laas" / "chain" / "registry.json").read_text())
    env = {**ws.env, "LAAS_RPC_URL": proxy.url, "LAAS_REGISTRY_ADDRESS": registry["address"],
           "COLUMNS": "300"}
    proxy.method, proxy.lie = method, lie
    validated = next(c for c in ws.summary["checkpoints"] if c["stage"] == "validated")
    shard = read_manifest(validated["manifest_uri"]).accepted[0].uri
    try:
        for args in (("gate", "lies", "--run", "r1"), ("verify", shard), ("lineage", shard)):
            r = ws.laas(*args, env=env)
            text = r.stdout + r.stderr
            assert "unexpected" not in text and "Traceback" not in text, (args, text)
            if r.returncode == 2:
                assert len(r.stderr.strip().splitlines()) == 1, (args, text)
    finally:
        proxy.method = ""


class TwiceProxy(L2Proxy):
    """Forwards to anvil, but answers eth_getLogs with every log twice, and one from a block
    outside the range asked (providers have served both: overlapping shards of an index)."""

    def answer(self, call: Any) -> dict[str, Any]:
        reply = super().answer(call)
        if isinstance(call, dict) and call.get("method") == "eth_getLogs" \
                and isinstance(reply.get("result"), list) and reply["result"]:
            logs = reply["result"]
            stray = {**logs[0], "blockNumber": hex(int(call["params"][0]["toBlock"], 16) + 1)}
            reply = {**reply, "result": logs + logs + [stray]}
        return reply


def test_logs_an_endpoint_serves_twice_are_one_checkpoint(ws) -> None:
    """`laas versions` listed a run once per copy of its log, and `laas index rebuild` counted
    each copy: a log is one (transaction, index), in the block range asked."""
    registry = json.loads((ws.root / ".laas" / "chain" / "registry.json").read_text())
    proxy = TwiceProxy(f"http://127.0.0.1:{ws.port}").start()
    env = {**ws.env, "LAAS_RPC_URL": proxy.url, "LAAS_REGISTRY_ADDRESS": registry["address"],
           "LAAS_HOME": str(ws.root / "other-home")}  # an index of its own, rebuilt
    try:
        r = ws.laas("versions", "lies", "--json", env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        assert [v["run"] for v in json.loads(r.stdout)] == ["r1"], r.stdout
        r = ws.laas("index", "rebuild", "--full", env=env)
        assert r.returncode == 0 and "indexed 3 checkpoints" in r.stdout, r.stdout + r.stderr
        assert ws.laas("gate", "lies", env=env).returncode == 0
    finally:
        proxy.stop()
