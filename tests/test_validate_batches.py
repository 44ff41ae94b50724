"""What validated_entries sees in production: pools of small shards, shards bigger than one
batch, frames cut from other frames."""

from __future__ import annotations

import hashlib

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from laas.datasets.make_sample import rows
from laas.validators.gx_suite import check_frame, check_in_batches, check_pool
from laas.validators.spec import TEXT_KEY_SCHEME, TEXT_KEY_V1, ExpectationSpec, SuiteSpec
from laas.validators.suites import instruction_corpus
from laas.validators.text import text_hash, text_hashes, text_key

SUITE = instruction_corpus()
PII = "expect_column_values_to_be_free_of_pii"


def _pii_shard(n: int, seed: int) -> pd.DataFrame:
    rs = rows(seed, n)
    for i, r in enumerate(rs):
        r["prompt"] = f"{r['prompt']} write to user{seed}.{i}@example.org"
    return pd.DataFrame(rs)


def test_a_pool_with_more_than_200_unexpected_rows_is_counted_not_crashed() -> None:
    """GX caps unexpected_list at 200 values; zipping it with the index list used to raise."""
    shards = [_pii_shard(120, s) for s in range(3)]  # 360 PII rows in one pool
    frame = pd.concat(shards, ignore_index=True)
    results = check_pool(["a", "b", "c"], [120] * 3, frame, SUITE)
    for r in results:
        (o,) = [o for o in r.outcomes if o.type == PII and o.column == "prompt"]
        assert not r.success and o.unexpected_count == 120 and len(o.examples) == 3
    assert results == [check_frame(k, df, SUITE) for k, df in zip("abc", shards, strict=True)]


def test_gx_pooled_path_takes_any_number_of_unexpected_rows() -> None:
    """A row-wise type the executor leaves to GX (JSON) still pools, and >200 bad rows in the
    pool are located by index, not zipped against the capped value list."""
    spec = SuiteSpec(name="json", expectations=(ExpectationSpec(
        type="expect_column_values_to_be_json_parseable", kwargs={"column": "j"}),))
    shards = [pd.DataFrame({"j": ["{"] * 150 + ["{}"] * 5}) for _ in range(2)]
    results = check_pool(["a", "b"], [155, 155], pd.concat(shards, ignore_index=True), spec)
    assert [o.unexpected_count for r in results for o in r.outcomes] == [150, 150]
    assert results == [check_frame(k, df, spec) for k, df in zip("ab", shards, strict=True)]


def test_a_duplicate_batches_apart_in_one_shard_is_caught(tmp_path, monkeypatch) -> None:
    from laas.anchors.core.models import ShardEntry
    from laas.tasks import shard_validation
    from laas.tasks.dataset_spec import load_spec

    spec = load_spec("instruct-sample")

    monkeypatch.setattr(shard_validation, "VALIDATE_BATCH", 1_000)  # 2,500 rows: three batches
    rs = rows(7, 2_500)
    rs[2_210] = dict(rs[10])  # the same text, 2,200 rows (two batches) later
    path = tmp_path / "big.parquet"
    pq.write_table(pa.Table.from_pylist(rs), path)
    from laas.anchors.adapters.files import rehash_parquet_at

    digest, size, n = rehash_parquet_at(str(path))  # validation re-hashes what it validates
    entry = ShardEntry(key="big", uri=str(path), source_uri=str(path), byte_size=size, rows=n,
                       content_hash="0x" + digest.hex())
    (out,) = shard_validation.validated_entries([entry], spec, "quarantined",
                                                str(tmp_path / "docs"))
    assert out.status == "quarantined"
    (o,) = [o for o in out.validation["outcomes"]
            if o["type"] == "expect_column_values_to_be_unique"]
    assert not o["success"] and o["unexpected_count"] == 2  # both copies, as GX counts
    assert out.validation == check_frame("big", pd.DataFrame(rs), spec.suite).model_dump(
        mode="json")  # what the shard gives in one piece


