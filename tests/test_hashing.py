"""laas-table-v1: the same rows hash the same whatever carried them; other rows do not."""

import io

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq
import pytest

from laas.anchors.adapters.files import rehash_parquet_at
from laas.anchors.core.hashing import (
    TableHasher,
    hash_bytes,
    hash_stream,
    hash_table,
)

SCHEMA = pa.schema([("text", pa.string()), ("n", pa.int64()), ("x", pa.float64()),
                    ("ok", pa.bool_())])


def table() -> pa.Table:
    return pa.table({
        "text": ["héllo", None, "", "wörld" * 50, "a,b"],
        "n": [1, None, -3, 2**40, 0],
        "x": [0.1, 1e-300, None, float("inf"), -0.0],
        "ok": [True, None, False, True, False],
    }, schema=SCHEMA)


def parquet_bytes(t: pa.Table, **kw: object) -> bytes:
    buf = io.BytesIO()
    pq.write_table(t, buf, **kw)
    return buf.getvalue()


def test_same_rows_same_hash_across_codecs_row_groups_and_chunking(tmp_path) -> None:
    t = table()
    expected = hash_table(t)
    for kw in ({"compression": "snappy"}, {"compression": "zstd"}, {"row_group_size": 2},
               {"compression": "none"}):
        data = parquet_bytes(t, **kw)
        assert hash_table(pq.read_table(io.BytesIO(data))) == expected, kw
    assert parquet_bytes(t, compression="snappy") != parquet_bytes(t, compression="zstd")
    rechunked = pa.Table.from_batches(t.to_batches(max_chunksize=1))
    assert hash_table(rechunked) == expected
    path = tmp_path / "t.parquet"
    path.write_bytes(parquet_bytes(t, row_group_size=1))
    digest, size, rows = rehash_parquet_at(str(path))
    assert (digest, rows) == (expected, 5) and size > 0


def test_csv_and_jsonl_with_the_schema_hash_like_parquet() -> None:
    t = pa.table({"text": ["a", "b c", ""], "n": [1, 2, 3]})
    schema = t.schema
    csv = b'text,n\na,1\n"b c",2\n"",3\n'
    jsonl = b'{"text":"a","n":1}\n{"n":2,"text":"b c"}\n{"text":"","n":3}\n'
    from_csv = pacsv.read_csv(io.BytesIO(csv), convert_options=pacsv.ConvertOptions(
        column_types=schema, strings_can_be_null=False))
    from_json = pajson.read_json(io.BytesIO(jsonl), parse_options=pajson.ParseOptions(
        explicit_schema=schema))
    assert hash_table(from_csv) == hash_table(from_json) == hash_table(t)


@pytest.mark.parametrize("change", ["value", "null", "order", "name", "type"])
def test_any_change_changes_the_hash(change: str) -> None:
    t = table()
    if change == "value":
        u = t.set_column(1, "n", pa.array([1, None, -3, 2**40, 1]))
    elif change == "null":  # a null and an empty string must differ
        u = t.set_column(0, "text", pa.array(["héllo", "", "", "wörld" * 50, "a,b"]))
    elif change == "order":
        u = t.take([1, 0, 2, 3, 4])
    elif change == "name":
        u = t.rename_columns(["text", "m", "x", "ok"])
    else:
        u = t.set_column(2, "x", t.column("x").cast(pa.float32()))
    assert hash_table(u) != hash_table(t)


def test_string_boundaries_are_part_of_the_hash() -> None:
    a = pa.table({"s": ["ab", "c"]})
    b = pa.table({"s": ["a", "bc"]})
    assert hash_table(a) != hash_table(b)


def test_unsupported_type_is_refused() -> None:
    t = pa.table({"l": pa.array([[1], [2]])})
    with pytest.raises(ValueError, match="not in laas-table-v1"):
        TableHasher(t.schema).update(t)


