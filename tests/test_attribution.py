"""Attribution as the raw stage applies it, per shard (no cluster, no chain): the spec's
`contributors:` settings, sidecar files, path patterns, columns and signatures, each bad case
a one-line reason naming the shard, or a ConfigError naming the setting or sidecar line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from laas.anchors.core.contribution import typed_data
from laas.errors import ConfigError
from laas.tasks.attributed import hash_attributed, raw_work
from laas.tasks.dataset_spec import load_spec
from laas.tasks.raw_hashing import discover, hash_raw
from tests.conftest import SAMPLE

ROWS = [json.loads(line) for line in
        (SAMPLE / "instruct-sample" / "part-00000.jsonl").read_text().splitlines()[:6]]


def sign(key_hex: str, dataset: str, key: str, raw_hash: str) -> str:
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    msg = encode_typed_data(full_message=typed_data(dataset, key, raw_hash))
    return "0x" + Account.sign_message(msg, key_hex).signature.hex().removeprefix("0x")


def account() -> tuple[str, str]:
    from eth_account import Account

    acct = Account.create()
    return acct.address, acct.key.hex()


def make(tmp: Path, contributors: dict, files: dict[str, list[dict]], sidecar: str | None = None,
         extra_schema: bool = False) -> Path:
    spec = yaml.safe_load((SAMPLE / "instruct-sample.yaml").read_text())
    spec.update(name="attr", source="data/*.jsonl", contributors=contributors)
    if extra_schema:
        spec["schema"].append({"name": "contributor", "type": "string"})
    (tmp / "data").mkdir(exist_ok=True)
    for name, rows in files.items():
        (tmp / "data" / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    if sidecar is not None:
        (tmp / "data" / "contributors.csv").write_text(sidecar)
    path = tmp / "attr.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def run_raw(path: Path) -> dict:
    spec = load_spec(str(path))
    fn, items, kw = raw_work(spec, discover(spec))
    return {e.key: e for e in (fn(*item, "quarantined", **kw) for item in items)}


def test_a_signed_sidecar_names_each_shard_and_a_bad_signature_sets_only_that_shard_aside(
        tmp_path: Path) -> None:
    (alice, a_key), (bob, _) = account(), account()
    path = make(tmp_path, {"sidecar": "contributors.csv", "require_signatures": True},
                {"a.jsonl": ROWS[:3], "b.jsonl": ROWS[3:], "c.jsonl": ROWS[1:4]})
    raw = {k: hash_raw(k, str(tmp_path / "data" / k)) for k in ("a.jsonl", "b.jsonl", "c.jsonl")}
    good = sign(a_key, "attr", "a.jsonl", raw["a.jsonl"].content_hash)
    reused = sign(a_key, "attr", "a.jsonl", raw["a.jsonl"].content_hash)  # for a, put on c
    (tmp_path / "data" / "contributors.csv").write_text(
        f"key,address,signature\na.jsonl,{alice},{good}\nb.jsonl,{bob},\n"
        f"c.jsonl,{alice},{reused}\n")
    got = run_raw(path)
    assert "contributors.csv" not in got  # the sidecar is not a shard
    assert got["a.jsonl"].status == "ok" and got["a.jsonl"].contributor == alice
    assert got["a.jsonl"].contributor_signature == good
    assert got["b.jsonl"].status == "quarantined"
    assert "b.jsonl" in got["b.jsonl"].reason and "no contributor signature" in \
        got["b.jsonl"].reason and "require_signatures" in got["b.jsonl"].reason
    assert got["c.jsonl"].status == "quarantined" and "c.jsonl" in got["c.jsonl"].reason
    assert f"not {alice}'s for this shard" in got["c.jsonl"].reason


def test_a_path_pattern_names_the_contributor_and_a_key_it_misses_is_set_aside(
        tmp_path: Path) -> None:
    alice = "0x" + "a1" * 20
    path = make(tmp_path, {"path": r"^(?P<address>0x[0-9a-f]{40})-"},
                {f"{alice}-1.jsonl": ROWS[:3], "anon.jsonl": ROWS[3:]})
    got = run_raw(path)
    assert got[f"{alice}-1.jsonl"].contributor.lower() == alice
    assert got["anon.jsonl"].status == "quarantined"
    assert "does not match contributors.path" in got["anon.jsonl"].reason


def test_a_column_must_name_one_address_per_shard(tmp_path: Path) -> None:
    alice, bob = "0x" + "a1" * 20, "0x" + "b2" * 20
    one = [{**r, "contributor": alice} for r in ROWS[:3]]
    two = [{**r, "contributor": w} for r, w in zip(ROWS[3:], (alice, bob, bob), strict=True)]
    path = make(tmp_path, {"column": "contributor"}, {"one.jsonl": one, "two.jsonl": two},
                extra_schema=True)
    spec = load_spec(str(path))
    fn, items, kw = raw_work(spec, discover(spec))
    assert fn is hash_attributed
    got = {e.key: e for e in (fn(*i, "failed", **kw) for i in items)}
    assert got["one.jsonl"].status == "ok" and got["one.jsonl"].contributor.lower() == alice
    assert got["two.jsonl"].status == "failed"
    assert "two.jsonl" in got["two.jsonl"].reason and "2 contributors" in got["two.jsonl"].reason


@pytest.mark.parametrize(("sidecar", "says"), [
    ("key,address\na.jsonl,0x1234\n", "line 2 (shard a.jsonl): address '0x1234' is not a 0x"),
    ("key,who\na.jsonl,x\n", "header must name the columns key and address"),
    (f"key,address\na.jsonl,{'0x' + 'a1' * 20}\na.jsonl,{'0x' + 'a1' * 20}\n", "listed twice"),
])
def test_a_bad_sidecar_is_a_config_error_naming_the_file_and_line(
        tmp_path: Path, sidecar: str, says: str) -> None:
    path = make(tmp_path, {"sidecar": "contributors.csv"}, {"a.jsonl": ROWS}, sidecar)
    with pytest.raises(ConfigError, match="contributors sidecar .*contributors.csv") as e:
        run_raw(path)
    assert says in str(e.value)


def test_a_missing_sidecar_says_where_it_was_looked_for(tmp_path: Path) -> None:
    path = make(tmp_path, {"sidecar": "contributors.csv"}, {"a.jsonl": ROWS})
    with pytest.raises(ConfigError, match="contributors.csv does not exist"):
        run_raw(path)


@pytest.mark.parametrize(("contributors", "says"), [
    ({"path": "("}, "contributors.path: not a valid regex"),
    ({"path": "^x"}, "named group `(?P<address>...)`"),
    ({"path": "^(?P<address>.+)/", "sidecar": "c.csv"}, "exactly one of"),
    ({"column": "contributor"}, "must be a string column of the `schema`"),
    ({"path": "^(?P<address>.+)/", "require_signatures": True}, "needs a `sidecar`"),
    ({"sidecar": "c.txt"}, "name a .csv or .json file"),
])
def test_bad_attribution_settings_are_config_errors_naming_the_setting(
        tmp_path: Path, contributors: dict, says: str) -> None:
    path = make(tmp_path, contributors, {"a.jsonl": ROWS})
    with pytest.raises(ConfigError, match="dataset spec .*contributors") as e:
        load_spec(str(path))
    assert says in str(e.value)


def test_a_json_sidecar_kept_apart_from_the_source_names_the_contributors(
        tmp_path: Path) -> None:
    """A sidecar at a path of the spec's (where only the operator writes), as JSON."""
    alice, bob = "0x" + "a1" * 20, "0x" + "b2" * 20
    path = make(tmp_path, {"sidecar": "ops/contributors.json"},
                {"a.jsonl": ROWS[:3], "b.jsonl": ROWS[3:]})
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "contributors.json").write_text(json.dumps(
        {"a.jsonl": alice, "b.jsonl": {"address": bob}}))
    got = run_raw(path)
    assert {k: e.contributor.lower() for k, e in got.items()} == {"a.jsonl": alice,
                                                                   "b.jsonl": bob}
