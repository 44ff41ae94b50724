"""The validated shards' duplicate keys as the flow holds them for the dataset-wide checks:
each file's key column once, and where each shard's rows lie in them. An Arrow array (and its
chunked array) per shard cost ~800 bytes of Python and C++ objects each, 80 MB of the flow at
100,000 shards; a shard's place is a tuple."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import pyarrow as pa

Span = tuple[int, int, int]  # (file, first row, end row)


class TextKeys(Mapping[str, pa.ChunkedArray]):
    """{shard key: its rows' duplicate keys in row order}, read as a mapping; `rows` and
    `chunks` give what the checks need without an Arrow object per shard."""

    def __init__(self, files: list[pa.Array] | None = None,
                 spans: dict[str, list[Span]] | None = None):
        self.files = files or []
        self.spans = spans or {}

    @classmethod
    def of(cls, keys: Mapping[str, pa.Array | pa.ChunkedArray]) -> TextKeys:
        """Held as given (a dict of each shard's keys): a file per shard."""
        if isinstance(keys, TextKeys):
            return keys
        files = [pa.chunked_array([v]).combine_chunks() if isinstance(v, pa.Array)
                 else v.combine_chunks() for v in keys.values()]
        return cls(files, {k: [(i, 0, len(f))] for i, (k, f) in enumerate(zip(keys, files,
                                                                               strict=True))})

    def __getitem__(self, key: str) -> pa.ChunkedArray:
        return pa.chunked_array(self.chunks([key]), pa.string())

    def __contains__(self, key: object) -> bool:
        return key in self.spans

    def __iter__(self) -> Iterator[str]:
        return iter(self.spans)

    def __len__(self) -> int:
        return len(self.spans)

    def rows(self, key: str) -> int:
        return sum(end - start for _, start, end in self.spans[key])

    def chunks(self, keys: Iterable[str]) -> list[pa.Array]:
        """The rows of `keys`, in that order, as slices of the files: rows that follow each
        other in one file are one slice."""
        out: list[Span] = []
        for key in keys:
            for f, start, end in self.spans[key]:
                if out and out[-1][0] == f and out[-1][2] == start:
                    out[-1] = (f, out[-1][1], end)
                else:
                    out.append((f, start, end))
        return [self.files[f].slice(start, end - start) for f, start, end in out]

    def __or__(self, other: TextKeys) -> TextKeys:  # type: ignore[override]
        """Both, `other`'s taking a key both hold (as a dict's | does)."""
        shift = len(self.files)
        return TextKeys(self.files + other.files, self.spans | {
            k: [(f + shift, a, b) for f, a, b in v] for k, v in other.spans.items()})

    def clear(self) -> None:
        self.files, self.spans = [], {}