def test_table_hashes_are_the_pinned_vectors() -> None:
    """Digests made before the hasher stopped using pyarrow.compute: nulls (zeroed values,
    no payload), slices (Arrow offsets into shared buffers), every width and var-width kind.
    A change to how the streams are read must not change one of them."""
    import datetime

    t = table()
    kinds = pa.table({
        "i8": pa.array([-1, None, 7], pa.int8()), "u16": pa.array([1, 2, None], pa.uint16()),
        "u64": pa.array([2**63, 0, None], pa.uint64()),
        "f32": pa.array([1.5, None, -2.25], pa.float32()),
        "ls": pa.array(["a", None, "ccc"], pa.large_string()),
        "bin": pa.array([b"\x00\x01", b"", None], pa.binary()),
        "lbin": pa.array([None, b"xy", b"z"], pa.large_binary()),
        "b": pa.array([None, True, True], pa.bool_()),
        "ts": pa.array([datetime.datetime(2024, 1, 1), None, datetime.datetime(1970, 1, 2)],
                       pa.timestamp("us")),
        "d": pa.array([datetime.date(2024, 1, 1)] * 3, pa.date32()),
    })
    many = pa.table({"s": [f"row {i}" if i % 7 else None for i in range(100)],
                     "b": [bool(i % 3) if i % 5 else None for i in range(100)],
                     "n": [i if i % 11 else None for i in range(100)]})
    assert {name: hash_table(x).hex()[:16] for name, x in [
        ("nulls", t), ("sliced", t.slice(1, 3)), ("kinds", kinds),
        ("long-sliced", many.slice(13, 70)), ("empty", many.slice(0, 0))]} == {
        "nulls": "ce072687215fb50e", "sliced": "867ecd67bb006df2", "kinds": "8937fb79d24990ee",
        "long-sliced": "5128cdca9dfce0fa", "empty": "c3ac7d501e641764"}


def test_raw_bytes_hash_streams() -> None:
    data = bytes(range(256)) * 10_000
    digest, size = hash_stream(io.BytesIO(data))
    assert (digest, size) == (hash_bytes(data), len(data))


def test_text_hashes_in_arrow_equal_the_row_by_row_definition() -> None:
    import random

    import pandas as pd

    from laas.validators.spec import TEXT_KEY_V1
    from laas.validators.text import text_hash, text_hashes, text_key

    rnd = random.Random(7)
    alphabet = "aB zZ\t\n\x0b\x0c\r\x1c\x1f.-9é ß ＡＢ\u00a0\u2003İ\ufffd\u2028\x85ﬁ\u0301"
    cols = [[None if rnd.random() < 0.05 else
             "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 12)))
             for _ in range(2000)] for _ in range(2)]
    series = [pd.Series(c, dtype="string") for c in cols]
    ascii_only = [[v.encode("ascii", "ignore").decode() if v else v for v in c] for c in cols]
    for scheme, definition in ((TEXT_KEY_V1, text_hash), (None, text_key)):
        kw = {"scheme": scheme} if scheme else {}
        expected = [definition(list(row)) for row in zip(*cols, strict=True)]
        assert text_hashes(series, **kw) == expected
        assert text_hashes(ascii_only, **kw) == [definition(list(r))
                                                 for r in zip(*ascii_only, strict=True)]


def test_text_keys_are_the_pinned_vectors() -> None:
    """Keys made before the stage was made faster (tests/vectors/textkeys.json): a change to
    how they are computed must not change one of them, in a batch or alone."""
    import json
    from pathlib import Path

    from laas.validators.spec import TEXT_KEY_V1
    from laas.validators.text import text_hash, text_hashes, text_key

    rows = json.loads((Path(__file__).parent / "vectors" / "textkeys.json").read_text())["rows"]
    cols = [[r["columns"][i] for r in rows] for i in range(2)]
    assert text_hashes(cols) == [r["v2"] for r in rows]
    assert text_hashes(cols, TEXT_KEY_V1) == [r["v1"] for r in rows]
    assert [text_key(r["columns"]) for r in rows] == [r["v2"] for r in rows]
    assert [text_hash(r["columns"]) for r in rows] == [r["v1"] for r in rows]


@pytest.mark.slow
def test_every_code_point_keys_as_the_row_by_row_definition() -> None:
    """The split between rows Arrow normalizes and rows Python must (unicode_fold) is right
    for every character: alone between ASCII letters, before a combining accent and a
    Hangul trailing jamo, and as the second of every pair that composes into one."""
    import unicodedata

    from laas.validators.text import text_hashes, text_key

    chars = [chr(c) for c in range(0x80, 0x110000) if not 0xD800 <= c < 0xE000]
    pairs = [d.split() for c in chars if (d := unicodedata.decomposition(c))
             and not d.startswith("<") and len(d.split()) == 2]
    rows = [f"Ab{c}Z" for c in chars] + [f"{c}\u0301 {c}\u11a8" for c in chars[::7]] + [
        f"x{chr(int(a, 16))}{chr(int(b, 16))}" for a, b in pairs] + ["\u1100\u1161\u11a8"]
    want = [text_key([r]) for r in rows]
    assert text_hashes([rows]) == want
