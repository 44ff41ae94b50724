"""Dask for per-shard work: shards go to workers in batches (a Dask task costs ~1.5 ms, a
Prefect task 10-100 ms), and only small ShardEntry records come back to the flow process."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

_clients: dict[str, Any] = {}


@contextmanager
def dask_cluster(address: str | None, n_workers: int = 2) -> Iterator[str]:
    """Yield a scheduler address: the given one, or a LocalCluster's on loopback for the
    duration of the block."""
    if address:
        yield address
        return
    import logging

    from distributed import LocalCluster

    # silence_logs: shutdown chatter (closed comms) is not news to a pipeline user
    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster:
        try:
            yield cluster.scheduler_address
        finally:
            client = _clients.pop(cluster.scheduler_address, None)
            if client is not None:
                client.close()


def client_for(address: str) -> Any:
    from distributed import Client

    client = _clients.get(address)
    if client is None or client.status not in ("running", "connecting"):
        client = _clients[address] = Client(address, timeout="30s", set_as_default=False)
    return client


def _run_batch(batch: Sequence[tuple], fn: Callable, kwargs: dict) -> list:
    return [fn(*item, **kwargs) for item in batch]


def map_shards(fn: Callable, items: Sequence[tuple], *, address: str, batch_size: int,
               label: str = "shards", **kwargs: Any) -> list:
    """fn(*item, **kwargs) for every item on the cluster, in input order; a progress bar on
    a terminal."""
    if not items:
        return []
    client = client_for(address)
    workers = max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})))
    # Small datasets still spread over every worker; large ones cap the batch size.
    size = max(1, min(batch_size, math.ceil(len(items) / (2 * workers))))
    batches = [items[i : i + size] for i in range(0, len(items), size)]
    futures = client.map(_run_batch, batches, fn=fn, kwargs=kwargs, pure=False)
    _progress(futures, [len(b) for b in batches], label)
    results = client.gather(futures)
    return [r for batch in results for r in batch]


def _text_hashes(df: Any, columns: list[str]) -> Any:
    import pandas as pd

    from laas.validators.text import text_hash

    return pd.Series([text_hash(list(r)) for r in zip(*(df[c] for c in columns), strict=True)],
                     index=df.index, dtype="string")


def count_duplicates(uris: list[str], columns: list[str], *, address: str) -> tuple[int, int]:
    """(rows, distinct rows) by normalized text over Parquet shards, on the cluster: the hashes
    are shuffled between workers, never gathered in the flow process."""
    if not uris:
        return 0, 0
    import dask.dataframe as dd

    from laas.anchors.storage import storage_options

    ddf = dd.read_parquet(uris, columns=columns, storage_options=storage_options(uris[0]))
    hashes = ddf.map_partitions(_text_hashes, columns, meta=("h", "string"))
    parts = max(1, ddf.npartitions // 32)
    rows, distinct = client_for(address).compute(
        [hashes.size, hashes.drop_duplicates(split_out=parts).size], sync=True)
    return int(rows), int(distinct)


def _progress(futures: list, sizes: list[int], label: str) -> None:
    import sys

    if not sys.stderr.isatty():
        return
    from distributed import as_completed
    from rich.console import Console
    from rich.progress import Progress

    size_of = {f.key: n for f, n in zip(futures, sizes, strict=True)}
    with Progress(console=Console(stderr=True), transient=True) as bar:
        job = bar.add_task(label, total=sum(sizes))
        for done in as_completed(futures):
            bar.advance(job, size_of[done.key])
