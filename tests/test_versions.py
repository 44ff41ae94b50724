"""Versions: the pure diff and append-only rules (anchors/core/versions.py), manifest format v3
next to v1/v2, and the services over the in-memory fakes (diff from proven manifests, the
check before an append-only version is committed, the gate's check of a committed claim). The
same through the CLI on anvil: tests/test_versions_pipeline.py."""

from __future__ import annotations

import json

import pytest

from laas.anchors.adapters.artifacts import read_manifest
from laas.anchors.core.canonical import canonical_json
from laas.anchors.core.models import ShardEntry, StageManifest, new_manifest
from laas.anchors.core.versions import append_problem, diff_manifests
from laas.anchors.services.anchoring import commit_manifest
from laas.anchors.services.gate import check
from laas.anchors.services.runcommit import commit_run
from laas.anchors.services.versions import diff_versions, previous_version, require_append_only
from laas.errors import HashMismatch, LineageNotFound, NotAppendOnly
from tests.fakes import FakeLedger, sample_shards, write

H = "0x" + "11" * 32


def entry(key: str, h: str = H, rows: int = 10, **kw: object) -> ShardEntry:
    return ShardEntry(key=key, uri=f"mem://{key}", source_uri=f"mem://src/{key}", byte_size=100,
                      rows=rows, content_hash=h, **kw)


def version(run: str, *shards: ShardEntry, **claim: object) -> StageManifest:
    return new_manifest("ds", run, "validated", "laas-table-v1", list(shards), passed=True,
                        **claim)


# -- the pure rules ---------------------------------------------------------------------------


def test_diff_lists_added_removed_changed_with_hashes_and_dropped_rows() -> None:
    old = version("a", entry("k1"), entry("k2"), entry("k3"))
    new = version("b", entry("k1"), entry("k3", "0x" + "22" * 32, rows=9, rows_in=10,
                                           parent_hash=H, dropped={"x(y)": 1},
                                           dropped_rows_hash=H),
                  entry("k4"), entry("k2", status="quarantined", reason="failed expectations"))
    added, removed, changed, unchanged = diff_manifests(old, new)
    assert [c.key for c in added] == ["k4"] and added[0].old is None
    assert [(c.key, c.reason) for c in removed] == [("k2", "failed expectations")]
    (c,) = changed
    assert (c.key, c.old.content_hash, c.new.content_hash) == ("k3", H, "0x" + "22" * 32)
    assert (c.new.rows, c.new.rows_in, c.new.dropped) == (9, 10, {"x(y)": 1})
    assert unchanged == 1


def test_append_only_holds_for_additions_and_names_a_replaced_or_dropped_shard() -> None:
    old = version("a", entry("k1"), entry("k2"))
    assert append_problem(old, version("b", entry("k1"), entry("k2"), entry("k3"))) is None
    replaced = append_problem(old, version("b", entry("k1"), entry("k2", "0x" + "33" * 32)))
    assert "replaces shard k2 of version a" in replaced and "0x1111" in replaced
    assert "\n" not in replaced
    dropped = append_problem(old, version("b", entry("k2"), entry("k1", status="failed",
                                                                  reason="bad gzip")))
    assert "drops shard k1 of version a (set aside: bad gzip)" in dropped
    # a mutable dataset's versions are compared, not judged: no "the dataset is append-only"
    assert "append-only" not in replaced and "append-only" not in dropped
    claimed = version("b", entry("k1"), entry("k2", "0x" + "33" * 32)).model_copy(
        update={"versioning": "append_only", "appends_to": "0x" + "44" * 32})
    assert append_problem(old, claimed).endswith(
        "; the dataset is append-only: restore the shard's source (and its contributor), or "
        "put changed data under a new key")


# -- the manifest format ----------------------------------------------------------------------


def test_v2_manifests_hash_as_before_and_v3_carries_the_claim(tmp_path) -> None:
    plain = version("a", entry("k1"))
    assert plain.version == "laas-manifest-v2"
    body = json.loads(plain.to_bytes())
    assert "versioning" not in body and "appends_to" not in body  # bytes as v2 always wrote
    claimed = version("b", entry("k1"), versioning="append_only", appends_to=H)
    assert claimed.version == "laas-manifest-v3"
    uri = str(tmp_path / f"manifest-{claimed.manifest_hash}.json")
    write(uri, claimed.to_bytes())
    back = read_manifest(uri, expected_hash=claimed.manifest_hash)
    assert (back.appends_to, back.versioning, back.manifest_hash) == (
        H, "append_only", claimed.manifest_hash)
    first = version("c", entry("k1"), versioning="append_only")  # a first version: no claim
    assert first.version == "laas-manifest-v3" and "appends_to" not in json.loads(
        first.to_bytes())