def test_text_hashes_of_frames_cut_from_frames() -> None:
    """pyarrow 26's ascii_lower misreads slices whose offsets do not start at zero."""
    df = pd.DataFrame({"p": [f"Hello  World {i}" for i in range(100)],
                       "r": [f"ANSWER\t{i} Ünï" for i in range(100)]})
    cut = pd.concat([df.iloc[3:10], df.iloc[40:60]])
    want = [text_hash([p, r]) for p, r in zip(cut["p"], cut["r"], strict=True)]
    assert text_hashes([cut["p"], cut["r"]], TEXT_KEY_V1) == want
    assert text_hashes([cut["p"], cut["r"]]) == [
        text_key([p, r]) for p, r in zip(cut["p"], cut["r"], strict=True)]
    table = pa.Table.from_pandas(df).slice(5, 30)
    assert text_hashes([table["p"], table["r"]], TEXT_KEY_V1) == [
        text_hash([p, r]) for p, r in zip(df["p"][5:35], df["r"][5:35], strict=True)]
    assert check_frame("cut", cut.rename(columns={"p": "prompt", "r": "response"}),
                       instruction_corpus(required=("prompt", "response"))).success


def test_normalize_text_collapses_every_unicode_space_as_before() -> None:
    """split()/join replaced re.sub(r"\\s+") for speed: the same text for every character
    Python's \\s matches, so no committed text hash moves."""
    import re
    import unicodedata

    from laas.validators.text import normalize_text

    spaces = "".join(chr(c) for c in range(0x110000) if re.match(r"\s", chr(c)))
    texts = [f"{spaces}a{s}B{s}{s}c{spaces}" for s in spaces] + ["", spaces, "x\u200by"]
    for t in texts:
        old = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", t)).strip().casefold()
        assert normalize_text(t) == old


def test_suite_hash_commits_to_the_regex_dialect_only_where_a_regex_runs() -> None:
    from laas.anchors.core.canonical import canonical_json
    from laas.validators.suites import tabular_features

    tabular = tabular_features(columns=["id", "x", "label"], key_columns=["id"],
                               max_null_rate={"x": 0.1}, ranges={"x": [0, 1]})
    # the hash this suite had before the field existed: unchanged
    assert tabular.suite_hash == \
        "0x2d81343f7d87f3e4956fc75858e9fa0ef3e11be6515959939a952faf25ffab6e"
    assert b"regex_dialect" not in canonical_json(tabular)
    assert b'"regex_dialect":"re2"' in canonical_json(SUITE)
    with_dialect = SUITE.model_dump()
    assert with_dialect["regex_dialect"] == "re2"
    assert SuiteSpec.model_validate(with_dialect) == SUITE


def test_a_pooled_gx_check_that_cannot_run_fails_every_shard_as_alone() -> None:
    spec = SuiteSpec(name="j", expectations=(ExpectationSpec(
        type="expect_column_values_to_be_json_parseable", kwargs={"column": "absent"}),))
    shards = [pd.DataFrame({"j": ["{}", "{", "[]"]}) for _ in range(2)]
    pooled = check_pool(["a", "b"], [3, 3], pd.concat(shards, ignore_index=True), spec)
    assert [r.success for r in pooled] == [False, False]
    assert pooled == [check_frame(k, df, spec) for k, df in zip("ab", shards, strict=True)]


def test_a_pandas_frame_arrow_cannot_type_is_still_validated_by_gx() -> None:
    spec = SuiteSpec(name="m", expectations=(ExpectationSpec(
        type="expect_column_values_to_not_be_null", kwargs={"column": "x"}),))
    (o,) = check_frame("m", pd.DataFrame({"x": [1, "a", None]}, dtype=object), spec).outcomes
    assert (o.success, o.unexpected_count) == (False, 1)


