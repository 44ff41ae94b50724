"""Incremental runs, the pure rules (laas.anchors.core.reuse) and the pipeline hash: which
shards may reuse the previous passed run's results, and why the others may not. No chain,
Prefect or Dask here (tests/test_incremental_pipeline.py runs them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from laas.anchors.core.models import ShardEntry, StageManifest, new_manifest
from laas.anchors.core.reuse import confirm, keeps_filtered, plan_reuse
from laas.tasks.dataset_spec import load_spec
from laas.tasks.reuse_work import pipeline_hash

H = "0x" + "11" * 32
SPEC = load_spec("instruct-sample")
PIPE = pipeline_hash(SPEC)


def raw_entry(key: str, digest: str = H, uri: str | None = None) -> ShardEntry:
    uri = uri or f"/src/{key}"
    return ShardEntry(key=key, uri=uri, source_uri=uri, byte_size=10, content_hash=digest)


def stage(name: str, run: str, shards: list[ShardEntry], **fields: object) -> StageManifest:
    return new_manifest("d", run, name, "s", shards, passed=True, **fields)


def previous(keys: list[str], pipe: str | None = PIPE, aside: str | None = None
             ) -> tuple[StageManifest, StageManifest, StageManifest]:
    raws = [raw_entry(k) for k in keys]
    norm = [ShardEntry(key=k, uri=f"/store/v1/normalized/{k}.parquet", source_uri=f"/src/{k}",
                       byte_size=5, rows=2, content_hash="0x" + "22" * 32,
                       **({"status": "quarantined", "reason": "bad"} if k == aside else {}))
            for k in keys]
    report = {"suite": "s", "suite_hash": "0x", "shards": [
        {"key": k, "success": True, "outcomes": []} for k in keys]}
    if pipe is not None:
        report["pipeline_hash"] = pipe
    return (stage("raw", "v1", raws), stage("normalized", "v1", norm),
            stage("validated", "v1", norm, validation=report))


def this_run(*entries: ShardEntry) -> StageManifest:
    return stage("raw", "v2", list(entries))


def test_unchanged_shards_are_reused_with_their_results_and_new_ones_counted() -> None:
    plan = plan_reuse(this_run(raw_entry("a"), raw_entry("b"), raw_entry("c")),
                      previous(["a", "b"]), PIPE)
    assert [r.key for r in plan.reused] == ["a", "b"] and plan.new == 1
    assert plan.from_run == "v1" and plan.not_reused == {}
    a = plan.reused[0]
    assert a.normalized.uri == "/store/v1/normalized/a.parquet"  # the previous run's file
    assert a.with_results(plan.results["a"]).validation["key"] == "a"  # back in the report
    assert a.prefilter(plan.results["a"]).uri == a.normalized.uri  # drop_rows filters it again
    assert plan.summary() | {"not_reused": {}} == {
        "from_run": "v1", "reused": 2, "processed": 1, "new": 1, "not_reused": {},
        "note": None}


def test_changed_bytes_a_moved_source_and_a_set_aside_shard_are_processed_again() -> None:
    plan = plan_reuse(this_run(raw_entry("a", "0x" + "99" * 32), raw_entry("b", uri="/x/b"),
                               raw_entry("c"), raw_entry("d")),
                      previous(["a", "b", "c", "d"], aside="c"), PIPE)
    assert [r.key for r in plan.reused] == ["d"]
    assert plan.not_reused == {"a": "source bytes changed", "b": "source moved (another URI)",
                               "c": "set aside by run v1: processed again"}


def test_another_pipeline_or_an_older_run_reuses_nothing() -> None:
    other = plan_reuse(this_run(raw_entry("a")), previous(["a"]), "0x" + "00" * 32)
    assert other.reused == () and other.new == 1 and "settings" in other.note
    old = plan_reuse(this_run(raw_entry("a")), previous(["a"], pipe=None), PIPE)
    assert old.reused == () and "predates incremental runs" in old.note


def test_a_run_of_another_dataset_or_stages_out_of_place_are_never_reused_from() -> None:
    """The previous run comes from the chain through an RPC endpoint: one that answers with
    a genuine run of another dataset, or with stages in the wrong places, gets nothing reused."""
    raw, norm, val = previous(["a"])
    other = tuple(m.model_copy(update={"dataset": "e", "dataset_id": "0x" + "ee" * 32})
                  for m in (raw, norm, val))
    plan = plan_reuse(this_run(raw_entry("a")), other, PIPE)
    assert plan.reused == () and plan.new == 1 and "stages of a run of d" in plan.note
    swapped = plan_reuse(this_run(raw_entry("a")), (raw, val, norm), PIPE)
    assert swapped.reused == () and "stages of a run of d" in swapped.note


def test_a_shard_whose_file_was_altered_leaves_the_plan_with_its_reason() -> None:
    plan = plan_reuse(this_run(raw_entry("a"), raw_entry("b")), previous(["a", "b"]), PIPE)
    checked = confirm(plan, {"a": "altered in the store (…): processed again"})
    assert [r.key for r in checked.reused] == ["b"]
    assert checked.not_reused == {"a": "altered in the store (…): processed again"}
    assert checked.summary()["processed"] == 1 and checked.summary()["reused"] == 1


def test_a_reused_shard_is_filtered_again_when_its_duplicates_may_have_changed() -> None:
    (r,) = plan_reuse(this_run(raw_entry("a")), previous(["a"]), PIPE).reused
    label = "expect_column_values_to_be_unique(_laas_text_hash)"
    assert keeps_filtered(r, 0, label)  # had none, has none: its file holds
    assert not keeps_filtered(r, 3, label)  # a new shard before it holds its rows first
    had = r.model_copy(update={"validated": r.validated.model_copy(
        update={"dropped": {label: 2}})})
    assert not keeps_filtered(had, 0, label)  # the shard that held them first changed
    assert keeps_filtered(had, 5, None)  # no dataset-wide dedupe in the suite


def test_the_pipeline_hash_follows_what_decides_the_output_and_nothing_else() -> None:
    same = [SPEC.model_copy(update={"name": "other", "description": "x", "source": "/else/*",
                                    "reuse": False, "versioning": "append_only"})]
    changed = [SPEC.model_copy(update={"on_failure": "quarantine"}),
               SPEC.model_copy(update={"max_dropped_rows": 0.5}),
               SPEC.model_copy(update={"format": "json"}),
               SPEC.model_copy(update={"columns": SPEC.columns[:-1]}),
               SPEC.model_copy(update={"suite": SPEC.suite.model_copy(
                   update={"expectations": SPEC.suite.expectations[:-1]})})]
    assert {pipeline_hash(s) for s in same} == {PIPE}
    assert len({pipeline_hash(s) for s in changed} | {PIPE}) == len(changed) + 1


def _made(tmp_path, with_sha256: bool) -> list:  # noqa: ANN001 - pytest's tmp_path
    """Two sample shards normalized now, as a run would reuse them; without their files'
    sha256 as an older run (laas-manifest-v2/v3) committed them."""
    from laas.anchors.core.reuse import Reused
    from laas.tasks.normalizer import normalize
    from laas.tasks.raw_hashing import hash_raw

    made = []
    for key in ("part-00000.jsonl", "part-00002.jsonl"):
        uri = str(SPEC.spec_dir / "instruct-sample" / key)
        n = normalize(hash_raw(key, uri), SPEC, str(tmp_path / "normalized"), "failed")
        assert n.sha256 is not None  # the normalizer records it as it writes
        n = n if with_sha256 else n.model_copy(update={"sha256": None})
        made.append(Reused(key=key, normalized=n, validated=n))
    return made


def check_reused(reused: list, spec: object, hashes_dir: None) -> list:
    """The reuse check as the flow runs it: a v4 shard by its files' bytes (only their URIs
    and digests go to the worker), an older one by its table hash."""
    from laas.tasks.reuse_work import by_bytes, check_files, files_of
    from laas.tasks.reuse_work import check_reused as by_table

    return [check_files([files_of(r)])[0] if by_bytes(r) else by_table([r], spec, hashes_dir)[0]
            for r in reused]


@pytest.mark.parametrize("with_sha256", [True, False], ids=["by-sha256", "older-by-table"])
def test_the_reuse_check_refuses_files_altered_in_the_store(tmp_path, with_sha256) -> None:
    import shutil

    made = _made(tmp_path, with_sha256)
    assert check_reused(made, SPEC, None) == [None, None]
    # a shard whose rows were dropped has a validated file of its own: checked as well
    kept = made[1].normalized.model_copy(update={"uri": str(tmp_path / "kept.parquet")})
    shutil.copyfile(made[1].normalized.uri, kept.uri)
    derived = made[0].model_copy(update={"validated": kept.model_copy(update={
        "parent_hash": made[0].normalized.content_hash, "rows_in": kept.rows + 1})})
    assert check_reused([derived], SPEC, None) == [None]
    shutil.copyfile(made[0].normalized.uri, kept.uri)
    (why,) = check_reused([derived], SPEC, None)
    assert "kept.parquet" in why and ("no longer hashes to its leaf" in why or
                                      "not the" in why and "its run committed" in why)
    shutil.copyfile(made[1].normalized.uri, made[0].normalized.uri)  # a's file, b's rows
    first, second = check_reused(made, SPEC, None)
    assert "altered in the store" in first and second is None
    assert ("sha256" if with_sha256 else "changed since") in first


def test_a_reused_file_rewritten_to_the_same_rows_or_the_same_size_is_not_reused(tmp_path
                                                                                ) -> None:
    """Attacks on the check by bytes: the same table under another codec (its table hash,
    the leaf, is unchanged: only the bytes tell), and other bytes of the committed size."""
    import pyarrow.parquet as pq

    from laas.anchors.adapters.files import rehash_parquet_at

    a, b = _made(tmp_path, True)
    path = a.normalized.uri
    pq.write_table(pq.read_table(path), path, compression="snappy")
    assert rehash_parquet_at(path)[0].hex() == a.normalized.content_hash[2:]  # same rows
    (why,) = check_reused([a], SPEC, None)
    assert why is not None and "altered in the store" in why and "sha256" in why
    size = Path(b.normalized.uri).stat().st_size
    data = bytearray(Path(b.normalized.uri).read_bytes())
    data[size // 2] ^= 0xFF  # one byte inside the data: same size, other content
    Path(b.normalized.uri).write_bytes(bytes(data))
    assert Path(b.normalized.uri).stat().st_size == size
    (why,) = check_reused([b], SPEC, None)
    assert why is not None and "altered in the store" in why
