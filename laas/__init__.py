"""laas: a data-pipeline orchestrator for AI training data with on-chain checkpoints.

Subpackages (installed from the repository's top-level folders):
  laas.anchors      the ledger: hashing, Merkle, manifests, contract, local chain, index, gate
  laas.validators   dataset specs, expectation suites, validation reports
  laas.tasks        Prefect tasks and the plain per-shard functions Dask runs
  laas.flows        Prefect flows that compose the tasks
  laas.deployments  Dask cluster factories and deployment helpers
"""

__version__ = "0.1.0"


import sys as _sys


class _KeepTheRecursionLimit:
    """py_ecc, which eth_account (and so web3) imports, raises Python's recursion limit to
    100,000 when imported. Input nested deeper than the C stack holds (100,000 brackets in an
    RPC answer, a JSON shard or a card) then kills the process with a segmentation fault
    instead of raising RecursionError, which laas turns into a one-line error. This finder
    puts the limit back once py_ecc has run (laas uses none of its deeply recursive code: BLS
    keys), costing nothing in the processes that never import it (the gate's)."""

    @staticmethod
    def find_spec(name: str, path: object = None, target: object = None) -> object:
        if name != "py_ecc":
            return None
        _sys.meta_path.remove(_KeepTheRecursionLimit)
        from importlib.util import find_spec

        spec = find_spec(name)
        loader = getattr(spec, "loader", None)
        if loader is not None and hasattr(loader, "exec_module"):
            limit, run = _sys.getrecursionlimit(), loader.exec_module

            def exec_module(module: object) -> None:
                try:
                    run(module)
                finally:
                    _sys.setrecursionlimit(limit)

            loader.exec_module = exec_module
        return spec


if "py_ecc" not in _sys.modules:
    _sys.meta_path.insert(0, _KeepTheRecursionLimit)
elif _sys.getrecursionlimit() == 100_000:  # imported before laas: py_ecc's own figure
    _sys.setrecursionlimit(1000)
