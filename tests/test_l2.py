"""laas against a chain that behaves like a hosted L2 provider (tests/l2proxy.py in front of an
anvil started like Hyperion), with a history ten times longer than the provider's eth_getLogs
range: the pipeline, the consumers (no key), the index rebuild and the resume all work through
it, a 429 storm hands over to a fallback URL, and no message shows the secret part of a URL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from web3.exceptions import Web3RPCError

from laas.anchors.adapters.logpages import LogPager
from laas.anchors.services.lineage import REORG_MARGIN
from tests.conftest import SAMPLE, Workspace, free_port, module_home
from tests.l2proxy import HYPERION_CHAIN_ID, L2Node, L2Proxy

# anvil's first dev account: a public test key, deployer and committer of the registry here
KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
HISTORY = 5000  # empty blocks between the registry's deployment and the first run
LOG_RANGE = 500  # the provider's eth_getLogs cap: the history is ten of these
SECRETS = ("s3cr3t", "PROVIDERKEY")
DATASET = "l2set"
RUN = "r-l2"


class L2(Workspace):
    """A workspace whose chain is an L2 provider: LAAS_RPC_URL is the proxy, with basic auth
    and a key in the path, as providers hand them out."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        from eth_account import Account

        from laas.anchors.adapters.registry import Registry, connect
        from laas.anchors.adapters.wallet import Sender

        self.node = L2Node(free_port(), root / "anvil.log")
        w3 = connect(self.node.url)
        self.address, self.deploy_block = Registry.deploy(w3, Sender(Account.from_key(KEY)))
        self.node.mine(HISTORY)
        self.proxy = L2Proxy(self.node.url, log_range=LOG_RANGE, rate=20, burst=10,
                             latency=(0.1, 0.3), safe_lag=10, finalized_lag=100).start()
        self.fallback = L2Proxy(self.node.url, log_range=LOG_RANGE).start()
        self.env.update({
            "LAAS_RPC_URL": self.proxy.secret_url("laas", "s3cr3t", "PROVIDERKEY1"),
            "LAAS_CHAIN_ID": str(HYPERION_CHAIN_ID),
            "LAAS_REGISTRY_ADDRESS": self.address,
            "LAAS_REGISTRY_DEPLOY_BLOCK": str(self.deploy_block),
            "LAAS_ANCHOR_ATTEMPTS": "2", "LAAS_ANCHOR_BACKOFF": "0.5", "LAAS_TX_TIMEOUT": "60",
        })
        # The committing commands get the key; consumers must work without one.
        self.committer = {**self.env, "LAAS_PRIVATE_KEY": KEY}
        self.add_dataset(DATASET, {
            "a.jsonl": (SAMPLE / "instruct-sample" / "part-00000.jsonl").read_bytes(),
            "b.jsonl": (SAMPLE / "instruct-sample" / "part-00002.jsonl").read_bytes(),
        })

    def shards(self, run: str) -> list[str]:
        return sorted(str(p) for p in (self.root / ".laas" / "artifacts" / DATASET / run
                                       / "normalized").glob("*.parquet"))

    def close(self) -> None:
        self.proxy.stop()
        self.fallback.stop()
        self.node.stop()


@pytest.fixture(scope="module")
def l2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[L2]:
    yield from module_home(L2, tmp_path_factory, "l2")


def shows_no_secret(r) -> str:  # noqa: ANN001 - a CompletedProcess
    text = r.stdout + r.stderr
    assert not any(s in text for s in SECRETS), text
    return text


def counted(proxy: L2Proxy, what: str) -> dict:
    stats = proxy.stats()
    print(f"\n{what} through the provider: {stats['total']} calls {stats['calls']}, "
          f"refused {stats['refused']}, HTTP 429 {stats['http_429']}")
    return stats


