"""The per-run fee cap through the CLI on a real anvil: a run whose commit would cost more than
LAAS_MAX_FEE_PER_RUN ends pending anchor with the one-line reason and exit 3, a resume under
the same cap is refused the same way, and one with the cap raised commits every stage once.
Explorer links: a network profile's explorer is printed next to each transaction hash."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from tests.conftest import SAMPLE, Workspace

DATASET = "capped"
RUN = "r-cap"
TINY = "0.00001"  # ETH: a commit bids ~2 gwei for ~200k gas, about 0.0004 ETH


@pytest.fixture(scope="module")
def ws(workspace: Workspace) -> Iterator[Workspace]:
    workspace.add_dataset(DATASET, {
        "a.jsonl": (SAMPLE / "instruct-sample" / "part-00000.jsonl").read_bytes(),
        "b.jsonl": (SAMPLE / "instruct-sample" / "part-00002.jsonl").read_bytes(),
    })
    yield workspace


def on_chain(ws: Workspace) -> list:
    from laas.anchors.core.canonical import name_id
    from laas.wiring import open_reader

    return [c for c in open_reader(ws.settings()).checkpoints(name_id(DATASET))
            if c.run_id == name_id(RUN)]


def test_a_run_over_the_fee_cap_ends_pending_and_a_resume_with_a_higher_cap_commits(
        ws: Workspace) -> None:
    capped = {**ws.env, "LAAS_MAX_FEE_PER_RUN": TINY}
    r = ws.laas("run", DATASET, "--run", RUN, env=capped)
    assert r.returncode == 3, r.stdout + r.stderr
    line = next(ln for ln in r.stdout.splitlines() if "pending anchor" in ln)
    assert re.search(r"fee cap: a transaction of up to [\d,]+ gas at up to [\d.]+ gwei could "
                     r"cost [\d.]+ ETH, more than the 0\.00001 ETH left of "
                     rf"LAAS_MAX_FEE_PER_RUN={TINY} for this run; not sent", line), line
    assert "raw, normalized, validated" in line
    assert on_chain(ws) == []

    again = ws.laas("anchor", "--resume", DATASET, "--run", RUN, env=capped)
    assert again.returncode == 3, again.stdout + again.stderr
    assert "fee cap" in again.stderr and len(again.stderr.strip().splitlines()) == 1
    assert on_chain(ws) == []

    raised = {**ws.env, "LAAS_MAX_FEE_PER_RUN": "0.01"}
    done = ws.laas("anchor", "--resume", DATASET, "--run", RUN, "--json", env=raised)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [(d["stage"], d["action"]) for d in json.loads(done.stdout)] == [
        ("raw", "committed"), ("normalized", "committed"), ("validated", "committed")]
    once_more = ws.laas("anchor", "--resume", DATASET, "--run", RUN, "--json", env=raised)
    assert [d["action"] for d in json.loads(once_more.stdout)] == ["on chain"] * 3
    cps = on_chain(ws)
    assert len(cps) == 3 and len({c.tx_hash for c in cps}) == 1  # the run once, one transaction
    assert ws.laas("gate", DATASET, "--run", RUN).returncode == 0


def test_a_network_profile_links_each_transaction_to_its_explorer(ws: Workspace) -> None:
    env = {**ws.env, "LAAS_NETWORK": "local",
           "LAAS_EXPLORER_TX_URL": "http://127.0.0.1:1/explorer/tx/"}
    r = ws.laas("anchor", "--resume", DATASET, "--run", RUN, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    links = re.findall(r"tx (0x[0-9a-f]{64}) \(http://127\.0\.0\.1:1/explorer/tx/(0x[0-9a-f]+)\)",
                       r.stdout)
    assert len(links) == 3 and all(a == b for a, b in links), r.stdout


def test_a_profile_whose_chain_id_is_not_the_rpcs_is_refused(ws: Workspace) -> None:
    assert ws.laas("chain", "up").returncode == 0  # the local anvil, chain 31337
    env = {**ws.env, "LAAS_NETWORK": "hyperion-testnet",
           "LAAS_RPC_URL": f"http://127.0.0.1:{ws.port}"}
    r = ws.laas("gate", DATASET, env=env)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith("error: LAAS_NETWORK=hyperion-testnet expects chain 133717 but "
                               f"http://127.0.0.1:{ws.port}"), r.stderr
    assert "is chain 31337" in r.stderr
    deploy = ws.laas("chain", "deploy", env=env)  # nothing is deployed on the wrong chain
    assert deploy.returncode == 2 and deploy.stderr == r.stderr, deploy.stdout + deploy.stderr
