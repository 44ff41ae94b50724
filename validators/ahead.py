"""A pipeline step one item ahead: what the caller does with item n overlaps making item n + 1."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


def mapped_ahead(fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
    """fn of each item, in order, fn of the next item running in a thread while the caller
    works on this one (for steps that release the GIL: Arrow, numpy, DuckDB). An error in fn
    is raised where its result is taken; at most two results are held at once."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="laas-ahead") as pool:
        coming: Future | None = None
        for item in items:
            done, coming = coming, pool.submit(fn, item)
            if done is not None:
                yield done.result()
        if coming is not None:
            yield coming.result()
