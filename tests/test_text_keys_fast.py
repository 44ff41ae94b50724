"""The duplicate keys' fast paths against the row-by-row definition (text.text_key /
text_hash): the joined normalization (text_norm) and the copy of a repeated row's key
(same_rows), on rows made to hit their edges, on every batch shape they split on, and on text
from this machine nobody on the project wrote."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from laas.validators import same_rows, text_keys
from laas.validators.spec import TEXT_KEY_SCHEME, TEXT_KEY_V1
from laas.validators.text import text_hash, text_hashes, text_key

_PIECES = ["a", "B", " ", "  ", "   ", "\t", "\n", "\r\n", "\x0b", "\x0c", "\x1c", "\x1f", "\x00",
           "\x07", "é", "É", "ß", "ﬁ", "\u00a0", "\u3000", "x", "Z", "9", "@", "\ufffd", "İ",
           "ΣΑ", "\u0301", "\U0001f600"]


def _columns(rnd: random.Random, k: int, n: int, ascii_only: bool = False) -> list[list]:
    cols = [[None if rnd.random() < 0.1 else "".join(
        rnd.choice(_PIECES) for _ in range(rnd.choice([0, 1, 2, 5, 30]))) for _ in range(n)]
        for _ in range(k)]
    if ascii_only:
        cols = [[v.encode("ascii", "ignore").decode() if v else v for v in c] for c in cols]
    # repeats, near or far, so the copied keys are exercised too
    for c in cols:
        for i in range(0, n, 7):
            if n > 1:
                c[i] = c[rnd.randrange(n)]
    return cols


def _definition(scheme: str):  # noqa: ANN202 - the key function of a scheme
    return text_key if scheme == TEXT_KEY_SCHEME else text_hash


@pytest.mark.parametrize("scheme", [TEXT_KEY_SCHEME, TEXT_KEY_V1])
def test_keys_of_edge_rows_in_one_two_and_three_columns_are_the_definition(scheme: str) -> None:
    """Whitespace runs at the ends of every column and across rows (a row ending with a space
    before one starting with one), blank and null columns, controls that are no whitespace,
    characters only Python normalizes; as given and as a slice whose offsets do not start
    at zero."""
    rnd = random.Random(11)
    key = _definition(scheme)
    for trial in range(120):
        cols = _columns(rnd, rnd.randint(1, 3), rnd.randint(0, 60), ascii_only=trial % 3 == 0)
        want = [key(list(r)) for r in zip(*cols, strict=True)]
        assert text_hashes(cols, scheme) == want, trial
        sliced = [pa.array(["  pad  ", *c], pa.string()).slice(1) for c in cols]
        assert text_hashes(sliced, scheme) == want, trial


def test_keys_made_in_many_slices_are_the_definition(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slices of rows are keyed on several threads: a python-only row or a repeat in a later
    slice gets its own key, not its neighbour's."""
    monkeypatch.setattr(text_keys, "_SLICE", 7)
    rnd = random.Random(3)
    for trial in range(40):
        cols = _columns(rnd, rnd.randint(1, 3), rnd.randint(0, 200))
        assert text_hashes(cols) == [text_key(list(r)) for r in zip(*cols, strict=True)], trial


def test_a_repeated_row_gets_the_key_of_its_first_and_only_an_equal_row_does() -> None:
    rows = [("a", "b"), ("x", "y"), ("a", "b"), ("a", "c"), ("x", "y"), ("a", "b"), ("", "")]
    texts = [pa.array([r[i] for r in rows], pa.large_string()) for i in range(2)]
    assert same_rows.first_equal(texts).tolist() == [0, 1, 0, 3, 1, 0, 6]
    distinct = [pa.array(["p", "q", "r"], pa.large_string())]
    assert same_rows.first_equal(distinct) is None


def test_rows_sharing_their_shortest_column_only_are_no_repeat() -> None:
    """Repeats are found by the shortest column, then every other column is compared byte for
    byte: rows alike in that column only (or after normalization only) keep their own keys,
    and the keys are still the definition's."""
    cols = [["1", "1", "1", "1", "1", "2"], ["a", "b", "a", "A", "b ", "c"]]
    texts = [pa.array(c, pa.large_string()) for c in cols]
    assert same_rows.first_equal(texts).tolist() == [0, 1, 0, 3, 4, 5]
    assert text_hashes(cols) == [text_key(list(r)) for r in zip(*cols, strict=True)]
    assert text_hashes([["p", "q"]]) == [text_key(["p"]), text_key(["q"])]


def test_a_column_of_ascii_and_non_ascii_rows_is_lowered_row_by_row_as_defined() -> None:
    """Arrow lowers a column's ASCII rows with ascii_lower and only its non-ASCII ones with
    utf8_lower, spliced back in row order: rows whose lower case is longer in UTF-8 (Ⱥ -> ⱥ,
    two bytes to three) or shorter, between ASCII rows, in a slice, keep their own text."""
    col = ["ABC  Def", "ȺB\tC", "", "x Y", "ⱯZ ", "Ω  é", "PLAIN", "ΣΑΣ", None, "İi"]
    other = ["Q", "r", "ȾT", "", "u", "V  W", "Ⱥ", "x", "y", "z"]
    want = [text_key(list(r)) for r in zip(col, other, strict=True)]
    assert text_hashes([col, other]) == want
    sliced = [pa.array(["  PAD Ⱥ ", *c], pa.string()).slice(1) for c in (col, other)]
    assert text_hashes(sliced) == want


def _machine_text(limit: int) -> list[str]:
    """Lines and paragraphs of files on this machine: package documentation, CSVs shipped in
    packages, installed Python sources."""
    roots = [Path("/usr/share/doc"), Path(sys.prefix) / "lib"]
    out: list[str] = []
    for root in roots:
        for p in sorted(root.rglob("*"))[:4000]:
            if p.suffix not in (".md", ".rst", ".txt", ".csv", ".py", "") or not p.is_file():
                continue
            try:
                text = p.read_bytes()[:20_000].decode("utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            out += text.split("\n\n") + text.splitlines()[:50]
            if len(out) >= limit:
                return out[:limit]
    return out


@pytest.mark.slow
def test_keys_of_text_from_this_machine_are_the_definition() -> None:
    texts = _machine_text(60_000)
    if len(texts) < 1000:
        pytest.skip("no documentation or sources on this machine")
    cols = [texts, texts[1:] + texts[:1]]
    assert text_hashes(cols) == [text_key(list(r)) for r in zip(*cols, strict=True)]