@pytest.mark.parametrize("change", [
    {"version": "laas-manifest-v2", "appends_to": H, "versioning": "append_only"},
    {"version": "laas-manifest-v3", "appends_to": H},
    {"version": "laas-manifest-v99"},  # a version no laas has written
])
def test_a_claim_outside_v3_or_an_unknown_version_is_refused(change: dict) -> None:
    body = json.loads(version("a", entry("k1")).to_bytes()) | change
    with pytest.raises(ValueError, match="appends_to|versioning|unknown manifest version"):
        StageManifest.model_validate_json(canonical_json(body))


@pytest.mark.parametrize("field", ["contributor", "contributor_signature", "sha256"])
def test_shard_facts_need_v4_and_v4_keeps_the_claim(field: str) -> None:
    """A shard's contributor or sha256 makes the manifest v4 (which also carries v3's
    claim); the same fields under an older version are refused, not silently trusted."""
    fact = entry("k1").model_copy(update={field: "0x" + "ab" * 20})
    made = version("a", fact, versioning="append_only", appends_to=H)
    assert made.version == "laas-manifest-v4" and made.appends_to == H
    assert json.loads(made.to_bytes())["shards"][0][field] == "0x" + "ab" * 20
    assert StageManifest.model_validate_json(made.to_bytes()).manifest_hash == made.manifest_hash
    body = json.loads(made.to_bytes()) | {"version": "laas-manifest-v3"}
    with pytest.raises(ValueError, match="need a laas-manifest-v4 manifest"):
        StageManifest.model_validate_json(canonical_json(body))
    assert "sha256" not in json.loads(version("b", entry("k1")).to_bytes())["shards"][0]


# -- the services over the fakes --------------------------------------------------------------


@pytest.fixture
def ledger() -> FakeLedger:
    return FakeLedger()


def two_versions(ledger: FakeLedger) -> None:
    """r1: part-0..2; r2: part-0 as it was, part-1 with other rows, part-2 gone, part-3 new."""
    shards = sample_shards(4)
    ledger.ingest("ds", "r1", {k: shards[k] for k in ("part-0.jsonl", "part-1.jsonl",
                                                      "part-2.jsonl")})
    changed = [dict(r, response="changed") for r in shards["part-1.jsonl"]]
    ledger.ingest("ds", "r2", {"part-0.jsonl": shards["part-0.jsonl"],
                               "part-1.jsonl": changed, "part-3.jsonl": shards["part-3.jsonl"]})


def test_diff_of_the_latest_two_versions_from_proven_manifests(ledger) -> None:
    two_versions(ledger)
    d = diff_versions(ledger.registry, "ds")
    assert (d.old.run, d.new.run) == ("r1", "r2")
    assert [c.key for c in d.added] == ["part-3.jsonl"]
    assert [c.key for c in d.removed] == ["part-2.jsonl"]
    assert [c.key for c in d.changed] == ["part-1.jsonl"] and d.unchanged == 1
    assert not d.append_only and "replaces shard part-1.jsonl" in d.append_problem
    assert diff_versions(ledger.registry, "ds", "r2", "r1").added[0].key == "part-2.jsonl"
    with pytest.raises(LineageNotFound, match="first passed version"):
        diff_versions(ledger.registry, "ds", new="r1")
    with pytest.raises(LineageNotFound, match="no validated checkpoint on chain for run r9"):
        diff_versions(ledger.registry, "ds", "r9", "r2")


def test_a_manifest_that_does_not_match_its_checkpoint_is_refused_naming_the_version(
        ledger) -> None:
    two_versions(ledger)
    cp = previous_version(ledger.registry, "ds", "r2")  # r1's validated checkpoint
    body = json.loads(read_manifest(cp.manifest_uri).to_bytes())
    body["shards"] = body["shards"][:1]  # the store's copy of r1 now says it held one shard
    write(cp.manifest_uri, canonical_json(body))
    with pytest.raises(HashMismatch, match=r"^version previous: validated manifest: .*hash"):
        diff_versions(ledger.registry, "ds")
    with pytest.raises(HashMismatch, match="^version r1: "):
        diff_versions(ledger.registry, "ds", "r1", "r2")


