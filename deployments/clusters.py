"""Dask cluster factories: where a flow's per-shard work runs. Each is a context manager that
yields a scheduler address for the length of a run; `LAAS_DASK_CLUSTER` picks one by name
(`local`, `kube`) or as `module:function`, and `LAAS_DASK_ADDRESS` (or `laas run
--dask-address`) skips them all for a scheduler that is already up."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import dask

from laas.errors import ConfigError

KUBE_SPEC = Path(__file__).with_name("kube") / "daskcluster.yaml"
MP_METHOD = "distributed.worker.multiprocessing-method"
# Dask keeps its last N messages per connection, transitions and events for debugging (1,000
# by default). The scheduler's messages to each worker carry the batches' shard entries: with
# the local cluster's scheduler inside the flow process, 1,000 of them kept ~5 KB per shard
# and stage alive there (1.5 GB at 100,000 shards); 20 still kept the last 20 batches' copies
# (20,000 entries, ~30 MB, for the whole of a 20,000-shard stage). Two show the last steps.
DEBUG_LOG = {"distributed.admin.low-level-log-length": 2}
# Dask's nanny exports MALLOC_TRIM_THRESHOLD_=65536 to its workers (so glibc hands freed
# memory back at once); setting it also pins glibc's mmap threshold at 128 KB, so each numpy
# buffer of a row batch was mapped, faulted in and unmapped afresh: the validate stage took
# 5x the page faults in a worker that it takes in a plain process (~55 k against 5-17 k per
# 40 MB of text, 0.1 s more system time). laas's local workers keep glibc's own thresholds.
GLIBC_DEFAULTS = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


@contextmanager
def existing(address: str) -> Iterator[str]:
    """A scheduler someone else runs (dask-scheduler, dask-jobqueue, a Coiled or Saturn
    cluster): used as is, never shut down."""
    yield address


def _forkserver(preload: tuple[str, ...]) -> dict[str, str]:
    """Worker processes forked from one server process that imported `preload` once, instead
    of each started afresh (Dask's default, spawn) importing them again. A forked worker also
    ends without the interpreter's teardown of every module it loaded: a spawned one took 1-4 s
    to stop once Great Expectations was loaded, at the end of every run. Returns the Dask
    setting that selects it."""
    from distributed.utils import get_mp_context

    with dask.config.set({MP_METHOD: "forkserver"}):
        ctx = get_mp_context()  # sets distributed's own preload list, once per process
    from multiprocessing import forkserver

    have = list(getattr(forkserver._forkserver, "_preload_modules", None) or ())
    # laas's first: worker_memory must run before distributed's list imports pandas (pyarrow)
    ctx.set_forkserver_preload([m for m in preload if m not in have] + have)
    return {MP_METHOD: "forkserver"}


@contextmanager
def local(n_workers: int = 2) -> Iterator[str]:
    """The embedded default: worker processes on this machine, on loopback, for one run."""
    from distributed import LocalCluster

    from laas.tasks.context import WORKER_PRELOAD

    # Worker start/stop chatter is not news to a pipeline user; warnings still show.
    logging.getLogger("distributed").setLevel(logging.WARNING)
    # read whenever a worker (re)starts, and handed to each
    with dask.config.set(_forkserver(WORKER_PRELOAD) | DEBUG_LOG | GLIBC_DEFAULTS):
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None,
                               silence_logs=logging.ERROR)
        try:
            yield cluster.scheduler_address
        finally:
            # The run's work is done and committed by now: workers slow to stop on a busy
            # machine must not turn it into a failed (and to Prefect, timed-out) flow run.
            try:
                cluster.close(timeout=60)
            except (TimeoutError, OSError, RuntimeError) as e:
                logging.getLogger("laas").warning("the local Dask cluster did not stop cleanly "
                                                  "(%s); its worker processes are killed", e)


@contextmanager
def kube(n_workers: int = 2) -> Iterator[str]:
    """A DaskCluster on Kubernetes through the Dask operator (dask-kubernetes), from
    LAAS_KUBE_SPEC (default deployments/kube/daskcluster.yaml); its image must have laas
    installed. Needs `pip install laas[kube]`, a kubeconfig and the operator in the cluster."""
    try:
        from dask_kubernetes.operator import KubeCluster
    except ImportError:
        raise ConfigError("LAAS_DASK_CLUSTER=kube needs dask-kubernetes: "
                          "pip install 'laas[kube]'") from None
    import yaml

    spec_path = Path(os.environ.get("LAAS_KUBE_SPEC", KUBE_SPEC))
    spec = yaml.safe_load(spec_path.read_text())
    spec["spec"]["worker"]["replicas"] = n_workers
    with KubeCluster(custom_cluster_spec=spec, shutdown_on_close=True) as cluster:
        yield cluster.scheduler_address


FACTORIES: dict[str, Callable[..., AbstractContextManager[str]]] = {"local": local, "kube": kube}


def resolve(name: str) -> Callable[..., AbstractContextManager[str]]:
    """A factory by name, or any importable `module:function` taking n_workers."""
    if name in FACTORIES:
        return FACTORIES[name]
    if ":" in name:
        import importlib

        module, _, attr = name.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            raise ConfigError(f"LAAS_DASK_CLUSTER={name}: cannot load it ({e})") from None
    raise ConfigError(f"LAAS_DASK_CLUSTER={name}: unknown; use one of "
                      f"{', '.join(FACTORIES)} or module:function")
