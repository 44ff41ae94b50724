"""Faults injected for real against a chain laas does not own (LAAS_RPC_URL, a deployed
registry, a private key): the node stops before and during a run, a process is killed while
its transaction waits in the mempool, a reorganisation drops checkpoints, four processes commit
from one key at once. Each ends with every checkpoint on chain exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from web3 import Web3

from laas.anchors.adapters.artifacts import ArtifactStore
from laas.anchors.adapters.localchain import LocalChain
from laas.anchors.core.canonical import name_id, to_hex
from laas.anchors.core.models import ShardEntry, StageManifest, stage_root
from tests.conftest import LAAS, SAMPLE, Workspace, free_port, module_home

# anvil's first dev account: a public test key, the registry's admin and committer here
KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ACCOUNT = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


class Remote(Workspace):
    """A workspace whose chain is someone else's node: laas neither starts nor stops it."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        from eth_account import Account

        from laas.anchors.adapters.registry import Registry
        from laas.anchors.adapters.wallet import Sender

        self.node = LocalChain(root / "node", free_port())
        self.node.up()
        self.w3 = Web3(Web3.HTTPProvider(self.node.url))
        # Deployed as `laas chain deploy` does on a remote chain: the key is admin and committer.
        address, deploy_block = Registry.deploy(self.w3, Sender(account=Account.from_key(KEY)))
        self.env.update({
            "LAAS_RPC_URL": self.node.url, "LAAS_REGISTRY_ADDRESS": address,
            "LAAS_REGISTRY_DEPLOY_BLOCK": str(deploy_block), "LAAS_PRIVATE_KEY": KEY,
            "LAAS_ANCHOR_ATTEMPTS": "2", "LAAS_ANCHOR_BACKOFF": "0.5", "LAAS_TX_TIMEOUT": "60",
        })
        self.store = ArtifactStore(str(root / ".laas" / "artifacts"))

    def keep(self, m: StageManifest, key: str = KEY) -> None:
        """Leave a manifest in the store as an earlier laas process of that key would: written
        and attested (unattested ones are plants, and are refused)."""
        from eth_account import Account

        from laas.anchors.adapters.attest import attest

        self.store.write_manifest(m)
        self.store.write_attestation(m, attest(Account.from_key(key), m.manifest_hash))

    def rpc(self, method: str, *params: object) -> object:
        return self.w3.provider.make_request(method, list(params))["result"]

    def nonce(self) -> int:
        return self.w3.eth.get_transaction_count(ACCOUNT)

    def events(self, run: str) -> list[str]:
        from laas.anchors.adapters.registry import load_artifact

        c = self.w3.eth.contract(address=self.env["LAAS_REGISTRY_ADDRESS"],
                                 abi=load_artifact()["abi"])
        logs = c.events.CheckpointCommitted().get_logs(
            from_block=0, argument_filters={"runId": bytes.fromhex(name_id(run)[2:])})
        return [log["args"]["stage"] for log in logs]

    def close(self) -> None:
        self.node.down()


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    yield from module_home(Remote, tmp_path_factory, "remote")


def small_manifest(dataset: str, run: str, stage: str = "raw",
                   parents: tuple[str, ...] = ()) -> StageManifest:
    shards = tuple(ShardEntry(key=f"s{i}", uri=f"/d/s{i}", source_uri=f"/d/s{i}", byte_size=i,
                              rows=i, content_hash=to_hex(bytes([i + 1]) * 32)) for i in range(3))
    return StageManifest(dataset=dataset, dataset_id=name_id(dataset), run=run,
                         run_id=name_id(run), stage=stage, hash_scheme="laas-bytes-v1",
                         parents=parents, shards=shards, shards_root=stage_root(shards),
                         passed=True, created_at=datetime.now(UTC))


