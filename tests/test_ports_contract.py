"""One set of assertions per port, run against the in-memory fake and the real adapters, so a
fake the fast tier relies on cannot drift from what it stands in for:

- registry: tests/fakes.FakeRegistry vs laas.anchors.adapters.registry.Registry on anvil;
- store: ArtifactStore over memory:// vs a local folder vs moto's S3;
- index: LineageIndex over SQLite :memory: vs a SQLite file vs Postgres (pgserver).

The fake parameters run in `make check`; the real ones carry their service's marker."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from laas.anchors.adapters.artifacts import ArtifactStore, read_manifest
from laas.anchors.adapters.attest import attest
from laas.anchors.adapters.index import LineageIndex
from laas.anchors.core.canonical import from_hex, keccak256, to_hex
from laas.anchors.core.models import ShardEntry, StageManifest
from laas.errors import AnchorError, AnchorReverted, ConfigError, HashMismatch
from tests.conftest import postgres_server
from tests.fakes import (
    COMMITTER,
    UNAUTHORIZED,
    FakeLedger,
    FakeRegistry,
    manifest,
    memory_store,
    write,
)


def small(stage: str = "raw", parents: tuple[str, ...] = (), n: int = 3,
          run: str = "r") -> StageManifest:
    """A manifest of a dataset no other test uses (the anvil is shared by the module)."""
    shards = [ShardEntry(key=f"s{i}", uri=f"/d/s{i}", source_uri=f"/d/s{i}", byte_size=i,
                         rows=10 * i, content_hash=to_hex(bytes([i + 1]) * 32)) for i in range(n)]
    return manifest(f"ds-{uuid.uuid4().hex[:10]}", run, stage, shards, parents=parents)


# -- registry -------------------------------------------------------------------------------


@dataclass
class Chain:
    """A registry as its committer (also its admin), the same registry as an account without
    the role and read-only, and a way to mine empty blocks."""

    reg: Any
    committer: str
    outsider: Any
    outsider_address: str
    reader: Any
    mine: Callable[[int], None]


def _fake_chain() -> Chain:
    reg = FakeRegistry()
    outsider = "0x" + "22" * 20
    return Chain(reg, COMMITTER.address, reg.as_account(outsider), outsider,
                 reg.as_account(None), reg.chain.mine)


def _anvil_chain(request: pytest.FixtureRequest) -> Chain:
    from laas.anchors.adapters.wallet import Sender
    from laas.wiring import registry_at

    reg = request.getfixturevalue("chain").registry
    w3 = reg.w3
    outsider = w3.eth.accounts[1]  # unlocked on anvil: it signs without a key here
    return Chain(reg, reg.sender.address, registry_at(w3, reg.address, Sender(unlocked=outsider)),
                 outsider,
                 registry_at(w3, reg.address, None),
                 lambda n: w3.provider.make_request("anvil_mine", [hex(n)]))


@pytest.fixture(params=["fake", pytest.param("anvil", marks=pytest.mark.chain)])
def chain_port(request: pytest.FixtureRequest) -> Chain:
    return _fake_chain() if request.param == "fake" else _anvil_chain(request)


def test_both_registries_have_every_method_of_the_port(chain_port: Chain) -> None:
    from laas.anchors.ports import RegistryWriter

    assert isinstance(chain_port.reg, RegistryWriter)
    assert isinstance(chain_port.reader, RegistryWriter)  # read-only is refused when it sends


def test_a_commit_is_read_back_as_committed_and_not_repeated(chain_port: Chain) -> None:
    reg = chain_port.reg
    m = small()
    heard: list[str] = []
    cp = reg.commit(m, "file:///m.json", on_sent=lambda tx, raw: heard.append(tx))
    assert (cp.checkpoint_id, cp.dataset_id, cp.run_id, cp.stage) == \
        (m.checkpoint_id, m.dataset_id, m.run_id, "raw")
    assert (cp.shards_root, cp.shard_count, cp.manifest_hash, cp.manifest_uri, cp.passed) == \
        (m.shards_root, 3, m.manifest_hash, "file:///m.json", True)
    assert cp.committer == chain_port.committer
    assert heard == [cp.tx_hash] and cp.block_number == reg.block_number()
    assert reg.get(cp.checkpoint_id) == cp
    head = reg.block_number()
    assert reg.commit(m, "file:///m.json") == cp and reg.block_number() == head
    assert reg.checkpoints(m.dataset_id) == [cp.model_copy(update={"gas_used": None})]
    assert chain_port.reader.get(cp.checkpoint_id) == cp


def test_the_stored_struct_is_the_manifest_s(chain_port: Chain) -> None:
    reg = chain_port.reg
    raw = reg.commit(small(), "file:///raw.json")
    m = small("normalized", (raw.checkpoint_id,))
    cp = reg.commit(m, "file:///n.json")
    stored = reg.stored(cp.checkpoint_id)
    assert stored == reg.stored_or_none(cp.checkpoint_id)
    assert {k: getattr(stored, k) for k in ("dataset_id", "run_id", "shards_root", "manifest_hash",
                                   "result_hash", "shard_count", "block_number", "passed",
                                   "committer", "parents")} == {
        "dataset_id": m.dataset_id, "run_id": m.run_id, "shards_root": m.shards_root,
        "manifest_hash": m.manifest_hash, "result_hash": m.result_hash, "shard_count": 3,
        "block_number": cp.block_number, "passed": True, "committer": cp.committer,
        "parents": (raw.checkpoint_id,)}
    assert stored.stage_hash == to_hex(keccak256(b"normalized"))
    unknown = small().checkpoint_id
    assert reg.get(unknown) is None and reg.stored_or_none(unknown) is None


def test_another_manifest_for_a_committed_stage_is_refused(chain_port: Chain) -> None:
    m = small()
    chain_port.reg.commit(m, "file:///a.json")
    other = m.model_copy(update={"passed": False})
    with pytest.raises(AnchorError, match="already on chain with another manifest"):
        chain_port.reg.commit(other, "file:///b.json")


def test_parents_must_be_on_chain(chain_port: Chain) -> None:
    orphan = small("normalized", (to_hex(b"\x07" * 32),))
    with pytest.raises(AnchorReverted, match="UnknownCheckpoint"):
        chain_port.reg.commit(orphan, "file:///o.json")


def test_only_committers_commit_and_only_the_admin_grants(chain_port: Chain) -> None:
    c = chain_port
    assert not c.reg.is_committer(c.outsider_address)
    with pytest.raises(AnchorReverted, match=UNAUTHORIZED):
        c.outsider.commit(small(), "file:///x.json")
    with pytest.raises(AnchorReverted, match=UNAUTHORIZED):
        c.outsider.grant_committer(c.outsider_address)
    c.reg.grant_committer(c.outsider_address)
    assert c.reg.is_committer(c.outsider_address)
    assert c.outsider.commit(small(), "file:///x.json").committer == c.outsider_address
    c.reg.revoke_committer(c.outsider_address)
    assert not c.reg.is_committer(c.outsider_address)
    with pytest.raises(AnchorReverted, match=UNAUTHORIZED):
        c.outsider.commit(small(), "file:///x.json")
    with pytest.raises(ConfigError, match="read-only"):
        c.reader.commit(small(), "file:///x.json")


def test_leaves_verify_against_the_committed_root_and_tampered_proofs_do_not(
        chain_port: Chain) -> None:
    m = small(n=5)
    cp = chain_port.reg.commit(m, "file:///p.json")
    tree = m.tree()
    for s in m.shards:
        leaf = from_hex(s.leaf)
        assert chain_port.reader.verify_leaf(cp.checkpoint_id, tree.proof(leaf), leaf)
    leaf = from_hex(m.shards[0].leaf)
    proof = tree.proof(leaf)
    assert not chain_port.reader.verify_leaf(cp.checkpoint_id, [proof[0][::-1], *proof[1:]],
                                             leaf)


def test_confirmations_count_blocks_from_the_head(chain_port: Chain) -> None:
    cp = chain_port.reg.commit(small(), "file:///c.json")
    assert chain_port.reg.confirmations(cp.block_number) == 1
    chain_port.mine(2)
    assert chain_port.reg.block_number() == cp.block_number + 2
    assert chain_port.reader.confirmations(cp.block_number) == 3
    assert chain_port.reg.confirmations(cp.block_number + 10) == 0


def test_the_safe_and_finalized_tags_trail_the_head(chain_port: Chain) -> None:
    chain_port.mine(70)
    head = chain_port.reader.block_number()
    safe, final = (chain_port.reader.block_at(t) for t in ("safe", "finalized"))
    assert final < safe < head  # anvil: 32 and 64 blocks behind, as the fake
    assert chain_port.reader.block_at("no-such-tag") is None


# -- store ----------------------------------------------------------------------------------


@pytest.fixture(params=["memory", "folder", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path) -> ArtifactStore:
    if request.param == "memory":
        return memory_store()
    if request.param == "folder":
        return ArtifactStore(str(tmp_path / "artifacts"))
    s3 = request.getfixturevalue("s3")
    bucket = s3.bucket(f"store-{uuid.uuid4().hex[:8]}")
    return ArtifactStore(f"s3://{bucket}/artifacts")


def test_a_manifest_is_stored_under_its_hash_and_found_again(store: ArtifactStore) -> None:
    from laas.anchors.ports import Store

    assert isinstance(store, Store)
    m = small()
    uri = store.write_manifest(m)
    assert uri == store.uri(m.dataset, "r", "raw", f"manifest-{m.manifest_hash[2:]}.json")
    assert store.find_manifests(m.dataset, "r", "raw") == [uri]
    assert store.manifests(m.dataset) == store.manifests(m.dataset, "r") == [uri]
    assert uri in store.manifests()
    assert store.runs(m.dataset) == ["r"]
    assert read_manifest(uri, expected_hash=m.manifest_hash) == m
    assert store.find_manifests(m.dataset, "other", "raw") == []


def test_an_altered_manifest_is_refused_by_its_hash(store: ArtifactStore) -> None:
    m = small()
    uri = store.write_manifest(m)
    write(uri, m.to_bytes().replace(b'"r"', b'"x"'))
    with pytest.raises(HashMismatch, match="altered after the commit"):
        read_manifest(uri, expected_hash=m.manifest_hash)


def test_attestations_and_sent_notes_round_trip(store: ArtifactStore) -> None:
    m = small()
    assert store.attestation(m) is None and store.attested_by(m) is None
    store.write_attestation(m, attest(COMMITTER, to_hex(b"\x07" * 32)))  # another manifest's
    assert store.attested_by(m) is None
    store.write_attestation(m, attest(COMMITTER, m.manifest_hash))
    assert store.attestation(m).signer() == COMMITTER.address
    assert store.attested_by(m) == COMMITTER.address
    first, second = to_hex(b"\x01" * 32), to_hex(b"\x02" * 32)
    store.record_sent(m, first, b"\x02raw")
    store.record_sent(m, second, None)
    write(f"{store.stage_dir(m.dataset, 'r', 'raw')}/sent-junk.json", b"{not json")
    assert store.sent(m) == [(first, b"\x02raw"), (second, None)]  # oldest first, junk ignored
    store.clear_sent(m)
    assert store.sent(m) == []


@pytest.mark.parametrize("dataset, run", [("..", "r"), ("ds", "../up"), ("ds", "a/b")])
def test_names_that_would_leave_the_store_are_refused(store: ArtifactStore, dataset: str,
                                                      run: str) -> None:
    with pytest.raises(ConfigError, match="is not a valid name"):
        store.stage_dir(dataset, run, "raw")


# -- index ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    with postgres_server() as server:
        yield server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture(params=["memory", "file",
                        pytest.param("postgres", marks=pytest.mark.integration)])
def index(request: pytest.FixtureRequest, tmp_path) -> Iterator[LineageIndex]:
    url = {"memory": "sqlite://", "file": f"sqlite:///{tmp_path / 'index.db'}"}.get(
        request.param) or request.getfixturevalue("postgres")
    index = LineageIndex(url)
    yield index
    index.engine.dispose()  # close pooled connections before the server goes


def test_the_index_answers_by_hash_uri_and_key_in_stage_order(index: LineageIndex) -> None:
    ledger = FakeLedger(index=index)
    raw, normalized, validated = ledger.ingest("ds-" + uuid.uuid4().hex[:8], "r1")
    ds = raw.dataset
    shard = validated.shards[0]
    rows = index.find_shard(shard.content_hash)
    assert {(r["stage"], r["key"]) for r in rows} == \
        {("normalized", shard.key), ("validated", shard.key)}
    # a source URI finds the raw shard and every later stage made from it
    assert {r["stage"] for r in index.find_shard(raw.shards[0].uri)} == \
        {"raw", "normalized", "validated"}
    assert [r["stage"] for r in index.stages_of(ds, "r1", shard.key)] == \
        ["raw", "normalized", "validated"]
    assert index.stages_of(ds, "r1", shard.key)[1]["parents"] == [raw.checkpoint_id]
    assert index.checkpoint(validated.checkpoint_id)["manifest_hash"] == \
        validated.manifest_hash
    assert {r["stage"] for r in index.runs(ds)} == {"raw", "normalized", "validated"}
    cp = ledger.registry.get(validated.checkpoint_id)
    index.record(cp, validated)  # recording again replaces: no duplicate rows
    assert len(index.find_shard(shard.content_hash)) == 2
    assert index.find_shard(to_hex(b"\x09" * 32)) == [] and index.checkpoint("0x00") is None


def test_the_sqlite_file_read_with_the_standard_library_answers_as_the_index(tmp_path) -> None:
    """`laas lineage` reads the default SQLite index without SQLAlchemy: same rows, keys (a
    join's repeated columns named as SQLAlchemy names them), types and order."""
    from laas.anchors.adapters import index as full
    from laas.anchors.adapters.index_sqlite import (
        CHECKPOINT_COLUMNS,
        SHARD_COLUMNS,
        SqliteIndexReader,
    )

    assert tuple(full.shards.c.keys()) == SHARD_COLUMNS
    assert tuple(full.checkpoints.c.keys()) == CHECKPOINT_COLUMNS
    path = tmp_path / "index.db"
    index = LineageIndex(f"sqlite:///{path}")
    ledger = FakeLedger(index=index)
    raw, _, validated = ledger.ingest("ds-a", "r1")
    ledger.ingest("ds-a", "r2")  # the same sources again: two runs to tell apart
    reader = SqliteIndexReader(path, index.where)
    shard = validated.shards[0]
    for ref, run in ((shard.content_hash, None), (shard.leaf, None), (raw.shards[0].uri, None),
                     (raw.shards[0].uri, "r1"), (shard.key, "r2"), ("nothing", None)):
        assert reader.find_shard(ref, run) == index.find_shard(ref, run), (ref, run)
    for run in ("r1", "r2"):
        assert reader.stages_of("ds-a", run, shard.key) == index.stages_of("ds-a", run, shard.key)
    assert reader.stages_of("ds-a", "r1", shard.key)[2]["passed"] is True
    assert reader.checkpoint(validated.checkpoint_id) == index.checkpoint(validated.checkpoint_id)
    assert reader.checkpoint("0x00") is None
    assert reader.runs("ds-a") == index.runs("ds-a")
    index.engine.dispose()


def test_the_sqlite_reader_opens_only_its_file_and_names_one_it_cannot_read(tmp_path) -> None:
    """A `?`, `#` or space in the home's path is part of the file name for both clients
    (sqlite's URI and SQLAlchemy's URL would end the name there and create that file); a file
    that is no database is one line to act on."""
    from laas.anchors.adapters.index_sqlite import SqliteIndexReader
    from laas.errors import LaasError

    folder = tmp_path / "odd home?#x"
    index = LineageIndex(f"sqlite:///{folder / 'index.db'}")  # the full client, same file
    _, _, validated = FakeLedger(index=index).ingest("ds-a", "r1")
    shard = validated.shards[0]
    want = index.find_shard(shard.content_hash)
    index.engine.dispose()
    assert sorted(p.name for p in folder.iterdir()) == ["index.db"]
    reader = SqliteIndexReader(folder / "index.db", "the index")
    assert reader.find_shard(shard.content_hash) == want
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder.name]  # nothing created
    (tmp_path / "garbage.db").write_bytes(b"not a database")
    with pytest.raises(LaasError, match="cannot be read .*`laas index rebuild`"):
        SqliteIndexReader(tmp_path / "garbage.db", "garbage.db").find_shard(shard.key)



