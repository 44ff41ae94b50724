"""Finality through the provider proxy (tests/l2proxy.py), whose `safe` and `finalized` tags
trail the head by configurable block counts: `laas gate --finality finalized` denies a
checkpoint the finalized tag has not reached and allows it once the chain has moved on that
far; `laas lineage` shows each stage pending, safe or final; a node that does not know the tags
is an error, not an allow; a network profile's finality is the gate's default."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.test_l2 import DATASET, L2, RUN, shows_no_secret


@pytest.fixture(scope="module")
def l2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[L2]:
    ws = L2(tmp_path_factory.mktemp("l2f"))
    # Latency and the rate limit are test_l2.py's subject; here they would only add minutes.
    ws.proxy.latency, ws.proxy.bucket = (0.0, 0.0), None
    run = ws.laas("run", DATASET, "--run", RUN, env=ws.committer)
    assert run.returncode == 0, run.stdout + run.stderr
    yield ws
    ws.close()


def stages(l2: L2) -> list[dict]:
    lineage = l2.laas("lineage", l2.shards(RUN)[0], "--json")
    assert lineage.returncode == 0, lineage.stdout + lineage.stderr
    return json.loads(lineage.stdout)["stages"]


def finality_of_stages(l2: L2) -> list:
    return [s["finality"] for s in stages(l2)]


def test_finalized_is_denied_until_the_finalized_tag_reaches_the_checkpoint(l2: L2) -> None:
    blocks = [s["block_number"] for s in stages(l2)]  # raw first, validated (gated) last
    first, last = min(blocks), max(blocks)
    # Both tags trail the head by more than the run's age, finalized by more than safe; the
    # margins absorb the block a second the node mines meanwhile.
    l2.proxy.safe_lag = l2.node.head() - first + 120
    l2.proxy.finalized_lag = l2.proxy.safe_lag + (last - first) + 200
    try:
        deny = l2.laas("gate", DATASET, "--run", RUN, "--finality", "finalized")
        assert deny.returncode == 1, deny.stdout + deny.stderr
        assert f"its checkpoint (block {last}) is not finalized yet" in deny.stdout
        shows_no_secret(deny)
        assert l2.laas("gate", DATASET, "--run", RUN).returncode == 0  # latest: allowed
        assert finality_of_stages(l2) == ["pending"] * 3

        l2.node.mine(120 + (last - first) + 5)  # safe has passed every stage, finalized none
        assert finality_of_stages(l2) == ["safe"] * 3
        assert l2.laas("gate", DATASET, "--run", RUN, "--finality", "safe").returncode == 0
        assert l2.laas("gate", DATASET, "--run", RUN,
                       "--finality", "finalized").returncode == 1

        l2.node.mine(200 + (last - first))  # now finalized has too
        allow = l2.laas("gate", DATASET, "--run", RUN, "--finality", "finalized")
        assert allow.returncode == 0, allow.stdout + allow.stderr
        assert allow.stdout.startswith("ALLOW") and allow.stdout.rstrip().endswith(
            "confirmation(s), finalized"), allow.stdout
        assert finality_of_stages(l2) == ["final"] * 3
    finally:
        l2.proxy.safe_lag, l2.proxy.finalized_lag = 10, 100


def test_a_policy_can_demand_finality(l2: L2) -> None:
    policy = l2.root / "final.yaml"
    policy.write_text("finality: finalized\n")
    l2.proxy.finalized_lag = 10**6  # finalized stays at genesis
    try:
        r = l2.laas("gate", DATASET, "--run", RUN, "--policy", str(policy))
    finally:
        l2.proxy.finalized_lag = 100
    assert r.returncode == 1 and "is not finalized yet" in r.stdout, r.stdout + r.stderr


def test_a_node_without_the_tags_is_said_so_and_never_allowed(l2: L2) -> None:
    l2.proxy.finality_tags = False
    try:
        r = l2.laas("gate", DATASET, "--run", RUN, "--finality", "safe")
        assert r.returncode == 2, r.stdout + r.stderr
        assert "does not answer the 'safe' block tag" in r.stderr and "ALLOW" not in r.stdout
        assert len(r.stderr.strip().splitlines()) == 1
        shows_no_secret(r)
        assert finality_of_stages(l2) == [None] * 3  # lineage still answers: unknown
    finally:
        l2.proxy.finality_tags = True


def test_the_network_profile_sets_the_gates_finality(l2: L2) -> None:
    """hyperion-testnet's default is `safe`; the L2 node has Hyperion's chain id."""
    env = {**l2.env, "LAAS_NETWORK": "hyperion-testnet"}
    r = l2.laas("gate", DATASET, "--run", RUN, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.rstrip().endswith("confirmation(s), safe"), r.stdout
    l2.proxy.safe_lag = 10**6
    try:
        denied = l2.laas("gate", DATASET, "--run", RUN, env=env)
        overridden = l2.laas("gate", DATASET, "--run", RUN, env={**env, "LAAS_FINALITY": "latest"})
    finally:
        l2.proxy.safe_lag = 10
    assert denied.returncode == 1 and "is not safe yet" in denied.stdout, denied.stdout
    assert overridden.returncode == 0, overridden.stdout + overridden.stderr
