"""Fees, the per-run cap, finality and network profiles, over fakes (the fast tier). The same
through the CLI: test_l2.py (finality behind the provider proxy) and test_fee_cap.py (anvil)."""

from __future__ import annotations

import pytest
from eth_account import Account

from laas.anchors.core.fees import MIN_TIP, FeeBudget, FeeCapExceeded, amount, bid
from laas.anchors.core.finality import stage_status
from laas.errors import AnchorPending, ConfigError
from tests.fakes import FakeCall, FakeClock, FakeLedger, StuckNode


def test_a_bid_is_a_percentile_of_recent_tips_over_the_next_base_fee_with_headroom() -> None:
    history = {"baseFeePerGas": [7, 8, 9, 1_000], "reward": [[30], [10], [20]]}
    b = bid(history, headroom=2.0)
    assert (b.base_fee, b.max_priority_fee_per_gas, b.max_fee_per_gas) == (1_000, 20, 2_020)
    quiet = bid({"baseFeePerGas": [5, 5], "reward": [[0]]}, headroom=1.5)
    assert quiet.max_priority_fee_per_gas == MIN_TIP and quiet.max_fee_per_gas == 8
    suggested = bid({"baseFeePerGas": [5, 5], "reward": [[0]]}, headroom=1.5, quiet_tip=3)
    assert suggested.max_priority_fee_per_gas == 3  # the node's suggestion on a quiet chain
    capped = bid(history, headroom=2.0, max_fee_wei=1_500)  # LAAS_MAX_FEE_GWEI still rules
    assert capped.max_fee_per_gas == 1_500 and capped.max_priority_fee_per_gas == 20


def _sender(cap_wei: int | None, mine_at: float | None = None):  # noqa: ANN202
    from laas.anchors.adapters.wallet import FeePolicy, Sender

    clock = FakeClock()
    node = StuckNode(clock, None if mine_at is None else clock.now + mine_at)
    budget = None if cap_wei is None else FeeBudget(cap_wei, "ETH", "LAAS_MAX_FEE_PER_RUN=x")
    sender = Sender(account=Account.from_key(b"\x44" * 32), clock=clock, budget=budget,
                    fees=FeePolicy(bump_after=10, max_bumps=3))
    return sender, node, budget


def test_the_bid_comes_from_the_fee_history() -> None:
    from eth_account.typed_transactions import TypedTransaction
    from hexbytes import HexBytes

    sender, node, _ = _sender(None, mine_at=1)
    sender.send(node, FakeCall(), timeout=60)
    tx = TypedTransaction.from_bytes(HexBytes(node.raw[0])).as_dict()
    assert (tx["maxFeePerGas"], tx["maxPriorityFeePerGas"]) == (2_000_000_000, 400_000_000)


def test_a_transaction_over_what_is_left_of_the_cap_is_not_sent() -> None:
    # FakeCall: 100,000 gas; the bid: 2 gwei a gas, so up to 0.0002 ETH
    sender, node, budget = _sender(199_999 * 10**9)
    with pytest.raises(FeeCapExceeded) as e:
        sender.send(node, FakeCall(), timeout=60)
    assert isinstance(e.value, AnchorPending)  # the run ends pending anchor, exit 3
    assert node.raw == []  # nothing signed reached the node
    message = str(e.value)
    assert "\n" not in message and "LAAS_MAX_FEE_PER_RUN=x" in message
    assert "0.0002 ETH" in message and "laas anchor --resume" in message
    assert budget.refusal == message


def test_what_a_transaction_paid_counts_against_the_next() -> None:
    sender, node, budget = _sender(250_000 * 10**9, mine_at=1)  # 0.00025 ETH
    sender.send(node, FakeCall(), timeout=60)  # up to 0.0002 ETH: it fits
    assert budget.spent == 60_000 * 1_200_000_000  # the receipt's gas x effective price
    assert budget.left() == 250_000 * 10**9 - budget.spent  # 0.000178 ETH left
    node.mined, node.mine_at = None, None
    with pytest.raises(FeeCapExceeded):  # another 0.0002 ETH would not fit
        sender.send(node, FakeCall(), timeout=60)


def test_no_fee_bump_goes_past_the_cap() -> None:
    from web3.exceptions import TimeExhausted

    sender, node, budget = _sender(240_000 * 10**9)  # room for 2 gwei, not for 2.5
    with pytest.raises(TimeExhausted):
        sender.send(node, FakeCall(), timeout=60)
    assert len(node.raw) == 1  # the first bid, never a bump
    assert budget.left() == 40_000 * 10**9  # still held: the transaction may yet be mined


def test_amounts_are_shown_in_the_chains_currency() -> None:
    assert amount(265_000 * 2 * 10**9, "METIS") == "0.00053 METIS"
    assert amount(10**18, "ETH") == "1 ETH"


