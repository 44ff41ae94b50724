"""Turning a stage's shard entries into its manifest: root, verdict, validation report."""

from __future__ import annotations

from typing import Any

from laas.anchors.core.canonical import hash_plain
from laas.anchors.core.hashing import BYTES_SCHEME, TABLE_SCHEME
from laas.anchors.core.listing import SHOWN, first_of
from laas.anchors.core.models import Checkpoint, ShardEntry, StageManifest, new_manifest
from laas.anchors.core.results import compact, failed_results
from laas.anchors.core.shard_columns import column, derived, picked
from laas.tasks.dataset_spec import DatasetSpec
from laas.tasks.markdown import code, plain
from laas.tasks.reuse_work import pipeline_hash
from laas.validators.report import ExpectationOutcome, ValidationReport

SCHEMES = {"raw": BYTES_SCHEME, "normalized": TABLE_SCHEME, "validated": TABLE_SCHEME}


def build_manifest(spec: DatasetSpec, run: str, stage: str, entries: list[ShardEntry],
                   parents: tuple[str, ...] = (),
                   dataset_checks: tuple[ExpectationOutcome, ...] = (),
                   claim: dict | None = None,
                   results: dict[str, dict] | None = None) -> StageManifest:
    """A stage passes when it accepted at least one shard, none is marked failed
    (quarantined shards are set aside by policy and do not fail the stage) and every
    dataset-wide `error` check held. `claim`: an append-only version's (tasks.versions).
    `results`: the validated shards' results by key (SharedOutcomes.results, and the reused
    shards' apart from their entries as committed), for entries that do not carry their own."""
    entries = sorted(entries, key=lambda e: e.key)
    fields = dict(claim or {})
    dataset_ok = True
    if stage == "validated":
        # The shards' results are ShardValidation dumps already (made on the workers, their
        # equal outcomes shared): they go into the report as they are, which is the report's
        # model_dump (format laas-report-v2, laas-manifest-v5: each distinct outcome list
        # once), without a pydantic object and more copies per shard.
        head = ValidationReport(suite=spec.suite.name, suite_hash=spec.suite.suite_hash,
                                shards=(), dataset=dataset_checks,
                                csv_dialect=spec.csv.committed,
                                pipeline_hash=pipeline_hash(spec))
        dataset_ok = head.dataset_success
        report = compact(head.model_dump(mode="json", exclude={"shards"}),
                         (result_of(e, results or {}) for e in entries))
        fields |= {"validation": report, "result_hash": hash_plain(report)}
        # v2: each shard's results are stored once, in the report the result hash commits to.
        entries = [e if e.validation is None else e.model_copy(update={"validation": None})
                   for e in entries]
    return new_manifest(
        spec.name, run, stage, SCHEMES[stage], entries, parents=parents,
        passed=dataset_ok and any(e.status == "ok" for e in entries)
        and all(e.status != "failed" for e in entries),
        **fields,
    )


def result_of(e: ShardEntry, results: dict) -> dict | None:
    """A validated entry's results: its own, or else those given for its key."""
    return e.validation if e.validation is not None else results.get(e.key)


class SharedOutcomes:
    """Shard results as they come back from the workers, each distinct outcome and outcome
    list kept once, apart from the entries (`results`, by shard key), which keep none: a
    batch's shards share their equal outcomes (one pickle), but batches arrive as copies, and
    a stage of 100,000 shards held ~10 KB of equal outcome dicts per shard in the flow
    process, then each shard's entry twice (with its results, and copied without them for
    the manifest). The report, and so the manifest's bytes, do not change."""

    def __init__(self) -> None:
        self._seen: dict[str, Any] = {}
        self._lists: dict[tuple[int, ...], list] = {}
        self.results: dict[str, dict[str, Any]] = {}

    def __call__(self, entries: list[ShardEntry]) -> list[ShardEntry]:
        return [self._one(e) if e.validation else e for e in entries]

    def _one(self, e: ShardEntry) -> ShardEntry:
        # repr of plain JSON data: equal reprs are equal values (a miss only costs memory);
        # the outcomes kept in _seen keep their ids, so equal id tuples are equal lists
        shared = {k: self._list([self._seen.setdefault(repr(x), x) for x in v])
                  if isinstance(v, list) else v for k, v in e.validation.items()}
        self.results[e.key] = shared
        return e.model_copy(update={"validation": None})

    def _list(self, items: list) -> list:
        return self._lists.setdefault(tuple(map(id, items)), items)