def claimed(ledger: FakeLedger, run: str, shards: dict, appends_to: str | None) -> list:
    """A run's manifests as an append-only dataset's run makes them."""
    raw, normalized, validated = ledger.stages("ds", run, shards)
    body = json.loads(validated.to_bytes()) | {"version": "laas-manifest-v3",
                                               "versioning": "append_only"}
    if appends_to:
        body["appends_to"] = appends_to
    return [raw, normalized, StageManifest.model_validate_json(canonical_json(body))]


def test_an_append_only_version_that_replaces_a_shard_is_not_committed(ledger) -> None:
    shards = sample_shards(3)
    first = claimed(ledger, "r1", shards, None)
    commit_run(ledger.parts(), [(m, ledger.keep(m)) for m in first])
    grown = claimed(ledger, "r2", {**shards, "part-9.jsonl": shards["part-0.jsonl"]},
                    first[2].checkpoint_id)
    commit_run(ledger.parts(), [(m, ledger.keep(m)) for m in grown])  # only added: committed
    assert check(ledger.registry, "ds").allowed
    replaced = claimed(ledger, "r3", {**shards, "part-1.jsonl": [{"prompt": "x",
                                                                  "response": "y"}]},
                       grown[2].checkpoint_id)
    with pytest.raises(NotAppendOnly, match="^ds run r3 replaces shard part-1.jsonl of "
                                            "version r2"):
        commit_run(ledger.parts(), [(m, ledger.keep(m)) for m in replaced])
    assert all(ledger.registry.get(m.checkpoint_id) is None for m in replaced)
    # Its attested manifests stay in the store, but it can never be committed: the default
    # gate does not wait for it as a newer run, and still allows r2.
    v = check(ledger.registry, "ds", store=ledger.store)
    assert v.allowed and v.run == "r2", v.reason
    for m in replaced[:2]:  # format 1 commits a stage at a time: the validated one is refused
        ledger.commit(m)
    with pytest.raises(HashMismatch, match="refusing to commit ds/r3/validated: ds run r3 "
                                           "replaces shard part-1.jsonl"):
        commit_manifest(ledger.parts(), replaced[2], ledger.keep(replaced[2]))
    stale = claimed(ledger, "r4", shards, first[2].checkpoint_id)  # skips r2
    with pytest.raises(NotAppendOnly, match="latest passed version on chain is checkpoint"):
        require_append_only(ledger.registry, stale[2])


def test_the_gate_denies_a_committed_version_whose_claim_fails(ledger) -> None:
    """A version committed without the check (another tool, an older laas) is denied by the
    gate, naming the shard; the version it claims to extend is still allowed by --run."""
    shards = sample_shards(2)
    first = ledger.ingest("ds", "r1", shards)
    for m in claimed(ledger, "r2", {"part-0.jsonl": shards["part-0.jsonl"]},
                     first[2].checkpoint_id):
        ledger.commit(m)
    v = check(ledger.registry, "ds")
    assert not v.allowed and "drops shard part-1.jsonl of version r1" in v.reason
    assert check(ledger.registry, "ds", run="r1").allowed


def test_the_prefect_artifact_of_a_version_names_what_it_extends_and_added() -> None:
    from laas.tasks.versions import version_markdown

    old = version("a", entry("k1"), entry("k2"))
    new = version("b", entry("k1"), entry("k2"), entry("k3", rows=7),
                  versioning="append_only", appends_to=H)
    md = version_markdown(old, new)
    assert f"Extends run `a` (checkpoint `{H}`): its 2 shard(s) kept" in md
    assert "- added `k3`: content `0x1111" in md and "7 rows" in md
    assert "first version: 1 shard(s)" in version_markdown(None, version(
        "c", entry("k1"), versioning="append_only"))
    many = version("d", *(entry(f"n{i}") for i in range(25)), versioning="append_only",
                   appends_to=H)
    assert "… and 5 more (`laas diff ds`)" in version_markdown(version("a", entry("x")), many)
