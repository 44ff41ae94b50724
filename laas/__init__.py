"""laas: a data-pipeline orchestrator for AI training data with on-chain checkpoints.

Subpackages (installed from the repository's top-level folders):
  laas.anchors      the ledger: hashing, Merkle, manifests, contract, local chain, index, gate
  laas.validators   dataset specs, expectation suites, validation reports
  laas.tasks        Prefect tasks and the plain per-shard functions Dask runs
  laas.flows        Prefect flows that compose the tasks
  laas.deployments  Dask cluster factories and deployment helpers
"""

__version__ = "0.1.0"
