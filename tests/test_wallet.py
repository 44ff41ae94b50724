"""Keys come from the environment or an encrypted keystore and never show up in messages."""

import json

import pytest
from eth_account import Account

from laas.anchors.adapters.wallet import load_sender
from laas.errors import ConfigError
from laas.settings import Settings


def test_keystore_is_decrypted_with_its_password_only(tmp_path) -> None:
    acct = Account.create()
    path = tmp_path / "key.json"
    path.write_text(json.dumps(Account.encrypt(acct.key, "s3cret", iterations=2)))
    sender = load_sender(None, private_key=None, keystore_path=path, keystore_password="s3cret",
                         allow_unlocked=False)
    assert sender.address == acct.address and acct.key.hex() not in repr(sender)
    with pytest.raises(ConfigError, match="wrong LAAS_KEYSTORE_PASSWORD") as info:
        load_sender(None, private_key=None, keystore_path=path, keystore_password="nope",
                    allow_unlocked=False)
    assert "s3cret" not in str(info.value) and "nope" not in str(info.value)


def test_a_bad_key_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as info:
        load_sender(None, private_key="0xdeadbeefnotakey", keystore_path=None,
                    keystore_password=None, allow_unlocked=False)
    assert "deadbeef" not in str(info.value)


def test_no_key_for_a_remote_chain_says_which_settings_to_set() -> None:
    with pytest.raises(ConfigError, match="LAAS_PRIVATE_KEY or LAAS_KEYSTORE_PATH"):
        load_sender(None, private_key=None, keystore_path=None, keystore_password=None,
                    allow_unlocked=False)


def test_settings_never_show_the_key(monkeypatch) -> None:
    key = Account.create().key.hex()
    monkeypatch.setenv("LAAS_PRIVATE_KEY", key)
    s = Settings()
    assert s.private_key.get_secret_value() == key
    assert key not in repr(s) and key not in s.model_dump_json()


def _stuck(mine_at: float | None = None, **policy: object):  # noqa: ANN202
    """A Sender with a fake clock over a node that mines nothing (until `mine_at` seconds)."""
    from laas.anchors.adapters.wallet import FeePolicy, Sender
    from tests.fakes import FakeClock, StuckNode

    clock = FakeClock()
    node = StuckNode(clock, None if mine_at is None else clock.now + mine_at)
    sender = Sender(account=Account.from_key(b"\x33" * 32), clock=clock,
                    fees=FeePolicy(**policy))
    return sender, node, clock


def _sent(node) -> list[dict]:  # noqa: ANN001
    from eth_account.typed_transactions import TypedTransaction
    from hexbytes import HexBytes

    return [TypedTransaction.from_bytes(HexBytes(raw)).as_dict() for raw in node.raw]


def test_a_stuck_transaction_is_bumped_every_interval_within_the_limit_and_times_out() -> None:
    """The fee-bump policy in simulated seconds (tests/test_faults.py does it on anvil)."""
    from web3.exceptions import TimeExhausted

    from laas.anchors.ports import Clock, SystemClock
    from tests.fakes import FakeCall

    sender, node, clock = _stuck(bump_after=30, max_bumps=2)
    assert isinstance(clock, Clock) and isinstance(SystemClock(), Clock)
    heard: list[str] = []
    with pytest.raises(TimeExhausted):
        sender.send(node, FakeCall(), timeout=200, on_sent=lambda tx, raw: heard.append(tx))
    sent = _sent(node)
    assert len(sent) == len(heard) == 3  # the original and two bumps, each noted
    assert {tx["nonce"] for tx in sent} == {7}  # replacements, not new transactions
    for before, after in zip(sent, sent[1:], strict=False):
        for fee in ("maxFeePerGas", "maxPriorityFeePerGas"):
            assert after[fee] == -(-before[fee] * 5 // 4)
    assert 200 <= clock.now - 1000 < 201  # waited out the timeout, in no wall-clock time


def test_whichever_version_is_mined_counts() -> None:
    from tests.fakes import FakeCall

    sender, node, _ = _stuck(mine_at=45, bump_after=30, max_bumps=3)
    receipt = sender.send(node, FakeCall(), timeout=200)
    assert len(node.raw) == 2 and receipt["transactionHash"] == node.mined  # the bumped one


def test_no_bump_goes_above_the_fee_cap() -> None:
    from web3.exceptions import TimeExhausted

    from tests.fakes import FakeCall

    # 2 gwei x1.25 is capped at 2.3 gwei; the next raise would be under the 10% a node needs
    sender, node, _ = _stuck(bump_after=10, max_bumps=5, max_fee_wei=2_300_000_000)
    with pytest.raises(TimeExhausted):
        sender.send(node, FakeCall(), timeout=100)
    assert [tx["maxFeePerGas"] for tx in _sent(node)] == [2_000_000_000, 2_300_000_000]
