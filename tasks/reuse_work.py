"""Incremental runs, the work beside the pure rules (laas.anchors.core.reuse): the pipeline
hash a validated report commits to, and the check Dask workers run on every shard a run would
reuse (its files still hash to their leaves; its duplicate keys, recomputed from its verified
rows, are the ones its validation committed to)."""

from __future__ import annotations

import pyarrow as pa

from laas import __version__ as LAAS_VERSION
from laas.anchors.adapters.files import redact, rehash_parquet_at
from laas.anchors.core.canonical import hash_record, to_hex
from laas.anchors.core.hashing import BYTES_SCHEME, TABLE_SCHEME
from laas.anchors.core.models import VERSIONED_MANIFEST
from laas.anchors.core.reuse import REUSE_FORMAT, Reused
from laas.errors import ShardReadError
from laas.tasks.dataset_spec import DatasetSpec
from laas.tasks.readers import verified_table
from laas.tasks.shard_validation import VALIDATE_BATCH
from laas.tasks.text_hashes import TextHashSink

# Bumped when the normalizer's output changes for the same bytes and spec (a reused shard
# would then differ from one normalized now).
NORMALIZE_FORMAT = "laas-normalize-v1"
# What does not decide a shard's output: names, where the sources are (each reused shard's
# own URI is compared instead), lineage, versioning and the reuse switch itself.
_NOT_OUTPUT = {"name", "description", "source", "parents", "versioning", "reuse", "spec_dir"}


def pipeline_hash(spec: DatasetSpec) -> str:
    """keccak256 of everything that decides a shard's normalized and validated output besides
    its bytes: the spec's settings (schema, format, CSV dialect, suite, on_failure,
    max_dropped_rows), the suite hash, the hash schemes, laas's version and the formats of its
    outputs.
    Committed in the validated report; a run reuses only a run with the same one."""
    return hash_record({
        # laas's version: a release may change what a suite's expectations mean (a PII
        # screen's patterns, say) under the same suite hash; its results are not reused
        "laas": LAAS_VERSION,
        "format": REUSE_FORMAT, "normalize": NORMALIZE_FORMAT, "manifest": VERSIONED_MANIFEST,
        "schemes": [BYTES_SCHEME, TABLE_SCHEME], "suite_hash": spec.suite.suite_hash,
        "spec": spec.model_dump(mode="json", by_alias=True, exclude=_NOT_OUTPUT)})


def check_reused(batch: list[Reused], spec: DatasetSpec, hashes_dir: str | None
                 ) -> list[str | None]:
    """Per shard, why it cannot be reused (None: it can). Its normalized file is read back and
    hashed (a file altered in the store no longer matches its committed leaf); a validated
    file of its own (rows dropped) likewise. With hashes_dir, its duplicate keys are
    recomputed from the verified rows, written there for the dataset-wide checks and held to
    the digest its validation committed to."""
    columns = spec.suite.text_hash_of if hashes_dir else ()
    out: list[str | None] = []
    texts: list[tuple[str, pa.Table]] = []  # the verified shards' text columns, for their keys
    for r in batch:
        try:
            table = verified_table(r.normalized)
            v = r.validated
            if v.derived and _rehash(v.uri) != (v.content_hash, v.byte_size, v.rows):
                raise ShardReadError(f"validated file {redact(v.uri)} no longer hashes to its "
                                     "leaf")
            out.append(None)
            if columns:
                texts.append((r.key, table.select(list(columns))))
        except (ShardReadError, OSError, ValueError) as e:
            out.append(f"altered in the store ({str(e)[:200]}): processed again")
    if columns:
        digests = _keys(TextHashSink(hashes_dir, [r.key for r in batch], columns), texts, spec)
        for n, r in enumerate(batch):
            if out[n] is None and digests.get(r.key) != r.validated.text_keys_hash:
                out[n] = ("its duplicate keys are not those its validation committed: "
                          "processed again")
    return out


def _keys(sink: TextHashSink, texts: list[tuple[str, pa.Table]], spec: DatasetSpec
          ) -> dict[str, str | None]:
    """The shards' duplicate keys into the sink, in the row slices their validation hashed
    them in (a shard's digest runs over those: a big shard's VALIDATE_BATCH rows at a time,
    small ones whole), small shards together in one pass (a pass costs ~1 ms fixed)."""
    from laas.validators.text import TEXT_HASH_COLUMN
    from laas.validators.text_keys import text_hash_array

    def add(keys: list[str], parts: list[pa.Table]) -> None:
        whole = pa.concat_tables(parts)
        hashes = text_hash_array([whole.column(c) for c in spec.suite.text_hash_of],
                                 spec.suite.text_key_scheme)
        sink.add(keys, [t.num_rows for t in parts], pa.table({TEXT_HASH_COLUMN: hashes}))

    try:
        pool: list[tuple[str, pa.Table]] = []
        pooled = 0
        for key, table in texts:
            if table.num_rows >= VALIDATE_BATCH:
                for start in range(0, table.num_rows, VALIDATE_BATCH):
                    add([key], [table.slice(start, VALIDATE_BATCH)])
                continue
            pool.append((key, table))
            pooled += table.num_rows
            if pooled >= VALIDATE_BATCH:
                add(*map(list, zip(*pool, strict=True)))
                pool, pooled = [], 0
        if pool:
            add(*map(list, zip(*pool, strict=True)))
    finally:
        sink.close()
    return {key: sink.digest(key) for key, _ in texts}


def _rehash(uri: str) -> tuple[str, int, int]:
    digest, size, rows = rehash_parquet_at(uri)
    return to_hex(digest), size, rows