def wait_for(predicate, timeout: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def test_a_chain_down_for_a_whole_run_leaves_it_pending_and_resume_commits_it_once(
        remote: Remote) -> None:
    remote.node.down()
    r = remote.laas("run", "instruct-sample", "--run", "r-down")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "pending anchor" in r.stdout and "laas anchor --resume" in r.stdout
    kept = remote.store.manifests("instruct-sample", "r-down")
    assert [u.split("/")[-2] for u in kept] == ["normalized", "raw", "validated"]

    still_down = remote.laas("anchor", "--resume", "--all")
    assert still_down.returncode == 3 and "unreachable" in still_down.stderr
    assert remote.store.manifests("instruct-sample", "r-down") == kept  # nothing lost

    remote.node.up()
    before = remote.nonce()
    snapshot = remote.rpc("evm_snapshot")
    r = remote.laas("anchor", "--resume", "--all", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert [(d["stage"], d["action"]) for d in json.loads(r.stdout)] == [
        ("raw", "committed"), ("normalized", "committed"), ("validated", "committed")]
    assert remote.nonce() - before == 3
    again = remote.laas("anchor", "--resume", "--all", "--json")
    assert {d["action"] for d in json.loads(again.stdout)} == {"on chain"}
    assert remote.nonce() - before == 3  # nothing committed twice
    assert remote.laas("gate", "instruct-sample", "--run", "r-down").returncode == 0

    # A reorganisation takes the three checkpoints away again.
    assert remote.rpc("evm_revert", snapshot) is True
    shard = str(SAMPLE / "instruct-sample" / "part-00000.jsonl")
    lineage = json.loads(remote.laas("lineage", shard, "--run", "r-down", "--json").stdout)
    assert {s["confirmed"] for s in lineage["stages"]} == {False}
    assert {s["confirmations"] for s in lineage["stages"]} == {0}
    assert "UNCONFIRMED" in remote.laas("lineage", shard, "--run", "r-down").stdout
    denied = remote.laas("gate", "instruct-sample", "--run", "r-down")
    assert denied.returncode == 1 and "no validated checkpoint" in denied.stdout

    r = remote.laas("anchor", "--resume", "instruct-sample", "--run", "r-down", "--json")
    assert [d["action"] for d in json.loads(r.stdout)] == ["committed"] * 3
    assert remote.events("r-down") == ["raw", "normalized", "validated"]
    lineage = json.loads(remote.laas("lineage", shard, "--run", "r-down", "--json").stdout)
    assert {s["confirmed"] for s in lineage["stages"]} == {True}
    assert remote.laas("gate", "instruct-sample", "--run", "r-down").returncode == 0


def test_a_chain_that_dies_mid_run_leaves_the_later_stages_pending(remote: Remote) -> None:
    remote.node.up()
    proc = subprocess.Popen([LAAS, "run", "instruct-sample", "--run", "r-mid"], cwd=remote.root,
                            env=remote.env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:  # pull the plug as soon as the raw checkpoint lands
        wait_for(lambda: remote.events("r-mid")[:1] == ["raw"], 300, "the raw checkpoint")
        remote.node.down()
        out, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    # A format-1 registry takes a run's stages one transaction each, at the end of the run,
    # back to back: the plug may be pulled after one, two or (rarely) all three landed.
    assert proc.returncode in (0, 3), out + err
    remote.node.up()
    landed = remote.events("r-mid")
    assert landed[:1] == ["raw"]
    pending = [s for s in ("raw", "normalized", "validated") if s not in landed]
    assert proc.returncode == (3 if pending else 0), out + err
    if pending:  # a stage whose receipt the dying node never gave is reported pending too
        reported = out.split("pending anchor: ", 1)[1].split(" computed")[0].split(", ")
        assert set(pending) <= set(reported), out
    r = remote.laas("anchor", "--resume", "instruct-sample", "--run", "r-mid", "--json")
    assert [(d["stage"], d["action"]) for d in json.loads(r.stdout)] == [
        (s, "on chain" if s in landed else "committed")
        for s in ("raw", "normalized", "validated")]
    assert remote.events("r-mid") == ["raw", "normalized", "validated"]
    assert remote.laas("gate", "instruct-sample", "--run", "r-mid").returncode == 0


def test_a_process_killed_while_its_transaction_waits_is_resumed_from_that_transaction(
        remote: Remote) -> None:
    remote.node.up()
    raw = small_manifest("killed", "r1")
    for m in (raw, small_manifest("killed", "r1", "normalized", (raw.checkpoint_id,))):
        remote.keep(m)
    before = remote.nonce()
    remote.rpc("evm_setAutomine", False)  # transactions now wait in the mempool
    try:
        first = subprocess.Popen([LAAS, "anchor", "--resume", "killed", "--all"],
                                 cwd=remote.root,
                                 env=remote.env, start_new_session=True,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: remote.store.sent(raw), 60, "the raw commit to be sent")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
        assert remote.events("r1") == []  # sent, not mined, its sender gone

        log = remote.root / "second.log"
        with log.open("w") as err:
            second = subprocess.Popen([LAAS, "anchor", "--resume", "killed", "--all", "--json"],
                                      cwd=remote.root, env=remote.env, text=True,
                                      stdout=subprocess.PIPE, stderr=err)
        wait_for(lambda: "sent earlier" in log.read_text(), 60, "the resume to find the note")
        time.sleep(1)  # it waits for that transaction and sends nothing of its own
        pool = remote.rpc("txpool_status")
        assert int(pool["pending"], 16) == 1, pool
    finally:
        remote.rpc("evm_setAutomine", True)
        remote.rpc("evm_mine")
    out, _ = second.communicate(timeout=120)
    assert second.returncode == 0, out + log.read_text()
    assert [(d["stage"], d["action"]) for d in json.loads(out)] == [
        ("raw", "committed"), ("normalized", "committed")]
    assert remote.events("r1") == ["raw", "normalized"]
    assert remote.nonce() - before == 2
    assert remote.store.sent(raw) == []  # the note goes once the checkpoint is on chain


def test_four_processes_committing_from_one_key_lose_no_transaction(remote: Remote) -> None:
    remote.node.up()
    for p in range(4):
        for r in range(10):
            remote.keep(small_manifest(f"conc{p}", f"c{r}"))
    before = remote.nonce()
    procs = [subprocess.Popen([LAAS, "anchor", "--resume", f"conc{p}", "--all", "--json"],
                              cwd=remote.root, env=remote.env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for p in range(4)]
    results = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, out + err
        assert [d["action"] for d in json.loads(out)] == ["committed"] * 10
    assert remote.nonce() - before == 40  # 40 transactions, none dropped or replaced
    assert [remote.events(f"c{r}") for r in range(10)] == [["raw"] * 4] * 10


def test_backoff_doubles_its_delay_and_gives_up_pending() -> None:
    from laas.anchors.services.anchoring import with_backoff
    from laas.errors import AnchorPending, AnchorTimeout

    slept: list[float] = []
    calls = iter([AnchorTimeout("down"), AnchorTimeout("down"), "ok"])

    def flaky() -> str:
        v = next(calls)
        if isinstance(v, Exception):
            raise v
        return v

    assert with_backoff(flaky, attempts=3, first_delay=0.5, what="x", sleep=slept.append) == "ok"
    assert slept == [0.5, 1.0]
    with pytest.raises(AnchorPending, match="x: pending anchor after 2 attempts"):
        with_backoff(lambda: (_ for _ in ()).throw(AnchorTimeout("down")), attempts=2,
                     first_delay=1, what="x", sleep=slept.append)


def test_a_transaction_left_unmined_is_replaced_with_higher_fees_within_bounds(
        remote: Remote) -> None:
    from eth_account.typed_transactions import TypedTransaction
    from hexbytes import HexBytes

    remote.node.up()
    m = small_manifest("bumped", "b1")
    remote.keep(m)
    env = {**remote.env, "LAAS_FEE_BUMP_AFTER": "1", "LAAS_FEE_BUMPS": "2"}
    remote.rpc("evm_setAutomine", False)  # nothing is mined: as stuck as a fee can get
    try:
        proc = subprocess.Popen([LAAS, "anchor", "--resume", "bumped", "--all", "--json"],
                                cwd=remote.root, env=env, text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        wait_for(lambda: len(remote.store.sent(m)) == 3, 60, "two fee bumps")
        time.sleep(2.5)  # two bumps allowed: no third
        sent = remote.store.sent(m)
        assert len(sent) == 3
        assert int(remote.rpc("txpool_status")["pending"], 16) == 1  # replaced, not added
    finally:
        remote.rpc("evm_setAutomine", True)
        remote.rpc("evm_mine")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    fees = [TypedTransaction.from_bytes(HexBytes(raw)).as_dict()["maxFeePerGas"]
            for _, raw in sent]
    assert fees[1] == -(-fees[0] * 5 // 4) and fees[2] == -(-fees[1] * 5 // 4)
    mined = json.loads(out)[0]["checkpoint"]["tx_hash"]
    assert mined == sent[-1][0]  # the highest bid is the one on chain
    assert remote.events("b1") == ["raw"] and remote.store.sent(m) == []


def test_fee_bumps_respect_the_cap() -> None:
    from laas.anchors.adapters.wallet import bumped

    tx = {"maxFeePerGas": 100, "maxPriorityFeePerGas": 8, "nonce": 7}
    assert bumped(tx, None) == {"maxFeePerGas": 125, "maxPriorityFeePerGas": 10, "nonce": 7}
    assert bumped(tx, 115) == {"maxFeePerGas": 115, "maxPriorityFeePerGas": 10, "nonce": 7}
    assert bumped(tx, 105) is None  # under the 10% a node needs to replace it: do not try
    assert bumped({"gasPrice": 10}, None) == {"gasPrice": 13}


def test_only_committers_commit_and_the_admin_grants_and_revokes_through_the_cli(
        remote: Remote) -> None:
    """Several anvil accounts: an outsider is refused, granted, then revoked and refused."""
    remote.node.up()
    outsider_key = "0x59c6995e998f97a5a0044966f0d4d6a4c87cd5b4b0dc5e1bb6b52e6d6e4d8c3b"
    from eth_account import Account

    outsider = Account.from_key(outsider_key).address
    remote.rpc("anvil_setBalance", outsider, hex(10**18))  # gas money, not a role
    as_outsider = {**remote.env, "LAAS_PRIVATE_KEY": outsider_key}
    for run in ("o1", "o2", "o3"):
        remote.keep(small_manifest("roles", run), outsider_key)  # the outsider's own runs

    refused = remote.laas("anchor", "--resume", "roles", "--run", "o1", env=as_outsider)
    assert refused.returncode == 2 and "AccessControlUnauthorizedAccount" in refused.stdout
    assert outsider_key[2:] not in refused.stdout + refused.stderr

    not_admin = remote.laas("chain", "grant", outsider, env=as_outsider)
    assert not_admin.returncode == 2 and "reverted" in not_admin.stderr

    granted = remote.laas("chain", "grant", outsider)
    assert granted.returncode == 0 and "has the committer role" in granted.stdout
    ok = remote.laas("anchor", "--resume", "roles", "--run", "o2", "--json", env=as_outsider)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert json.loads(ok.stdout)[0]["checkpoint"]["committer"] == outsider

    revoked = remote.laas("chain", "revoke", outsider)
    assert revoked.returncode == 0 and "lacks the committer role" in revoked.stdout
    again = remote.laas("anchor", "--resume", "roles", "--run", "o3", env=as_outsider)
    assert again.returncode == 2 and "AccessControlUnauthorizedAccount" in again.stdout
    assert remote.events("o1") == [] and remote.events("o3") == []
