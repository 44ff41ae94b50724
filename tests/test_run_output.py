"""What `laas run` prints of the shards it set aside: a run over Debian's copyright files
(783 shards, 750 set aside for contact details and repeated license texts) printed a line
per shard, pushing its verdict and next steps out of sight; now the first 20, and a count."""

from __future__ import annotations

from types import SimpleNamespace

from laas.commands.common import out
from laas.commands.run_summary import print_set_aside


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


def _stage_warnings(monkeypatch, aside: list[tuple[str, str]]) -> list[str]:  # noqa: ANN001
    """What a normalized stage setting aside these (key, reason) shards logs as warnings."""
    import logging

    from laas.anchors.core.models import ShardEntry
    from laas.tasks import stages
    from tests.fakes import manifest

    shards = [ShardEntry(key=key, uri=f"/n/{i}.parquet", source_uri="/r", byte_size=1, rows=1,
                         content_hash="0x" + "11" * 32, status="quarantined", reason=reason)
              for i, (key, reason) in enumerate(aside)]
    monkeypatch.setattr(stages, "_store", lambda ctx, m: None)
    records: list[logging.LogRecord] = []
    logger = logging.getLogger("test-run-output")
    logger.addHandler(handler := logging.Handler())
    handler.emit = records.append  # type: ignore[method-assign]
    monkeypatch.setattr(stages, "get_run_logger", lambda: logger)
    try:
        stages._log(None, manifest("ds", "r1", "normalized", shards, passed=False))
    finally:
        logger.removeHandler(handler)
    return [r.getMessage() for r in records if r.levelno == logging.WARNING]


def test_a_stage_logs_twenty_shards_set_aside_then_counts_them(monkeypatch) -> None:
    """Each line is a log record sent to Prefect's server: 20,000 shards set aside sent
    20,000 per stage."""
    warned = _stage_warnings(monkeypatch, [(f"s{i:02d}.csv", "bad") for i in range(25)])
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
    from laas.anchors.core import results

    monkeypatch.setattr(results, "results_of", lambda m: {
        f"s{i:03d}": {"outcomes": [failed, failed | {"success": True}]} for i in range(250)})
    rows = manifests.failed_expectations(m)
    assert [r["shard"] for r in rows[:200]] == [f"s{i:03d}" for i in range(200)]
    assert rows[200]["shard"].startswith("… and 50 more failed expectation(s)")
    assert len(rows) == 201


def test_keys_and_reasons_from_the_bucket_print_as_they_are(monkeypatch) -> None:
    """Rich read `[/]` in an S3 key as a closing tag: `laas run` crashed with MarkupError after
    its commit, and `[bold]` in a key was swallowed (the key shown was not the key)."""
    from laas.anchors.core.models import ShardEntry
    from laas.commands import run_summary

    odd = "s3://odd/crawl/aa[/x] b[bold]c.jsonl"
    entry = ShardEntry(key="aa[/x] b[bold]c.jsonl", uri="/v/x.parquet", source_uri=odd,
                       byte_size=1, rows=1, content_hash="0x" + "11" * 32)
    aside = ShardEntry(key="[/]first.jsonl", uri="/v/f", source_uri="s3://odd/crawl/[/]first",
                       byte_size=1, rows=0, content_hash=None, status="quarantined",
                       reason="not valid jsonl at line 1: [red]x[/]")
    monkeypatch.setattr("laas.anchors.adapters.artifacts.read_manifest",
                        lambda uri: SimpleNamespace(shards=[entry]))
    summary = SimpleNamespace(
        dataset="odd-s3", run="r1", checkpoints=[], pending=(), set_aside=[aside],
        rows_dropped={entry.key: "1 of 2 rows dropped [/]"}, dataset_checks=(), seconds={},
        passed=True, reuse={"reused": 1, "from_run": "r0", "processed": 1, "new": 0,
                            "not_reused": {"[/]first.jsonl": "set aside by run r0"}})
    summary.checkpoints = [SimpleNamespace(stage="validated", shard_count=1, passed=True,
                                           shards_root="0x" + "22" * 32, block_number=2,
                                           gas_used=1, tx_hash="0x" + "33" * 32,
                                           manifest_uri="/m.json")]
    monkeypatch.setattr(run_summary, "_tx", str)
    with out.capture() as captured:
        run_summary.print_summary(summary)
    text = captured.get()
    assert "  quarantined [/]first.jsonl: not valid jsonl at line 1: [red]x[/]\n" in text
    assert "  rows dropped aa[/x] b[bold]c.jsonl: 1 of 2 rows dropped [/]\n" in text
    assert "  not reused [/]first.jsonl: set aside by run r0\n" in text
    # the line is there to be pasted into a shell: the key's space and brackets quoted
    assert f"lineage of one shard:  laas lineage '{odd}'\n" in text