def test_a_run_through_the_provider_commits_and_every_consumer_reads_it_without_a_key(
        l2: L2) -> None:
    assert l2.node.head() - l2.deploy_block >= HISTORY
    run = l2.laas("run", DATASET, "--run", RUN, env=l2.committer)
    assert run.returncode == 0, run.stdout + run.stderr
    shows_no_secret(run)
    assert "validated stage passed" in run.stdout

    l2.proxy.reset()
    gate = l2.laas("gate", DATASET, "--run", RUN)
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert gate.stdout.startswith("ALLOW"), gate.stdout
    shows_no_secret(gate)
    stats = counted(l2.proxy, "laas gate")
    # The registry's history is ten log ranges long, but a run named by --run is found by
    # its checkpoint ids: each stage's event is read from the one block it landed in (this
    # registry is format 1; the paged scans are the index rebuild's, below).
    assert stats["calls"]["eth_getLogs"] <= 4 and not stats["refused"].get("eth_getLogs")

    l2.proxy.reset()
    shard = l2.shards(RUN)[0]
    lineage = l2.laas("lineage", shard, "--json")
    assert lineage.returncode == 0, lineage.stdout + lineage.stderr
    stages = json.loads(lineage.stdout)["stages"]
    assert [s["stage"] for s in stages] == ["raw", "normalized", "validated"]
    assert all(s["confirmed"] and s["confirmations"] >= 1 for s in stages), stages
    counted(l2.proxy, "laas lineage")

    l2.proxy.reset()
    verify = l2.laas("verify", shard)
    assert verify.returncode == 0 and "PROVEN" in verify.stdout, verify.stdout + verify.stderr
    shows_no_secret(verify)
    counted(l2.proxy, "laas verify")


# What a consumer's command must never load: the signing stack (web3 costs ~1.3 s to import
# here, eth_account ~1 s) and the pipeline's engines; nor what only slowed its start (each
# 20-60 ms of a gate that must answer in under 0.5 s, bench/cli_latency.py): pydantic-settings,
# cffi's C parser (pycryptodome's ctypes binding does), pyarrow.compute (the table hash reads
# Arrow's buffers). laas.cli's `main` is run in a process that reports, as it exits, which of
# them it imported (a package or a module by its full name).
HEAVY = ("web3", "eth_account", "eth_abi", "prefect", "dask", "distributed",
         "great_expectations", "pandas", "pydantic_settings", "pycparser", "pyarrow.compute")
_REPORT = ("import atexit, sys; heavy = set(sys.argv.pop(1).split(',')); "
           "atexit.register(lambda: print('LOADED', sorted({p for m in sys.modules for p in "
           "(m, m.split('.')[0])} & heavy), file=sys.stderr)); "
           "from laas.cli import main; sys.argv[0] = 'laas'; main()")


