"""Keys come from the environment or an encrypted keystore and never show up in messages."""

import json

import pytest
from eth_account import Account

from laas.anchors.wallet import load_sender
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
