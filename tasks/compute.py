"""Dask for per-shard work: shards go to workers in batches (a Dask task costs ~1.5 ms, a
Prefect task 10-100 ms), and only small ShardEntry records come back to the flow process."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Any

from laas.anchors.adapters import files

STARTUP_S = 300  # most seconds a cluster may take to start
IN_FLIGHT = 3  # batches per worker on the cluster at once: one running, the next ones queued
_clients: dict[str, Any] = {}
_early: dict[tuple[str, int], Future] = {}  # clusters early_cluster is starting


@contextmanager
def dask_cluster(address: str | None, n_workers: int = 2, factory: str = "local") -> Iterator[str]:
    """Yield a scheduler address for the block: the given one, the one early_cluster began
    starting, or one from the named cluster factory (laas.deployments.clusters, looked up by
    name so this layer does not import that one)."""
    if address:
        yield address
        return
    early = _early.pop((factory, n_workers), None)
    with ExitStack() as stack:
        if early is not None:  # entered in early_cluster's thread; left here
            cm, started = early.result(timeout=STARTUP_S)
            stack.push(cm)
        else:
            started = stack.enter_context(_factory(factory)(n_workers=n_workers))
        try:
            yield started
        finally:
            client = _clients.pop(started, None)
            if client is not None:
                client.close()


@contextmanager
def early_cluster(factory: str, n_workers: int, warm: str | None = None) -> Iterator[None]:
    """Begin starting the cluster that the block's dask_cluster(None, n_workers, factory)
    will use, in a thread, now: on two cores its workers start (and, with `warm`, run that
    `module:function` as warm_workers does) while the caller waits for other things, such as
    Prefect's server, instead of after. A cluster no dask_cluster took is stopped at the end."""
    def start() -> tuple[AbstractContextManager[str], str]:
        cm = _factory(factory)(n_workers=n_workers)
        started = cm.__enter__()
        if warm:
            warm_workers(started, warm)
        return cm, started

    pool = ThreadPoolExecutor(1, thread_name_prefix="laas-cluster")
    _early[(factory, n_workers)] = coming = pool.submit(start)
    pool.shutdown(wait=False)
    try:
        yield
    finally:
        if _early.get((factory, n_workers)) is coming:  # nobody took it
            del _early[(factory, n_workers)]
            if coming.exception(timeout=STARTUP_S) is None:
                coming.result()[0].__exit__(None, None, None)


def _factory(name: str) -> Callable[..., AbstractContextManager[str]]:
    import importlib

    return importlib.import_module("laas.deployments.clusters").resolve(name)


def client_for(address: str) -> Any:
    from distributed import Client

    client = _clients.get(address)
    if client is None or client.status not in ("running", "connecting"):
        client = _clients[address] = Client(address, timeout="30s", set_as_default=False)
    return client


def warm_workers(address: str, target: str) -> None:
    """`module:function` run on every worker, each in a thread of its own, without waiting: a
    later stage's imports and caches are made while this one's tasks run (they release the
    GIL mostly in I/O and hashing) instead of in front of that stage's first task. Named,
    not pickled, so even importing it happens in that thread."""
    client_for(address).run(_start_thread, target)


def _start_thread(target: str) -> None:
    import importlib
    import threading

    module, _, name = target.partition(":")
    threading.Thread(target=lambda: getattr(importlib.import_module(module), name)(),
                     name="laas-warm", daemon=True).start()


class _Batch:
    """A batch's items, opaque to Dask: given as a list, each of its items and theirs was
    walked on submit looking for futures (~1.5 us a shard in the flow process)."""

    __slots__ = ("items",)

    def __init__(self, items: Sequence[tuple]):
        self.items = items


def _run_each(batch: _Batch, fn: Callable, kwargs: dict, storage: files.StorageConfig) -> list:
    files.configure(storage)  # the worker may serve flows of other settings in between
    return [fn(*item, **kwargs) for item in batch.items]


def _run_whole(batch: _Batch, fn: Callable, kwargs: dict, storage: files.StorageConfig) -> list:
    files.configure(storage)
    return fn([item[0] for item in batch.items], **kwargs)


def plan_batches(weights: Sequence[int], *, max_items: int, max_weight: int,
                 min_batches: int) -> list[slice]:
    """Consecutive batches: at most max_items each and, beyond their first item, at most
    max_weight (bytes) each; at least min_batches when there are that many items, so every
    worker gets work."""
    n = len(weights)
    cap = max(1, min(max_items, math.ceil(n / max(1, min_batches))))
    out, start, weight = [], 0, 0
    for i, w in enumerate(weights):
        if i > start and (i - start >= cap or weight + w > max_weight):
            out.append(slice(start, i))
            start, weight = i, 0
        weight += w
    if n:
        out.append(slice(start, n))
    return out


def map_shards(fn: Callable, items: Sequence[tuple], *, address: str, batch_size: int,
               batch_bytes: int = 1 << 62, weights: Sequence[int] | None = None,
               whole_batch: bool = False, label: str = "shards",
               on_batch: Callable[[list], list] | None = None, **kwargs: Any) -> list:
    """fn(*item, **kwargs) for every item on the cluster, in input order, in batches of
    consecutive items (see plan_batches); with whole_batch, fn(list of first elements,
    **kwargs) once per batch, returning one result per item. on_batch, if given, is applied
    to each batch's results as they arrive. A progress bar on a terminal.

    At most IN_FLIGHT batches per worker are on the cluster at a time, the next sent as one
    comes back: the scheduler holds each batch's arguments and result until then (with the
    local cluster, in this process), so a stage of 100,000 shards sent at once left this
    process ~5 KB per shard and stage larger for the rest of the run."""
    if not items:
        return []
    from distributed import as_completed

    client = client_for(address)
    workers = max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})))
    plan = plan_batches(weights or [0] * len(items), max_items=batch_size,
                        max_weight=batch_bytes, min_batches=2 * workers)
    run = _run_whole if whole_batch else _run_each
    storage = files.current()
    results: list[list | None] = [None] * len(plan)
    waiting = as_completed(loop=client.loop)
    index: dict[str, int] = {}

    def send(i: int) -> None:
        future = client.submit(run, _Batch(items[plan[i]]), fn=fn, kwargs=kwargs,
                               storage=storage, pure=False)
        index[future.key] = i
        waiting.add(future)

    sent = min(len(plan), IN_FLIGHT * workers)
    for i in range(sent):
        send(i)
    with _progress(len(items), label) as advance:
        for future in waiting:
            i = index.pop(future.key)
            results[i] = future.result()  # a batch's error is the stage's, as gather's was
            if on_batch is not None:
                results[i] = on_batch(results[i])
            future.release()
            if sent < len(plan):
                send(sent)
                sent += 1
            advance(plan[i].stop - plan[i].start)
    return [r for batch in results for r in batch]


@contextmanager
def _progress(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on a terminal; elsewhere nothing."""
    import sys

    if not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        job = bar.add_task(label, total=total)
        yield lambda n: bar.advance(job, n)


def return_freed() -> None:
    """Give the C allocator's freed pages back to the system (glibc's malloc_trim), where a
    thread made and dropped much: what it freed in its own arena stays held otherwise."""
    import contextlib
    import ctypes

    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL(None).malloc_trim(0)
