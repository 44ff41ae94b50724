"""The duplicate keys the validate stage's workers wrote to the store, read back by the flow and
held to the digest each shard's entry carries (what its validation computed). A file can be
read as soon as its batch is done, while the workers validate the next ones (KeyFiles.read),
so the flow is not left reading them all, serially, after the last batch; the digests are
checked at the end, once the entries are known."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from laas.anchors.adapters.files import join, open_uri, url_to_fs
from laas.anchors.core.models import ShardEntry
from laas.tasks.text_keys import TextKeys

Spot = tuple[int, int, int, int, int]  # (file, first row, end row, first byte, end byte)


class KeyFiles:
    """The files of one folder of keys, each read once: its rows' keys, and for each shard
    key where its rows and their digest bytes (a line per key) lie."""

    def __init__(self, hashes_dir: str):
        self.fs, self.path = url_to_fs(hashes_dir)
        self.done: set[str] = set()
        # where each key's rows and lines are, file after file; hashed at the end one key at
        # a time: a BLAKE3 hasher per shard held to the end was ~2 KB each, 200 MB of the flow
        # at 100,000 shards, and an Arrow slice per shard ~800 B (tasks.text_keys)
        self.files: list[pa.Array] = []
        self.lines: list[memoryview] = []
        self.spots: dict[str, list[Spot]] = {}

    def after(self, then: Callable[[list], list]) -> Callable[[list], list]:
        """map_shards' on_batch: the file of a batch of validated entries that came back is
        read now, while the workers validate the next batches; then `then`."""
        from laas.tasks.text_hashes import batch_file

        def read_then(entries: list) -> list:
            self.read(batch_file([e.key for e in entries]))
            return then(entries)

        return read_then

    def read(self, name: str) -> None:
        """The folder's file `name` (once; one that is missing or not ours is left out: the
        digests decide what that costs)."""
        p = f"{self.path}/{name}"
        if p in self.done:
            return
        self.done.add(p)
        try:
            with open_uri(join(self.fs, p)) as f:  # a regular file, never a pipe
                # ParquetFile, not read_table: that imports pyarrow.dataset into the flow
                # (~0.15 s of CPU per run) and refuses a missing column, which this leaves
                # out; the shard keys as the dictionary they are stored as (their strings
                # cost as much to decode as the text keys)
                one = pq.ParquetFile(f, read_dictionary=["key"])
                if not {"key", "h"} <= set(one.schema_arrow.names):
                    return
                t = one.read(columns=["key", "h"])
        except (OSError, ValueError, KeyError, pa.ArrowInvalid):
            return
        if t.num_rows:  # none: a batch whose shards all failed before their keys were made
            self._add(t.column("key"), t.column("h").combine_chunks())

    def _add(self, keys: pa.ChunkedArray, h: pa.Array) -> None:
        if keys.type != pa.dictionary(pa.int32(), pa.string()) or h.type != pa.string() \
                or keys.null_count or h.null_count:
            return  # not one of ours (other types: Arrow cannot even compare some)
        keys = keys.unify_dictionaries().combine_chunks()
        codes = keys.indices.to_numpy(zero_copy_only=False)
        offsets, data = _buffers(h)
        if np.count_nonzero(data == 10):
            # a key holding a newline would pass in the digest (a line per key) for two
            # keys, so one repeat could hide in it
            return
        starts = _runs(codes)
        names = keys.dictionary.take(pa.array(codes[starts[:-1]])).to_pylist()
        if len(set(names)) < len(names):
            # a key in several runs (not as TextHashSink writes): grouped by one stable sort
            # (rows keep their order within a key), not one pass over the file per key
            order = np.argsort(codes, kind="stable")
            codes, h = codes[order], h.take(pa.array(order))
            offsets, data = _buffers(h)
            starts = _runs(codes)
            names = keys.dictionary.take(pa.array(codes[starts[:-1]])).to_pylist()
        # text_keys_bytes of the whole file at once: a shard's bytes are a slice of them
        lines, ends = _lines(data, offsets - offsets[0])
        self.files.append(h)
        self.lines.append(lines)
        bounds = ends[starts].tolist()
        n = len(self.files) - 1
        for key, (a, b), (lo, hi) in zip(names, itertools.pairwise(starts),
                                         itertools.pairwise(bounds), strict=True):
            self.spots.setdefault(key, []).append((n, a, b, lo, hi))

    def verified(self, entries: list[ShardEntry]) -> tuple[TextKeys, dict[str, str]]:
        """The folder's files not read yet, then {key: hashes in row order} of the entries
        whose keys hash to their digest, and {key: why} for the others (rewritten, planted)."""
        import blake3

        for p in sorted(self.fs.glob(f"{self.path}/*.parquet")):
            self.read(p.rstrip("/").rsplit("/", 1)[-1])
        good, bad = TextKeys(self.files), {}
        for e in entries:
            if not e.text_keys_hash:
                continue
            hasher = blake3.blake3()
            for n, _, _, lo, hi in self.spots.get(e.key, ()):
                hasher.update(self.lines[n][lo:hi])
            if "0x" + hasher.hexdigest() == e.text_keys_hash:
                good.spans[e.key] = [(n, a, b) for n, a, b, _, _ in self.spots.get(e.key, ())]
            else:
                bad[e.key] = (f"shard {e.key}: its duplicate keys in the store are not those "
                              "its validation computed (rewritten?); rerun")
        return good, bad


def verified_text_keys(hashes_dir: str | KeyFiles, entries: list[ShardEntry]
                       ) -> tuple[TextKeys, dict[str, str]]:
    """Each validated shard's duplicate keys, read back from the store (a folder, or its
    KeyFiles with what it read already) and checked against the digest its entry carries:
    {key: hashes in row order}, and {key: why} for shards whose keys in the store are not
    those. All in Arrow and numpy: at a million rows, numpy's sorts of Python strings took
    seconds of the flow."""
    files = hashes_dir if isinstance(hashes_dir, KeyFiles) else KeyFiles(hashes_dir)
    return files.verified(entries)


def _buffers(h: pa.StringArray) -> tuple[np.ndarray, np.ndarray]:
    """A string array's offsets and the bytes they span, as numpy views (no copy)."""
    offsets = np.frombuffer(h.buffers()[1], np.int32)[h.offset:h.offset + len(h) + 1]
    return offsets, np.frombuffer(h.buffers()[2] or b"", np.uint8)[offsets[0]:offsets[-1]]


