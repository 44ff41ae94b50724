"""Keys and reasons from the bucket in the Prefect UI's markdown: rendered by a CommonMark
renderer (markdown-it, as the UI's is), a hostile key adds no link, image, HTML or heading,
and shows as it is."""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

from laas.tasks.markdown import code, plain

HOSTILE = ["x](https://evil.example) [click", "![i](https://evil.example/p.png)",
           "<img src=x onerror=alert(1)>", "a\n# Heading\n- item", "``double`` and `one`",
           "`edge`", "|pipe|", "*em* _u_ ~~s~~", "back\\slash\\`", "tab\tcr\r", "plain.jsonl"]


def _html(md: str) -> str:
    return MarkdownIt("commonmark").enable("table").render(md)


@pytest.mark.parametrize("key", HOSTILE)
def test_a_key_is_one_code_span_showing_the_key(key: str) -> None:
    html = _html(f"- quarantined {code(key)}: why")
    assert "<a " not in html and "<img" not in html and "<h1" not in html
    assert html.count("<li>") == 1 and html.count("<code>") == 1
    shown = html.split("<code>")[1].split("</code>")[0]
    expect = key.replace("\n", "\\x0a").replace("\t", "\\x09").replace("\r", "\\x0d")
    assert shown.strip() == expect.replace("&", "&amp;").replace("<", "&lt;").replace(
        ">", "&gt;").replace('"', "&quot;").strip()


@pytest.mark.parametrize("reason", HOSTILE)
def test_a_reason_is_plain_text(reason: str) -> None:
    html = _html(f"- quarantined `k`: {plain(reason)}")
    assert "<a " not in html and "<img" not in html and "<h1" not in html
    assert "<em>" not in html and "<strong>" not in html and "<s>" not in html
    assert html.count("<li>") == 1 and html.count("<code>") == 1


def test_a_stage_artifact_lists_a_hostile_key_as_itself() -> None:
    from laas.tasks.manifests import stage_markdown
    from tests.fakes import FakeLedger

    bad = "x](https://evil.example)\n# owned"
    ledger = FakeLedger()
    m = ledger.ingest("ds", "r1", {bad: [{"text": "t"}]},
                      set_aside={bad: f"shard {bad}: [see](https://evil.example)"})[2]
    html = _html(stage_markdown(m, ledger.registry.get(m.checkpoint_id)))
    assert "evil.example" in html and 'href="https://evil.example' not in html
    assert "owned</h1>" not in html and "<h1>" in html  # the artifact's own title only
