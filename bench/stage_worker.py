"""The validate stage as `laas run` runs it: in a worker process of laas's own local Dask
cluster (forked from a server that imported laas.tasks.context.WORKER_PRELOAD, one thread
for Dask, the stage's own threads inside), rather than in the benchmark's process. Each call
also reports the worker's CPU seconds (user, system) and page faults over the stage: on a
shared machine the CPU it took says more than the wall clock."""

from __future__ import annotations

import resource
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def entry_of(path: Path) -> object:
    """The normalized stage's entry for the shard, as the stage writes it: its real table
    hash, and the SHA-256 of the file's bytes (laas-manifest-v4 on), by which the validate
    stage checks the file before parsing it (an entry without one, from an older run, has its
    table hashed again as it is read). Made once, outside the timings: the normalized stage
    computed both."""
    from laas.anchors.adapters.files import rehash_parquet_at, sha256_at
    from laas.anchors.core.canonical import to_hex
    from laas.anchors.core.models import ShardEntry

    digest, size, n = rehash_parquet_at(str(path))
    return ShardEntry(key=path.stem, uri=str(path), source_uri=str(path), byte_size=size,
                      rows=n, content_hash=to_hex(digest), sha256=sha256_at(str(path))[0])


def new(entry: object, spec: object, work: Path) -> dict:
    from laas.tasks.shard_validation import validated_entries

    (out,) = validated_entries([entry], spec, "quarantined", str(work / "docs"))
    assert out.validation is not None, out.reason
    return out.validation


def _usage() -> tuple[float, float, int]:
    r = resource.getrusage(resource.RUSAGE_SELF)  # the worker's threads, all of them
    return r.ru_utime, r.ru_stime, r.ru_minflt


def _stage(entry: object, spec: object, docs: str) -> tuple[dict, list[float]]:
    from laas.tasks.shard_validation import validated_entries

    before = _usage()
    (out,) = validated_entries([entry], spec, "quarantined", docs)
    assert out.validation is not None, out.reason
    return out.validation, [b - a for a, b in zip(before, _usage(), strict=True)]


class _Worker:
    """Called as the stage: its result; `usage`: the worker's [user s, system s, page
    faults] over the last call."""

    def __init__(self, client: object):
        self.client, self.usage = client, [0.0, 0.0, 0.0]

    def __call__(self, entry: object, spec: object, docs: str) -> dict:
        result, self.usage = self.client.submit(_stage, entry, spec, docs, pure=False).result()
        return result


@contextmanager
def in_worker() -> Iterator[Callable[[object, object, str], dict]]:
    from laas.deployments.clusters import local
    from laas.tasks.compute import client_for

    with local(n_workers=2) as address:
        client = client_for(address)
        try:
            yield _Worker(client)
        finally:
            client.close()