@pytest.mark.parametrize("texts", [[], [""], [None], ["   "], ["\x1c a \x1f"], ["A\tB\n\nC  "],
                                   ["é  É"], ["x" * 10, None, "  Y  "], ["\x1fé\x1f"],
                                   ["Ⅸ\u2029ﬁ", "ÀB"]])
@pytest.mark.parametrize("scheme", [TEXT_KEY_SCHEME, TEXT_KEY_V1])
def test_text_hashes_of_edge_rows_are_the_row_by_row_definition(texts: list, scheme: str
                                                                ) -> None:
    definition = text_key if scheme == TEXT_KEY_SCHEME else text_hash
    want = [definition([t]) for t in texts]
    assert text_hashes([texts], scheme) == want
    assert text_hashes([pa.array(["pad", *texts], pa.string()).slice(1)], scheme) == want


# Rows that must be duplicates of each other (within a group) and of no other group.
_SAME_TEXT = [
    ["Hello World", "hello world", "HELLO   WORLD", " hello\tworld\n", "hello\u00a0world",
     "hello\u3000world", "hello\u2028world", "hello\x85world", "hello\x1fworld",
     "hello \u200a\r\n world", "ＨＥＬＬＯ world"],
    ["ﬁne", "fine", "FINE", "ＦＩＮＥ"],  # NFKC: ligature, full-width letters
    ["１２３", "123"],  # full-width digits
    ["straße", "STRASSE", "strasse"],  # casefold, not lower
    ["e\u0301", "\u00e9", "É"],  # combining accent composes
    ["", "   ", None, "\u3000\n"],  # empty, blank and null are one text
    ["a b", "a  b", "a\x1fb"],  # \x1f inside text is whitespace, not the column separator
    ["a\u200bb"],  # zero-width space is no whitespace
    ["ab"],
]


@pytest.mark.parametrize("scheme", [TEXT_KEY_SCHEME, TEXT_KEY_V1])
def test_rows_are_duplicates_iff_their_normalized_texts_are_equal(scheme: str) -> None:
    from laas.validators.text import normalize_text

    rows = [(g, t) for g, texts in enumerate(_SAME_TEXT) for t in texts]
    texts = [t for _, t in rows]
    keys = text_hashes([texts], scheme)
    for (g, t), k in zip(rows, keys, strict=True):
        for (h, u), m in zip(rows, keys, strict=True):
            assert (k == m) == (g == h) == (normalize_text(t) == normalize_text(u)), (t, u)
    # two columns: the separator keeps "a|b c" apart from "a b|c"
    two = text_hashes([["a", "a b", "A", None], ["b c", "c", "B\u3000C", "a b c"]], scheme)
    assert len(set(two)) == 3 and two[0] == two[2]
    definition = text_key if scheme == TEXT_KEY_SCHEME else text_hash
    assert keys == [definition([t]) for t in texts]


def test_text_key_v2_is_md5_of_the_normalized_row_and_v1_is_pinned() -> None:
    assert text_hashes([["  Hello\u3000WORLD "], ["ﬁ"]]) == [
        hashlib.md5(b"hello world\x1ffi").hexdigest()]
    assert text_hash(["Hello", "x"]) == text_hashes([["Hello"], ["x"]], TEXT_KEY_V1)[0]


def test_casefold_makes_no_space_and_no_capital_letter() -> None:
    """The stage lowers a row's case before it collapses its whitespace, where
    normalize_text collapses first: the same only because casefold maps every space to
    itself and no other character to a space or to A-Z."""
    chars = [chr(c) for c in range(0x110000)]
    spaces = {c for c in chars if c.isspace()}
    for c in chars:
        folded = c.casefold()
        assert (folded == c) if c in spaces else not (set(folded) & spaces), repr(c)
        assert not any("A" <= x <= "Z" for x in folded), repr(c)