def test_an_error_naming_a_bracketed_key_is_one_plain_line(tmp_path, monkeypatch,
                                                           capsys) -> None:
    import sys

    import pytest

    from laas.cli import main
    from laas.settings import get_settings

    monkeypatch.setenv("LAAS_HOME", str(tmp_path))
    monkeypatch.setattr(sys, "argv", ["laas", "gate", "x[/]y[bold]z"])
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit) as e:
            main()
    finally:
        get_settings.cache_clear()
    assert e.value.code == 2
    assert capsys.readouterr().err.startswith("error: no dataset spec named 'x[/]y[bold]z' ")


def test_control_characters_from_the_bucket_never_reach_the_terminal() -> None:
    """An S3 key may hold ESC: printed, `\\x1b[1A\\x1b[2K` moved the cursor up and erased the
    line, so a key could overwrite a DENY with a forged ALLOW. Each control character shows as
    one U+FFFD; a styled line keeps its colours."""
    from rich.console import Console

    from laas.anchors.core.listing import visible
    from laas.commands.common import _Shown, said
    from laas.commands.run_summary import print_set_aside

    key = "k\x1b[1A\x1b[2K\x1b[32mALLOW x\x07.jsonl"
    with out.capture() as captured:
        print_set_aside(SimpleNamespace(set_aside=[SimpleNamespace(
            status="quarantined", key=key, reason="bad\x1b[0m")], rows_dropped={}))
        out.print(f"lineage of {key}")
    text = captured.get()
    assert "\x1b" not in text and "\x07" not in text
    assert "  quarantined k\ufffd[1A\ufffd[2K\ufffd[32mALLOW x" in text  # (rich drops the BEL)
    assert "\nlineage of k\ufffd[1A\ufffd[2K\ufffd[32mALLOW x\ufffd.jsonl\n" in text
    colour = _Shown(force_terminal=True, color_system="standard", markup=False)
    assert isinstance(colour, Console)
    with colour.capture() as styled:
        colour.print(said("DENY", "red"), key, highlight=False)
    assert styled.get().startswith("\x1b[31mDENY\x1b[0m k\ufffd[1A")  # only laas's own colour
    assert visible("tab\tand\nnewline\r") == "tab\tand\ufffdnewline\ufffd"


def test_a_key_holding_a_newline_cannot_print_a_line_of_its_own() -> None:
    """A file or S3 key may hold a newline: printed among the shards set aside, its tail was a
    line of the key's choosing ("ALLOW …") under laas's DENY."""
    from laas.commands.run_summary import print_set_aside

    key = "a.jsonl\nALLOW instruct-sample: 8 shard(s) proven\r\nb"
    with out.capture() as captured:
        print_set_aside(SimpleNamespace(set_aside=[SimpleNamespace(
            status="quarantined", key=key, reason="not valid\njsonl")], rows_dropped={}))
    lines = captured.get().splitlines()
    assert len(lines) == 1 and lines[0].startswith("  quarantined a.jsonl\ufffdALLOW "), lines
    assert lines[0].endswith("b: not valid\ufffdjsonl"), lines


def test_a_stage_logs_a_key_with_control_characters_shown(monkeypatch) -> None:
    """Prefect prints a run's logs to the terminal too."""
    warned = _stage_warnings(monkeypatch, [("a\x1b[2Jb.csv", "x\x1b[1A")])
    assert warned == ["normalized: shard a\ufffd[2Jb.csv quarantined: x\ufffd[1A"]
