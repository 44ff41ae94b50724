"""The pure core: hash schemes, canonical encoding, Merkle trees and proofs, the typed records
(manifests, checkpoints, shard entries) and the trust rules between stages. Imports only
pydantic and the hash libraries: no storage, chain, Prefect, Dask or Great Expectations."""
