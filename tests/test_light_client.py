"""The read-only chain client (adapters.registry_read over adapters.jsonrpc, no web3) against
web3 on a real anvil: its hand-written ABI encodes every call, and decodes every output, log
and calldata it reads, exactly as web3 does; and both clients, given the same registry (format
1 and format 2), read the same checkpoints, structs, proofs, roles and heads."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from laas.anchors.adapters.abi import Interface, checksum
from laas.anchors.adapters.jsonrpc import RpcError, connect_rpc, mapped
from laas.anchors.adapters.registry import Registry
from laas.anchors.adapters.registry_read import (
    COMMITTER_ROLE,
    RegistryRead,
    format_of,
    load_artifact,
    reader_at,
)
from laas.anchors.adapters.registry_v2_read import RegistryV2Read
from laas.anchors.adapters.wallet import Sender
from laas.anchors.core.canonical import from_hex, name_id, to_hex
from laas.anchors.core.commitments import committed_struct, leaf_of, pair_proof
from laas.errors import AnchorReverted, AnchorTimeout
from laas.wiring import registry_at
from tests.conftest import free_port
from tests.test_contract_v2 import run_stages


def fresh() -> str:
    return f"light-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def both(chain) -> dict[str, Any]:
    """A format-2 registry (the workspace's) and a format-1 one on the same anvil, each with
    two runs committed by web3's signing client."""
    v2 = chain.registry
    dev = Sender(unlocked=v2.w3.eth.accounts[0])
    address, block = Registry.deploy(v2.w3, dev)
    v1 = Registry(v2.w3, address, dev, deploy_block=block)
    out: dict[str, Any] = {"v1": v1, "v2": v2, "runs": {}}
    for name, reg in (("v1", v1), ("v2", v2)):
        dataset = fresh()
        out["runs"][name] = [reg.commit_run(run_stages(dataset, run, n=5)) for run in ("a", "b")]
    return out


def light(reg: Registry) -> RegistryRead:
    rpc = connect_rpc(reg.w3.provider.endpoint_uri)
    return reader_at(rpc, reg.address, deploy_block=reg.deploy_block)


def test_calls_encode_and_outputs_decode_as_web3_s(both) -> None:
    v1, v2 = both["v1"], both["v2"]
    cps = both["runs"]["v2"][0]
    key = from_hex(v2.locate(cps[0].dataset_id, cps[0].run_id))
    proof = pair_proof([leaf_of(c) for c in cps], 1)
    leaf = b"\x07" * 32
    calls = {
        v1: [("exists", (from_hex(both["runs"]["v1"][0][1].checkpoint_id),)),
             ("getCheckpoint", (from_hex(both["runs"]["v1"][0][1].checkpoint_id),)),
             ("hasRole", (COMMITTER_ROLE, v1.sender.address)),
             ("verifyLeaf", (from_hex(both["runs"]["v1"][0][2].checkpoint_id), [leaf, leaf],
                             leaf))],
        v2: [("VERSION", ()), ("anchorOf", (key,)), ("latest", (from_hex(cps[0].dataset_id),)),
             ("hasRole", (bytes(32), v2.sender.address)),
             ("verifyLeaf", (key, proof, committed_struct(cps[1]), [leaf], leaf)),
             ("commitRun", (from_hex(cps[0].dataset_id), b"\x01" * 32,
                            [v2._record(m, uri, "") for m, uri in run_stages(fresh())]))],
    }
    for reg, todo in calls.items():
        abi = Interface(load_artifact(reg.ARTIFACT)["abi"])
        for fn, args in todo:
            ours = abi.call_data(fn, *args)
            assert to_hex(ours) == reg.contract.encode_abi(fn, args=list(args)), fn
            if abi.functions[fn]["stateMutability"] != "view":
                assert abi.decode_input(ours) == (fn, dict(zip(
                    ("datasetId", "runId", "records"), args, strict=True))), fn
                continue
            raw = reg.w3.eth.call({"to": reg.address, "data": to_hex(ours)})
            web3s = getattr(reg.contract.functions, fn)(*args).call()
            many = len(abi.functions[fn]["outputs"]) > 1  # web3 returns those as a list
            assert abi.outputs(fn, bytes(raw)) == (tuple(web3s) if many else (web3s,)), fn


def test_logs_and_calldata_decode_as_web3_s(both) -> None:
    for name, event in (("v1", "CheckpointCommitted"), ("v2", "RunCommitted")):
        reg = both[name]
        abi = Interface(load_artifact(reg.ARTIFACT)["abi"])
        cp = both["runs"][name][1][0]
        receipt = reg.w3.eth.get_transaction_receipt(cp.tx_hash)
        ours = [abi.decode_log(event, {k: to_hex(v) if isinstance(v, bytes) else
                                       [to_hex(t) for t in v] if k == "topics" else
                                       hex(v) if isinstance(v, int) else v
                                       for k, v in dict(log).items()})
                for log in receipt["logs"] if bytes(log["topics"][0]) == abi.topic(event)]
        web3s = getattr(reg.contract.events, event)().process_receipt(receipt)
        assert [_plain(o["args"]) for o in ours] == [_plain(dict(w["args"])) for w in web3s]
        assert [(o["blockNumber"], o["transactionHash"]) for o in ours] == \
            [(w["blockNumber"], bytes(w["transactionHash"])) for w in web3s]
        tx = reg.w3.eth.get_transaction(cp.tx_hash)
        fn, args = reg.contract.decode_function_input(tx["input"])
        got_fn, got = abi.decode_input(bytes(tx["input"]))
        assert got_fn == fn.fn_name
        assert _plain(got) == _plain(dict(args))


def _plain(v: Any, top: bool = True) -> Any:
    """Decoded values compared by content: arguments by name, a struct (web3 names its
    fields, we keep their order) and an array as lists."""
    if isinstance(v, dict):
        return {k: _plain(x, False) for k, x in v.items()} if top else \
            [_plain(x, False) for x in v.values()]
    if isinstance(v, list | tuple):
        return [_plain(x, False) for x in v]
    return bytes(v) if isinstance(v, bytes) else v


def test_both_clients_read_the_same_from_either_format(both) -> None:
    for name in ("v1", "v2"):
        signing = registry_at(both[name].w3, both[name].address, None,
                              deploy_block=both[name].deploy_block)
        reader = light(both[name])
        assert isinstance(reader, RegistryV2Read if name == "v2" else RegistryRead)
        assert format_of(reader.rpc, reader.address) == signing.version == reader.version
        first, second = both["runs"][name]
        for cp in first + second:
            for client in (signing, reader):
                client.locate(cp.dataset_id, cp.run_id)
            assert reader.get(cp.checkpoint_id) == signing.get(cp.checkpoint_id) == cp
            assert reader.stored(cp.checkpoint_id) == signing.stored(cp.checkpoint_id)
            assert reader.stored(cp.checkpoint_id).block_number == cp.block_number
        dataset_id = first[0].dataset_id
        assert reader.checkpoints(dataset_id) == signing.checkpoints(dataset_id) == \
            [c.model_copy(update={"gas_used": None}) for c in first + second]
        assert list(reader.scan(second[0].block_number)) == \
            list(signing.scan(second[0].block_number))
        m = run_stages("x", n=5)[2][0]
        leaf = from_hex(m.shards[3].leaf)
        proof = m.tree().proof(leaf)
        assert reader.verify_leaf(second[2].checkpoint_id, proof, leaf)
        assert not reader.verify_leaf(second[2].checkpoint_id, proof, b"\x01" * 32)
        who = both[name].sender.address
        assert reader.is_committer(who) and not reader.is_committer(checksum(b"\x22" * 20))
        assert reader.block_number() == signing.block_number()
        assert reader.block_time(cp.block_number) is not None
        assert reader.block_at("finalized") == signing.block_at("finalized")
    v2 = light(both["v2"])
    assert v2.latest(name_id("nothing-here")) is None
    assert v2.latest(both["runs"]["v2"][1][2].dataset_id) == both["runs"]["v2"][1][2]
    unknown = run_stages(fresh())[0][0].checkpoint_id
    assert v2.get(unknown) is None and v2.stored_or_none(unknown) is None
    v1 = light(both["v1"])
    assert v1.get(unknown) is None and v1.stored_or_none(unknown) is None
    with pytest.raises(AnchorReverted, match="UnknownCheckpoint"):
        v1.stored(unknown)


def test_a_node_that_is_gone_is_the_one_diagnosis_and_never_shows_the_url_secret() -> None:
    url = f"http://user:s3cr3t@127.0.0.1:{free_port()}/v2/PROVIDERKEY"
    with pytest.raises(AnchorTimeout, match="unreachable") as e:
        connect_rpc(url, timeout=1)
    assert "s3cr3t" not in str(e.value) and "PROVIDERKEY" not in str(e.value)
    rpc = connect_rpc(url, timeout=1, probe=False)
    with pytest.raises(AnchorTimeout), mapped(rpc.urls):
        rpc.request("eth_blockNumber", [])


def test_a_node_error_is_an_rpc_error_not_a_transport_failure(chain) -> None:
    rpc = connect_rpc(chain.registry.w3.provider.endpoint_uri)
    with pytest.raises(RpcError):
        rpc.request("eth_noSuchMethod", [])
    assert [a.get("result") for a in rpc.batch([("eth_chainId", []), ("net_version", [])])] \
        == [hex(rpc.chain_id()), str(rpc.chain_id())]


def test_a_keys_address_is_eth_accounts_without_loading_it() -> None:
    """`laas chain status` names the committer without eth_account (adapters.keys)."""
    import secrets

    from eth_account import Account

    from laas.anchors.adapters.keys import address_of

    keys = [secrets.token_hex(32) for _ in range(20)] + ["0x" + "00" * 31 + "01"]
    assert [address_of(k) for k in keys] == [Account.from_key(k).address for k in keys]
    for bad in ("0x" + "00" * 32, "0x1234", "not hex", "ff" * 33):
        with pytest.raises(ValueError, match="not a valid hex private key"):
            address_of(bad)