def test_gate_lineage_and_verify_load_no_signing_library_and_no_engine(l2: L2) -> None:
    import subprocess
    import sys

    shard = l2.shards(RUN)[0]
    # the gate reads no index (SQLAlchemy) and its local store without fsspec; without
    # re-hashing, no Parquet (pyarrow, numpy); lineage reads the index's SQLite file with the
    # standard library (no SQLAlchemy) and the chain
    for args, also in ((("gate", DATASET, "--run", RUN), ("sqlalchemy", "fsspec")),
                       (("gate", DATASET, "--mode", "proof"),
                        ("sqlalchemy", "fsspec", "pyarrow", "numpy")),
                       (("lineage", shard), ("fsspec", "sqlalchemy")),
                       (("verify", shard), ())):
        r = subprocess.run([sys.executable, "-c", _REPORT, ",".join(HEAVY + also), *args],
                           cwd=l2.root, env=l2.env, text=True, capture_output=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "LOADED []" in r.stderr, (args, r.stderr)


def test_the_index_rebuilds_through_the_provider_and_a_second_rebuild_resumes(
        l2: L2) -> None:
    shard = l2.shards(RUN)[0]
    before = json.loads(l2.laas("lineage", shard, "--json").stdout)
    (l2.root / ".laas" / "index.db").unlink()
    assert l2.laas("lineage", shard).returncode == 2  # the cache is gone

    l2.proxy.reset()
    rebuilt = l2.laas("index", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert "indexed 3 checkpoints" in rebuilt.stdout, rebuilt.stdout
    first = counted(l2.proxy, "laas index rebuild")["calls"]["eth_getLogs"]
    after = json.loads(l2.laas("lineage", shard, "--json").stdout)
    for s in before["stages"] + after["stages"]:
        s.pop("confirmations")  # the chain moved on meanwhile (a block a second)
    assert after == before

    l2.proxy.reset()
    again = l2.laas("index", "rebuild")
    assert again.returncode == 0, again.stdout + again.stderr
    start = int(re.search(r"blocks (\d+)\.\.", again.stdout).group(1))
    through = int(re.search(r"blocks \d+\.\.(\d+)", rebuilt.stdout).group(1))
    # went on from where the first one stopped (less the margin a shallow reorg could move)
    assert through > l2.deploy_block + HISTORY
    assert start == max(l2.deploy_block, through + 1 - REORG_MARGIN)
    assert counted(l2.proxy, "resumed rebuild")["calls"]["eth_getLogs"] < first
    full = l2.laas("index", "rebuild", "--full")
    assert f"blocks {l2.deploy_block}.." in full.stdout and "indexed 3" in full.stdout


def test_a_run_left_pending_by_a_429_storm_is_resumed_through_the_provider(l2: L2) -> None:
    l2.proxy.storm(3600, retry_after=1)  # every request answered 429, and no fallback
    try:
        env = {**l2.committer, "LAAS_RPC_BUDGET": "4", "LAAS_ANCHOR_ATTEMPTS": "1"}
        r = l2.laas("run", DATASET, "--run", "r-storm", env=env)
        assert r.returncode == 3, r.stdout + r.stderr
        assert "pending anchor" in r.stdout
        shows_no_secret(r)
        assert l2.proxy.http_429 > 0
    finally:
        l2.proxy.storm(0)
    resumed = l2.laas("anchor", "--resume", DATASET, "--run", "r-storm", "--json",
                      env=l2.committer)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert [(d["stage"], d["action"]) for d in json.loads(resumed.stdout)] == [
        ("raw", "committed"), ("normalized", "committed"), ("validated", "committed")]
    assert l2.laas("gate", DATASET, "--run", "r-storm").returncode == 0


def test_a_short_429_storm_is_waited_out_as_its_retry_after_says(l2: L2) -> None:
    l2.proxy.reset()
    l2.proxy.storm(4, retry_after=1)  # longer than web3's own retries would last
    gate = l2.laas("gate", DATASET, "--run", RUN)
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert l2.proxy.http_429 >= 2


def test_under_a_429_storm_a_fallback_url_completes_the_run(l2: L2) -> None:
    l2.proxy.reset()
    l2.fallback.reset()
    env = {**l2.committer, "LAAS_RPC_FALLBACK_URLS":
           l2.fallback.secret_url("backup", "s3cr3t", "PROVIDERKEY2")}
    l2.proxy.storm(3600, retry_after=1)
    try:
        r = l2.laas("run", DATASET, "--run", "r-fallback", env=env)
        gate = l2.laas("gate", DATASET, "--run", "r-fallback", env=env)
    finally:
        l2.proxy.storm(0)
    assert r.returncode == 0, r.stdout + r.stderr
    assert gate.returncode == 0, gate.stdout + gate.stderr
    text = shows_no_secret(r) + shows_no_secret(gate)
    assert "RPC now served by http://127.0.0.1" in text  # said once, redacted
    assert l2.proxy.http_429 > 0 and l2.fallback.stats()["calls"].get("eth_sendRawTransaction")


def test_a_provider_answering_5xx_hands_over_to_the_fallback(l2: L2) -> None:
    l2.fallback.reset()
    env = {**l2.env, "LAAS_RPC_FALLBACK_URLS":
           l2.fallback.secret_url("backup", "s3cr3t", "PROVIDERKEY2")}
    l2.proxy.outage(3600, status=503)
    try:
        gate = l2.laas("gate", DATASET, "--run", RUN, env=env)
    finally:
        l2.proxy.outage(0)
    assert gate.returncode == 0, gate.stdout + gate.stderr
    shows_no_secret(gate)
    assert l2.proxy.http_5xx >= 1 and l2.fallback.stats()["calls"].get("eth_getLogs")


def test_every_endpoint_down_is_one_line_naming_them_without_secrets(l2: L2) -> None:
    dead = [f"https://u:s3cr3t@127.0.0.1:{free_port()}/v2/PROVIDERKEY{i}?apikey=x"
            for i in range(2)]
    env = {**l2.env, "LAAS_RPC_URL": dead[0], "LAAS_RPC_FALLBACK_URLS": dead[1],
           "LAAS_RPC_BUDGET": "5"}
    for args in (("gate", DATASET), ("index", "rebuild")):
        r = l2.laas(*args, env=env)
        text = shows_no_secret(r)
        assert r.returncode == 2, text
        assert "unreachable" in r.stderr and len(r.stderr.strip().splitlines()) == 1, text
        assert all(f"127.0.0.1:{u.split(':')[-1].split('/')[0]}" in r.stderr for u in dead)


def test_chain_status_finds_the_fallback_when_the_first_url_is_down(l2: L2) -> None:
    env = {**l2.env, "LAAS_RPC_URL": f"http://u:s3cr3t@127.0.0.1:{free_port()}/v2/PROVIDERKEY",
           "LAAS_RPC_FALLBACK_URLS": l2.fallback.secret_url("b", "s3cr3t", "PROVIDERKEY2")}
    r = l2.laas("chain", "status", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"chain {HYPERION_CHAIN_ID} up at http://127.0.0.1:{l2.fallback.port}/…" in r.stdout
    shows_no_secret(r)
    # with the committer's key, it is named from the key without loading a signing library
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", _REPORT, ",".join(HEAVY), "chain", "status"],
                       cwd=l2.root, env=l2.committer, text=True, capture_output=True,
                       timeout=120)
    assert r.returncode == 0 and "LOADED []" in r.stderr, r.stdout + r.stderr
    assert "committer 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266 (has the role)" in r.stdout


def test_a_url_that_is_not_http_is_refused_without_echoing_it(l2: L2) -> None:
    env = {**l2.env, "LAAS_RPC_FALLBACK_URLS": "wss://u:s3cr3t@host/v2/PROVIDERKEY"}
    r = l2.laas("gate", DATASET, env=env)
    assert r.returncode == 2 and "LAAS_RPC_FALLBACK_URLS" in r.stderr, r.stderr
    shows_no_secret(r)


def test_the_provider_rewrites_safe_and_finalized_and_answers_batches(l2: L2) -> None:
    def ask(body: object) -> object:
        return requests.post(l2.proxy.url, json=body, timeout=30).json()

    replies = ask([{"jsonrpc": "2.0", "id": i, "method": "eth_getBlockByNumber",
                    "params": [tag, False]} for i, tag in enumerate(("latest", "safe",
                                                                      "finalized"))])
    latest, safe, final = (int(r["result"]["number"], 16) for r in replies)
    assert latest - safe in (10, 11) and latest - final in (100, 101)  # a block may land
    genesis = ask({"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber",
                   "params": ["0x0", False]})["result"]
    fees = {int(b["baseFeePerGas"], 16) for b in (genesis, replies[0]["result"])}
    assert len(fees) == 2 and min(fees) > 0  # EIP-1559: a nonzero base fee that moves
    wide = ask({"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs",
                "params": [{"fromBlock": "earliest", "toBlock": "latest"}]})
    assert wide["error"]["message"].endswith(f"exceed maximum block range: {LOG_RANGE}")
    stats = requests.get(f"{l2.proxy.url}/stats", timeout=10).json()
    assert stats["calls"]["eth_getBlockByNumber"] >= 3


def test_the_pager_halves_on_refusal_grows_back_and_is_bounded() -> None:
    asked: list[tuple[int, int]] = []

    def fetch(lo: int, hi: int) -> list[int]:
        asked.append((lo, hi))
        if hi >= 4000 and lo <= 4100 and hi - lo + 1 > 20:  # busy blocks: too many results
            raise Web3RPCError("query returned more than 10000 results")
        if hi - lo + 1 > 300:
            raise Web3RPCError("block range is too large",
                               rpc_response={"error": {"code": -32602,
                                                       "message": "exceed maximum block range"}})
        return list(range(lo, hi + 1))[:1]

    pages = list(LogPager(2000).pages(fetch, 0, 9_999))
    assert pages[-1][0] == 9_999 and [b for b, _ in pages] == sorted({b for b, _ in pages})
    assert all(hi - lo + 1 <= 2000 for lo, hi in asked)
    wide = [(lo, hi) for lo, hi in asked if hi - lo + 1 > 300]
    assert len(wide) <= 3 + len(pages) // 16, asked  # the halvings, then a probe in 16 pages
    assert len(asked) < 80  # ~35 pages of 250-300 blocks, plus the busy ones
    assert max(hi - lo + 1 for lo, hi in asked if lo > 5000) >= 250  # grew back after them
    with pytest.raises(Web3RPCError):  # a refusal at one block is not a range problem
        list(LogPager(1).pages(lambda lo, hi: fetch(0, 10_000), 0, 10))