def test_the_suite_hash_commits_to_the_text_key_scheme_where_a_text_key_is_made() -> None:
    from laas.anchors.core.canonical import canonical_json
    from laas.validators.suites import instruction_corpus, tabular_features

    suite = instruction_corpus()
    assert b'"text_key_scheme":"laas-textkey-v2"' in canonical_json(suite)
    v1 = suite.model_copy(update={"text_key_scheme": TEXT_KEY_V1})
    assert v1.suite_hash != suite.suite_hash
    assert b"text_key_scheme" not in canonical_json(tabular_features(columns=["id"]))
    table = pa.table({c: ["Ab", "ab"] for c in suite.text_hash_of})
    from laas.validators.gx_suite import with_text_hash
    from laas.validators.text import TEXT_HASH_COLUMN

    assert with_text_hash(table, v1)[TEXT_HASH_COLUMN].to_pylist() == [
        text_hash(["ab", "ab"])] * 2
    assert with_text_hash(table, suite)[TEXT_HASH_COLUMN].to_pylist() == [
        text_key(["ab", "ab"])] * 2


def test_uniqueness_judged_once_per_shard_matches_one_pass_even_on_a_missing_column() -> None:
    """check_in_batches leaves uniqueness out of each batch and judges the shard whole: the
    verdicts are those of one pass over the shard, a key column the shard lacks included
    (failed, as GX's engine fails it)."""
    spec = SuiteSpec(name="u", expectations=(
        ExpectationSpec(type="expect_column_values_to_be_unique", kwargs={"column": "k"}),
        ExpectationSpec(type="expect_column_values_to_be_unique", kwargs={"column": "absent"}),
        ExpectationSpec(type="expect_compound_columns_to_be_unique",
                        kwargs={"column_list": ["k", "v"]})))
    table = pa.table({"k": [1, 2, 3, 1, 5, 6], "v": ["a", "b", "c", "z", "e", "f"]})
    docs: list[str] = []
    batched = check_in_batches("s", table.to_batches(max_chunksize=2), spec, docs=docs)
    alone = check_frame("s", table, spec)
    assert [(o.success, o.unexpected_count) for o in batched.outcomes] == [
        (o.success, o.unexpected_count) for o in alone.outcomes] == [
        (False, 2), (False, None), (True, 0)]
    assert len(docs) == 1 and "unique" in docs[0]  # the shard's uniqueness has its page


def test_a_shard_in_batches_gets_one_data_docs_page_counting_the_whole_shard() -> None:
    """One page for the shard, not one per batch: its counts are the shard's and its first
    unexpected values come from any batch, in row order."""
    spec = SuiteSpec(name="p", expectations=(
        ExpectationSpec(type="expect_column_values_to_be_in_set",
                        kwargs={"column": "k", "value_set": ["ok"]}),
        ExpectationSpec(type="expect_column_values_to_be_unique", kwargs={"column": "k"})))
    table = pa.table({"k": ["ok", "ok", "bad-1", "ok", "ok", "bad-2"]})
    docs: list[str] = []
    check_in_batches("s", table.to_batches(max_chunksize=2), spec, docs=docs)
    assert len(docs) == 1
    assert "bad-1" in docs[0] and "bad-2" in docs[0] and "unique" in docs[0]
    assert "6" in docs[0] and "2 unexpected" in docs[0].replace("\n", " ")


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_mapped_ahead_keeps_order_and_raises_where_the_failing_item_is_taken(depth: int) -> None:
    """Made one or several items ahead (the text keys run two batches ahead), the results
    come in the items' order and an error is raised where its item is taken, not sooner."""
    from laas.validators.ahead import mapped_ahead

    def fn(x: int) -> int:
        if x == 3:
            raise ValueError("bad item 3")
        return x * 10

    out = mapped_ahead(fn, iter(range(5)), depth)
    assert [next(out), next(out), next(out)] == [0, 10, 20]
    with pytest.raises(ValueError, match="bad item 3"):
        next(out)
    assert list(mapped_ahead(fn, [], depth)) == []
    assert list(mapped_ahead(fn, iter(range(3)), depth)) == [0, 10, 20]
