"""A pipeline step run ahead: what the caller does with item n overlaps making the next ones."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


def mapped_ahead(fn: Callable[[Any], Any], items: Iterable[Any], depth: int = 1
                 ) -> Iterator[Any]:
    """fn of each item, in order, fn of the next `depth` items running in threads (one each)
    while the caller works on this one (for steps that release the GIL: Arrow, numpy,
    DuckDB). With depth 2 a slow step keeps two cores busy even while the caller waits for
    it. An error in fn is raised where its result is taken; at most depth + 1 results are
    held at once."""
    with ThreadPoolExecutor(max_workers=depth, thread_name_prefix="laas-ahead") as pool:
        coming: deque[Future] = deque()
        for item in items:
            coming.append(pool.submit(fn, item))
            if len(coming) > depth:
                yield coming.popleft().result()
        while coming:
            yield coming.popleft().result()
