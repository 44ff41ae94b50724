"""What `laas run` prints of the shards it set aside: a run over Debian's copyright files
(783 shards, 750 set aside for contact details and repeated license texts) printed a line
per shard, pushing its verdict and next steps out of sight; now the first 20, and a count."""

from __future__ import annotations

from types import SimpleNamespace

from laas.commands.common import out
from laas.commands.versions import print_set_aside


def test_set_aside_shards_are_listed_up_to_twenty_then_counted() -> None:
    aside = [SimpleNamespace(status="quarantined", key=f"pkg{i:03d}/copyright",
                             reason="3 of 17 rows fail: over max_dropped_rows 10%")
             for i in range(750)]
    dropped = {f"kept{i}/copyright": "1 of 14 rows dropped" for i in range(3)}
    with out.capture() as captured:
        print_set_aside(SimpleNamespace(set_aside=aside, rows_dropped=dropped))
    lines = captured.get().splitlines()
    assert lines[:20] == [f"  quarantined pkg{i:03d}/copyright: 3 of 17 rows fail: over "
                          "max_dropped_rows 10%" for i in range(20)]
    assert lines[20] == "  … and 730 more shard(s) set aside (--json lists them)"
    assert lines[21:] == [f"  rows dropped kept{i}/copyright: 1 of 14 rows dropped"
                          for i in range(3)]


def test_a_stage_logs_twenty_shards_set_aside_then_counts_them(monkeypatch) -> None:
    """Each line is a log record sent to Prefect's server: 20,000 shards set aside sent
    20,000 per stage."""
    import logging

    from laas.anchors.core.models import ShardEntry
    from laas.tasks import stages
    from tests.fakes import manifest

    shards = [ShardEntry(key=f"s{i:02d}.csv", uri=f"/n/s{i:02d}.parquet", source_uri="/r",
                         byte_size=1, rows=1, content_hash="0x" + "11" * 32,
                         status="quarantined", reason="bad") for i in range(25)]
    monkeypatch.setattr(stages, "_store", lambda ctx, m: None)
    records: list[logging.LogRecord] = []
    logger = logging.getLogger("test-run-output")
    logger.addHandler(handler := logging.Handler())
    handler.emit = records.append  # type: ignore[method-assign]
    monkeypatch.setattr(stages, "get_run_logger", lambda: logger)
    stages._log(None, manifest("ds", "r1", "normalized", shards, passed=False))
    warned = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert warned[:20] == [f"normalized: shard s{i:02d}.csv quarantined: bad" for i in range(20)]
    assert warned[20:] == ["normalized: and 5 more shard(s) set aside (its manifest and "
                           "`laas run --json` list each)"]


def test_the_stage_artifacts_list_some_shards_then_count_them(monkeypatch) -> None:
    """Prefect's server refused the events of a run over 17,619 man pages (15,998 set aside:
    a 2.7 MB table, a 2 MB summary); past the first ones, the artifacts count."""
    from laas.tasks import manifests
    from tests.fakes import FakeLedger

    aside = {f"p{i:02d}.txt": "no row is left" for i in range(30)}
    ledger = FakeLedger()
    m = ledger.ingest("ds", "r1", {k: [{"text": k}] for k in aside}, set_aside=aside)[2]
    md = manifests.stage_markdown(m, ledger.registry.get(m.checkpoint_id))
    assert "- quarantined `p19.txt`: no row is left" in md and "p20.txt" not in md
    assert md.count("- quarantined") == 20 and "- … and 10 more set aside" in md

    failed = {"success": False, "type": "expect_column_values_to_be_unique", "column": "text",
              "severity": "error", "unexpected_count": 1, "examples": ["x"]}
    monkeypatch.setattr(manifests, "results_of", lambda m: {
        f"s{i:03d}": {"outcomes": [failed, failed | {"success": True}]} for i in range(250)})
    rows = manifests.failed_expectations(m)
    assert [r["shard"] for r in rows[:200]] == [f"s{i:03d}" for i in range(200)]
    assert rows[200]["shard"].startswith("… and 50 more failed expectation(s)")
    assert len(rows) == 201