def _runs(codes: np.ndarray) -> list[int]:
    """Where each run of equal consecutive values starts, and the length at the end."""
    return [0, *(np.flatnonzero(codes[1:] != codes[:-1]) + 1).tolist(), len(codes)]


def _lines(data: np.ndarray, offsets: np.ndarray) -> tuple[memoryview, np.ndarray]:
    """text_hashes.text_keys_bytes of every row (its value and a newline), as one buffer, and
    the row offsets into it. Keys of one width (the text keys are) are laid out by numpy,
    ~4x faster than Arrow's join."""
    n = len(offsets) - 1
    width = int(offsets[-1]) // n if n else 0
    if n and width * n == offsets[-1] and (np.diff(offsets) == width).all():
        out = np.empty((n, width + 1), np.uint8)
        out[:, :width] = data.reshape(n, width)
        out[:, width] = 10
        return memoryview(out.reshape(-1)), np.arange(n + 1, dtype=np.int64) * (width + 1)
    text = pa.large_string()
    h = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets.astype(np.int64)),
                                         pa.py_buffer(data))
    joined = pc.binary_join_element_wise(h, pa.scalar("", text), pa.scalar("\n", text))
    ends = np.frombuffer(joined.buffers()[1], np.int64)[:n + 1]
    return memoryview(joined.buffers()[2] or b""), ends
