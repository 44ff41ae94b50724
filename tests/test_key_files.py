"""The flow reads each batch's duplicate keys as the batch comes back (KeyFiles.read) and checks
them against the entries' digests at the end: what it accepts is what a read of the whole folder
after the last batch accepts, keys of one width (the text keys) or not."""

from __future__ import annotations

import blake3
import pyarrow as pa
import pyarrow.parquet as pq

from laas.anchors.core.models import ShardEntry
from laas.tasks.key_files import KeyFiles, verified_text_keys
from laas.tasks.text_hashes import TextHashSink, batch_file, text_keys_bytes
from laas.validators.text import TEXT_HASH_COLUMN

HEX = [f"{i:032x}" for i in range(10)]  # text keys are 32 hex digits


def _batch(folder: str, shards: dict[str, list[str]]) -> list[ShardEntry]:
    """A batch's keys written as a worker writes them; its entries with their digests."""
    sink = TextHashSink(folder, list(shards), ("prompt",))
    sink.add(list(shards), [len(v) for v in shards.values()],
             pa.table({TEXT_HASH_COLUMN: pa.array([h for v in shards.values() for h in v])}))
    sink.close()
    return [ShardEntry(key=k, uri=k, source_uri=k, text_keys_hash=sink.digest(k))
            for k in shards]


def test_keys_read_as_batches_return_are_those_of_the_whole_folder(tmp_path) -> None:
    folder = str(tmp_path)
    one = _batch(folder, {"a": HEX[:5], "b": HEX[9:] * 3})
    two = _batch(folder, {"c": ["short", "", "a much longer key than the others"]})
    early = KeyFiles(folder)
    early.read(batch_file(["a", "b"]))  # as map_shards' on_batch does; `two` read at the end
    for keys, bad in (early.verified(one + two), verified_text_keys(folder, one + two)):
        assert not bad and {k: keys[k].to_pylist() for k in "abc"} == {
            "a": HEX[:5], "b": HEX[9:] * 3,
            "c": ["short", "", "a much longer key than the others"]}
        assert keys.rows("b") == 3 and "0x" + blake3.blake3(text_keys_bytes(
            keys["c"])).hexdigest() == two[0].text_keys_hash


def test_a_key_holding_a_newline_is_refused_though_the_digest_matches(tmp_path) -> None:
    """Two keys 'x' and 'y' digest as 'x\\ny\\n', as does the one key 'x\\ny': a file that
    joined two rows into one would hide one of them from the duplicate count."""
    folder = str(tmp_path)
    (entry,) = _batch(folder, {"s": ["x" * 16, "y" * 16]})
    path = tmp_path / batch_file(["s"])
    pq.write_table(pa.table({"key": ["s"], "h": ["x" * 16 + "\n" + "y" * 16]}), path)
    keys, bad = verified_text_keys(folder, [entry])
    assert "s" in bad and "s" not in keys
