"""The PII screen of the builtin suites, on a table of what it must flag and what it must not:
emails (Unicode local parts included), phone numbers of several countries, card numbers, and
false friends from code and docs (versions, IPs, dates, hashes, decimals)."""

from __future__ import annotations

import re

import pyarrow as pa
import pytest

from laas.validators.gx_suite import check_frame
from laas.validators.suites import instruction_corpus
from laas.validators.text import PII_PATTERNS

PII = [
    "jane.doe@example.org", "josé@example.com", "Mail: 山田太郎@example.jp!",
    "o'brien+tag@sub.example.co.uk", "me@exämple.de",
    "Call me at +1 (415) 555-0100 tonight", "(415) 555-0100", "415.555.0199", "4155550100",
    "415-555-0100", "1-800-555-0199", "+1 415 555 0100", "+44 20 7946 0958",
    "(+44) 20 7946 0958", "+49 30 1234567", "+33 1 23 45 67 89", "+81 3-1234-5678",
    "+91 98765 43210", "020 7946 0958", "030 1234567", "tel:+4930123456",
    "4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111", "3782 822463 10005",
    "card 5500 0000 0000 0004.",
]
NOT_PII = [
    "version 1.2.3", "Windows 10.0.19041.1",
    "sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "on 2024-01-15 at 10:30:00", "2024/01/15", "ISBN 978-3-16-148410-0",
    "host 192.168.100.200", "pi = 3.14159265358979", "e = 2.718281828459045235",
    "ratio 0.123456789012345", "@property", "user@localhost", "npm i @types/node@18.11.9",
    "x = 1234567", "port 8080", "epoch 1700000000 s", "1,234,567,890", "commit a1b2c3d",
    "call 555-0100", "+1.2.3", "12:30:45.123456", "uuid 123e4567-e89b-12d3-a456-426614174000",
    "-0.5e-10", "chmod 0755 file",
    # from real documentation (Debian changelogs, package docs)
    "Mon, 01 Jan 2001 12:00:00 +1000", "commit 2419619759d3", "object 012512769f00",
    "INT64_MAX is 9223372036854775807", "00000000 00000001 00000002", "mask 0101000000",
    "?v=20160419091055.", "id=111352423504277&x", "ISBN 9783161484100",
]
SUITE = instruction_corpus(required=("prompt",), text_columns=("prompt",), clean_text="off")


@pytest.mark.parametrize("text", PII)
def test_pii_is_flagged(text: str) -> None:
    assert not check_frame("t", pa.table({"prompt": [text]}), SUITE).success


def test_false_friends_are_not_flagged() -> None:
    result = check_frame("t", pa.table({"prompt": NOT_PII}), SUITE)
    assert result.success, result.summary()


def test_counts_and_examples_on_a_mixed_table() -> None:
    texts = [x for pair in zip(NOT_PII, PII, strict=False) for x in pair]
    result = check_frame("t", pa.table({"prompt": texts}), SUITE)
    (o,) = [o for o in result.outcomes if o.type == "expect_column_values_to_be_free_of_pii"]
    assert o.unexpected_count == len(PII[:len(NOT_PII)])
    assert list(o.examples) == PII[:3]


def test_patterns_mean_the_same_in_python_re_as_in_re2() -> None:
    """No \\w \\d \\s in the screen: Python's re (pandas' fallback) and RE2 agree on it."""
    for p in PII_PATTERNS:
        assert not re.search(r"\\[wdsWDSb]", p), p
    alt = "|".join(PII_PATTERNS)
    assert all(re.search(alt, t) for t in PII)
    assert not any(re.search(alt, t) for t in NOT_PII)


def test_a_shared_scan_flags_each_row_for_what_it_holds() -> None:
    """PII and control characters share one scan of a column, then the PII screen looks only
    at the rows the clean-text check did not explain: a row holding both, either or neither
    is counted by each expectation as that expectation alone counts it."""
    from laas.validators.arrow_exec import compile_check, run_check

    suite = instruction_corpus(required=("prompt",), text_columns=("prompt",),
                               clean_text="error")
    texts = [t for pair in zip(PII, NOT_PII, strict=False) for t in pair] + [
        "bell\x07 jane@example.org", "bell\x07 only", "\ufffd 415-555-0100", None, ""]
    table = pa.table({"prompt": pa.array(texts, pa.string())})
    result = check_frame("t", table, suite)
    for e, o in zip(suite.expectations, result.outcomes, strict=True):
        alone = run_check(compile_check(e), table)  # None: the text-key column, made later
        assert alone is None or o.unexpected_count == int(alone.unexpected.sum()), e.type
    counts = {o.type: o.unexpected_count for o in result.outcomes}
    assert counts["expect_column_values_to_be_clean_text"] == 3
    assert counts["expect_column_values_to_be_free_of_pii"] == len(PII[:len(NOT_PII)]) + 2