def test_index_rows_laas_never_writes_are_left_out_by_both_readers(tmp_path) -> None:
    """Anyone with write access to the index can add rows of a stage laas does not know, or
    parents that are no JSON list: `laas verify` and `laas lineage` stopped with a ValueError.
    Both clients leave such rows out (the chain decides everything; the index only says where
    to start)."""
    import sqlite3

    from laas.anchors.adapters.index_sqlite import SqliteIndexReader

    path = tmp_path / "index.db"
    index = LineageIndex(f"sqlite:///{path}")
    _, _, validated = FakeLedger(index=index).ingest("ds-a", "r1")
    shard = validated.shards[0]
    want = index.stages_of("ds-a", "r1", shard.key)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE shards SET stage = 'bogus' WHERE id = (SELECT MIN(id) FROM shards "
                   "WHERE key = ? AND stage = 'raw')", (shard.key,))
        db.execute("UPDATE checkpoints SET parents = 'not json' WHERE stage = 'normalized'")
    reader = SqliteIndexReader(path, index.where)
    for client in (index, reader):
        assert [r["stage"] for r in client.stages_of("ds-a", "r1", shard.key)] == ["validated"]
        assert all(r["stage"] != "bogus" for r in client.find_shard(shard.key))
    assert want[2]["checkpoint_id"] == validated.checkpoint_id
    index.engine.dispose()
