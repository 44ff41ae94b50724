"""Overlapping the making of the next item with the use of this one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

_END = object()


def read_ahead(items: Iterator[Any]) -> Iterator[Any]:
    """The items of an iterator, the next one made in a thread while the caller works on this
    one: decoding and hashing a Parquet batch release the GIL, so on two cores they overlap
    the validation of the batch before (two batches in memory instead of one)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        coming = pool.submit(next, items, _END)
        while (item := coming.result()) is not _END:
            coming = pool.submit(next, items, _END)
            yield item
