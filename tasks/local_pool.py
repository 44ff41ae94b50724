"""Many tiny local files read and hashed on this machine rather than on the cluster: a shard
sent to a Dask worker and its answer back cost ~50 us of the cluster's transport, more than
hashing it (~13 us). The work goes to a pool of processes, one per core, in batches: in this
process's threads each file's open, reads and hash hold the GIL between system calls, so two
threads ran at the speed of one, and at half that while another thread of the flow worked
(the previous run proven while the raw stage hashes): 100,000 files took 4-10 s, against
1.1-1.6 s in two processes."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

from laas.anchors.adapters import files

PROCESSES = os.cpu_count() or 2
# fewer batches than this go to threads: two processes cost ~0.1-0.3 s to start (forked from
# the local cluster's preloaded server when there is one)
PROCESS_BATCHES = 4


def local_only(uris: Iterable[str]) -> bool:
    """Whether every URI is a file on this machine's file system (map_here can read them)."""
    return all(files.protocol(u) == "file" for u in uris)


def map_here(fn: Callable[[list], list], items: Sequence[tuple], *, batch_size: int,
             on_batch: Callable[[list], list] | None = None) -> list:
    """map_shards(fn, items, whole_batch=True) on this machine, for many tiny local files: in
    a pool of processes (fn and its batches pickled: a module's function, plain tuples), or
    for a few batches in threads. on_batch, as map_shards's, is applied to each batch's
    results, in input order, in this process."""
    batches = [[item[0] for item in items[i:i + batch_size]]
               for i in range(0, len(items), batch_size)]
    # a daemon process (a Dask worker's) may not start processes of its own
    if len(batches) < PROCESS_BATCHES or PROCESSES < 2 \
            or multiprocessing.current_process().daemon:
        pool: ThreadPoolExecutor | ProcessPoolExecutor = ThreadPoolExecutor(
            PROCESSES, thread_name_prefix="laas-here")
    else:
        pool = ProcessPoolExecutor(PROCESSES, mp_context=multiprocessing.get_context(
            "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else None))
    out: list = []
    with pool:
        for done in pool.map(fn, batches):
            out += on_batch(done) if on_batch is not None else done
    return out
