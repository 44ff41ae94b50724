"""Adapters to the outside world, each behind a Protocol in `laas.anchors.ports`: files and the
artifact store (fsspec), the registry contract and the signing wallet (web3), the local chain
(anvil), the lineage index (SQL), the RPC transport. They import the core, never a service."""
