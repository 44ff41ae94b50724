"""Versioned content hashes of shards.

laas-bytes-v1  raw stage: BLAKE3-256 of the shard's bytes exactly as they landed (compressed
               or not). Proves the source object did not change.
laas-table-v1  normalized and validated stages: BLAKE3-256 over a canonical form of the rows
               under the declared Arrow schema, so the same rows hash the same whatever file
               format, codec, row-group size or chunking carried them. The canonical form is,
               for the table: the tag "laas-table-v1", the row count, then per column in
               schema order: its name, its Arrow type string, and the digests of three
               streams, each a plain concatenation over rows (so chunking cannot change it):
                 validity  one byte per row, 1 valid / 0 null
                 lengths   var-width columns: u64 little-endian byte length per row (0 if null)
                 values    fixed-width: little-endian values with nulls zero-filled;
                           booleans one byte per row; var-width: the UTF-8/bytes payloads
File bytes of Parquet are never hashed for these stages: the same rows under snappy and zstd
give different bytes.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any

import blake3

if TYPE_CHECKING:
    import pyarrow as pa

BYTES_SCHEME = "laas-bytes-v1"
TABLE_SCHEME = "laas-table-v1"
_CHUNK = 1 << 20


def bytes_hasher() -> Any:
    """The hash of BYTES_SCHEME (BLAKE3), to feed with update() and read with digest()."""
    return blake3.blake3()


def hash_stream(f: IO[bytes]) -> tuple[bytes, int]:
    """BLAKE3 of a byte stream, read in 1 MiB chunks; returns (digest, size)."""
    h = bytes_hasher()
    size = 0
    while chunk := f.read(_CHUNK):
        h.update(chunk)
        size += len(chunk)
    return h.digest(), size


class HashingReader:
    """A byte stream read front to back that BLAKE3-hashes what passes through it, so bytes
    are parsed and checked against an earlier hash in one read."""

    def __init__(self, f: IO[bytes]):
        self._f = f
        self._h = blake3.blake3()
        self.size = 0
        self.closed = False

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self._h.update(data)
        self.size += len(data)
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True

    def finish(self) -> tuple[bytes, int]:
        """(digest, size) of the whole stream, reading whatever the parser left."""
        while self.read(_CHUNK):
            pass
        return self._h.digest(), self.size


def hash_bytes(data: bytes) -> bytes:
    return blake3.blake3(data).digest()


class TableHasher:
    """Streams record batches into the laas-table-v1 digest."""

    def __init__(self, schema: pa.Schema):
        self.schema = schema
        self.rows = 0
        self.size = 0  # bytes of canonical form fed: the leaf's byte size for table stages
        self._streams = [
            (blake3.blake3(), blake3.blake3(), blake3.blake3()) for _ in schema
        ]

    def update(self, batch: pa.RecordBatch | pa.Table) -> None:
        # Arrow's buffers are read with numpy (which pyarrow loads anyway), not with
        # pyarrow.compute: importing that costs the gate more than re-hashing a sample shard.
        import numpy as np
        import pyarrow as pa

        if not batch.schema.equals(self.schema, check_metadata=False):
            raise ValueError(f"batch schema {batch.schema} differs from {self.schema}")
        self.rows += batch.num_rows
        for col, (validity, lengths, values) in zip(batch.columns, self._streams, strict=True):
            arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
            valid = _valid(arr)  # None: no nulls
            self._feed(validity, b"\1" * len(arr) if valid is None else valid.view(np.uint8)
                       .tobytes())
            t = arr.type
            if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) \
                    or pa.types.is_large_binary(t):
                width = "<i8" if pa.types.is_large_string(t) or pa.types.is_large_binary(t) \
                    else "<i4"
                offsets = np.frombuffer(arr.buffers()[1], dtype=width)[
                    arr.offset : arr.offset + len(arr) + 1
                ].astype(np.int64)
                lens = np.diff(offsets).astype("<u8")
                if valid is not None:
                    lens[~valid] = 0
                self._feed(lengths, lens.tobytes())
                data = arr.buffers()[2]
                if data is not None and len(arr):
                    payload = memoryview(data)[offsets[0] : offsets[-1]]
                    if valid is not None:  # a null's payload bytes are not part of the content
                        payload = b"".join(
                            bytes(memoryview(data)[offsets[i] : offsets[i + 1]])
                            for i in range(len(arr)) if valid[i]
                        )
                    self._feed(values, payload)
            elif pa.types.is_boolean(t):  # one byte per row, a null as 0
                bits = _bits(arr.buffers()[1], arr.offset, len(arr))
                if valid is not None:
                    bits &= valid
                self._feed(values, bits.view(np.uint8).tobytes())
            elif pa.types.is_integer(t) or pa.types.is_floating(t):
                np_vals = _numpy(arr)
                if valid is not None:  # a null as zero, whatever its slot held
                    np_vals = np_vals.copy()
                    np_vals[~valid] = 0
                self._feed(values, np_vals.astype(np_vals.dtype.newbyteorder("<")).tobytes())
            elif pa.types.is_temporal(t):
                if arr.null_count:
                    import pyarrow.compute as pc

                    arr = pc.fill_null(arr, pa.scalar(0).cast(t))
                np_vals = _numpy(arr)
                self._feed(values, np_vals.astype(np_vals.dtype.newbyteorder("<")).tobytes())
            else:
                raise ValueError(f"type {t} is not in {TABLE_SCHEME}")

    def _feed(self, stream: blake3.blake3, data: bytes | memoryview) -> None:
        stream.update(data)
        self.size += len(data)

    def digest(self) -> bytes:
        h = blake3.blake3()
        h.update(TABLE_SCHEME.encode() + b"\0" + self.rows.to_bytes(8, "little"))
        for field, streams in zip(self.schema, self._streams, strict=True):
            h.update(field.name.encode() + b"\0" + str(field.type).encode() + b"\0")
            for s in streams:
                h.update(s.digest())
        return h.digest()


def _bits(buf: Any, offset: int, n: int) -> Any:
    """An Arrow bitmap (least significant bit first) as n numpy booleans."""
    import numpy as np

    return np.unpackbits(np.frombuffer(buf, dtype=np.uint8), count=offset + n,
                         bitorder="little")[offset:].astype(bool)


def _valid(arr: Any) -> Any:
    """Which rows are not null, as numpy booleans; None when none is null."""
    return _bits(arr.buffers()[0], arr.offset, len(arr)) if arr.null_count else None


def _numpy(arr: Any) -> Any:
    """The array as numpy. Integers and floats are read from their data buffer (a null's slot
    as it is: the caller zeroes it): any to_numpy() imports pandas (~0.4 s, more than the whole
    gate may take). Other types take Arrow's conversion."""
    import numpy as np
    import pyarrow as pa

    t = arr.type
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        code = "f" if pa.types.is_floating(t) else "i" if pa.types.is_signed_integer(t) else "u"
        return np.frombuffer(arr.buffers()[1], dtype=f"{code}{t.bit_width // 8}",
                             count=len(arr), offset=arr.offset * t.bit_width // 8)
    return arr.to_numpy(zero_copy_only=False)


def rehash_parquet(source: Any) -> tuple[bytes, int, int]:
    """(laas-table-v1 digest, canonical size, rows) of a Parquet file already open (a file-like
    object or an Arrow buffer), streamed by batch. Opening a URI is the adapters' business
    (adapters.files.rehash_parquet_at)."""
    import pyarrow.parquet as pq

    if isinstance(source, str | bytes):
        raise TypeError("rehash_parquet takes an open file or buffer; see rehash_parquet_at")
    pf = pq.ParquetFile(source)
    hasher = TableHasher(pf.schema_arrow)
    for batch in pf.iter_batches(batch_size=65_536):
        hasher.update(batch)
    return hasher.digest(), hasher.size, hasher.rows


def hash_table(table: pa.Table) -> bytes:
    hasher = TableHasher(table.schema)
    for batch in table.to_batches():
        hasher.update(batch)
    return hasher.digest()
