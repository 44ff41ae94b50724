"""Services: what laas does with the core and the adapters it is handed. Anchoring (store,
attest, commit, resume), the gate, verify, the reader, lineage and runs, and the one
verification path they share (`provenance`: walk the parents, prove a shard)."""