# Failed expectations a stage's table artifact lists one by one: Prefect's server refuses an
# event over 1.5 MB (a run over 17,619 man pages, 15,998 set aside, made 2.7 MB).
TABLED = 200


def stage_markdown(m: StageManifest, cp: Checkpoint, tx_link: str | None = None) -> str:
    """A stage's summary for people: counts, verdict, root, transaction (linked to the
    network's explorer when there is one), links."""
    tx = f"[`{cp.tx_hash}`]({tx_link})" if tx_link else f"`{cp.tx_hash}`"
    ok = m.accepted_count
    lines = [
        f"# {m.dataset} · run `{m.run}` · {m.stage}",
        "",
        "| shards | accepted | set aside | passed | Merkle root | transaction | block |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        f"| {len(m.shards)} | {ok} | {len(m.shards) - ok} | "
        f"{'yes' if cp.passed else '**no**'} | `{cp.shards_root}` | {tx} | "
        f"{cp.block_number} |",
        "",
        f"- checkpoint `{cp.checkpoint_id}`",
        f"- manifest [{cp.manifest_uri.rsplit('/', 1)[-1]}]({cp.manifest_uri}) "
        f"(keccak256 `{cp.manifest_hash}`)",
    ]
    docs = next((d for d in column(m.shards, "docs_uri") if d), None)  # no entry made
    if docs:
        lines.append(f"- Data Docs: [{docs.rsplit('/', 1)[0]}/]({docs.rsplit('/', 1)[0]}/)")
    lines += first_of([f"- {s.status} {code(s.key)}: {plain(s.reason or '')}"
                       for s in m.quarantined], SHOWN,
                      lambda n: f"- … and {n} more set aside (the manifest lists each)")
    for c in (m.validation or {}).get("dataset", []):
        lines.append(f"- dataset check `{c['type']}`: {'held' if c['success'] else '**failed**'}"
                     f" ({c['observed']})")
    return "\n".join(lines)


def failed_expectations(m: StageManifest) -> list[dict]:
    """One row per failed expectation per shard, for a table artifact: the first TABLED, then
    a row counting the rest."""
    rows, more = [], 0
    for key, outcomes in failed_results(m):
        for o in outcomes:
            if o["success"]:
                continue
            if len(rows) == TABLED:
                more += 1
                continue
            rows.append({"shard": key, "expectation": o["type"],
                         "column": o["column"] or "", "severity": o["severity"],
                         "unexpected": o["unexpected_count"],
                         "example": repr(o["examples"][0]) if o["examples"] else ""})
    if more:
        rows.append({"shard": f"… and {more} more failed expectation(s): the Data Docs and "
                              "the validated report hold each", "expectation": "", "column": "",
                     "severity": "", "unexpected": "", "example": ""})
    return rows


def publish_artifacts(m: StageManifest, cp: Checkpoint, tx_link: str | None = None) -> None:
    """What the Prefect UI shows of a stage: a markdown summary (its transaction linked to the
    network's explorer, if there is one), and for the validated stage a table of the
    expectations that failed."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    create_markdown_artifact(
        key=artifact_key(m.dataset, m.stage),
        markdown=stage_markdown(m, cp, tx_link),
        description=f"{m.dataset} run {m.run}: {m.stage} checkpoint")
    if m.stage == "validated":
        rows = failed_expectations(m)
        if rows:
            create_table_artifact(key=artifact_key(m.dataset, "failed-expectations"), table=rows,
                                  description=f"{m.dataset} run {m.run}: failed expectations")


def artifact_key(*parts: str) -> str:
    """A Prefect artifact key from names: lower case, every other character a dash."""
    return "".join(c if c.isalnum() else "-" for c in "-".join(parts).lower())


def rows_dropped(normalized: StageManifest, validated: StageManifest) -> dict[str, str]:
    """drop_rows: what was left out of each shard kept, as read and as validated."""
    read = {s.key: s.reason for s in derived(normalized.shards)}
    out = {}
    # only the shards with something to say are made: one left out at reading, or derived
    changed = {k for k, p in zip(column(validated.shards, "key"),
                                 column(validated.shards, "parent_hash"), strict=True)
               if p is not None}
    for s in picked(validated.shards, lambda k: k in read or k in changed):
        if s.status != "ok":
            continue
        said = [r for r in (read.get(s.key), s.reason if s.derived else None) if r]
        if said:
            out[s.key] = "; ".join(said)
    return out