# -- finality -------------------------------------------------------------------------------


def test_finalized_is_denied_until_the_tag_reaches_the_checkpoint(ledger: FakeLedger) -> None:
    from laas.anchors.services.gate import GatePolicy, check

    ledger.ingest("ds", "r1")
    reg = ledger.registry
    v = check(reg, "ds", store=ledger.store, finality="finalized")
    assert not v.allowed and "is not finalized yet" in v.reason and v.finality == "finalized"
    assert check(reg, "ds", store=ledger.store).allowed  # latest: allowed meanwhile
    policy = GatePolicy(finality="safe")  # a policy can only demand more, not less
    assert "is not safe yet" in check(reg, "ds", store=ledger.store, policy=policy).reason
    reg.chain.mine(64)
    v = check(reg, "ds", store=ledger.store, finality="finalized")
    assert v.allowed and v.reason.endswith("confirmation(s), finalized"), v.reason


def test_a_node_without_the_tag_is_an_error_not_an_allow(ledger: FakeLedger) -> None:
    from laas.anchors.services.gate import check

    ledger.ingest("ds", "r1")
    ledger.registry.chain.tag_lags = {}
    ledger.registry.chain.mine(100)
    with pytest.raises(ConfigError, match="does not answer the 'finalized' block tag"):
        check(ledger.registry, "ds", store=ledger.store, finality="finalized")


def test_a_stage_is_pending_safe_or_final_by_the_tags() -> None:
    assert stage_status(10, safe=9, final=5) == "pending"
    assert stage_status(9, safe=9, final=5) == "safe"
    assert stage_status(5, safe=9, final=5) == "final"
    assert stage_status(5, safe=None, final=None) is None  # the node does not say
    assert stage_status(None, safe=9, final=5) is None  # not on chain


@pytest.fixture
def ledger() -> FakeLedger:
    return FakeLedger()


# -- network profiles -----------------------------------------------------------------------


def test_a_network_profile_fills_what_is_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    from laas.settings import Settings

    monkeypatch.setenv("LAAS_NETWORK", "hyperion-testnet")
    s = Settings()
    assert (s.chain_id, s.effective_finality, s.log_range) == (133717, "safe", 1000)
    assert s.rpc_url.startswith("https://") and not s.is_local_chain
    assert s.tx_link("0xab") == s.explorer_tx_url + "0xab"
    assert s.chain_id_source == "LAAS_NETWORK=hyperion-testnet"
    monkeypatch.setenv("LAAS_CHAIN_ID", "7")
    monkeypatch.setenv("LAAS_FINALITY", "finalized")
    monkeypatch.setenv("LAAS_RPC_URL", "http://127.0.0.1:9")
    s = Settings()  # explicit settings override the profile
    assert (s.chain_id, s.finality, s.rpc_url) == (7, "finalized", "http://127.0.0.1:9")
    assert s.chain_id_source == "LAAS_CHAIN_ID" and s.log_range == 1000
    monkeypatch.setenv("LAAS_NETWORK", "local")
    monkeypatch.delenv("LAAS_RPC_URL")
    s = Settings()
    assert s.is_local_chain and s.tx_link("0xab") is None


def test_an_unknown_network_or_a_bad_cap_is_one_line_naming_the_setting(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from laas.settings import get_settings

    for name, value, said in (("LAAS_NETWORK", "mainnet", "hyperion-testnet"),
                              ("LAAS_MAX_FEE_PER_RUN", "lots", "decimal"),
                              ("LAAS_MAX_FEE_PER_RUN", "-1", "greater than 0"),
                              ("LAAS_FINALITY", "final", "finalized")):
        monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        with pytest.raises(ConfigError) as e:
            get_settings()
        assert str(e.value).startswith(name) and said in str(e.value), str(e.value)
        monkeypatch.delenv(name)
    get_settings.cache_clear()


def test_the_prefect_artifact_links_the_transaction_to_the_explorer(
        ledger: FakeLedger, monkeypatch: pytest.MonkeyPatch) -> None:
    from laas.settings import Settings
    from laas.tasks.manifests import stage_markdown

    m = ledger.ingest("ds", "r1")[0]
    cp = ledger.registry.get(m.checkpoint_id)
    monkeypatch.setenv("LAAS_NETWORK", "metis-andromeda")
    link = Settings().tx_link(cp.tx_hash)
    assert link == f"https://andromeda-explorer.metis.io/tx/{cp.tx_hash}"
    assert f"| [`{cp.tx_hash}`]({link}) |" in stage_markdown(m, cp, link)
    assert f"| `{cp.tx_hash}` |" in stage_markdown(m, cp)  # no explorer: the hash alone
