"""Incremental runs, the work beside the pure rules (laas.anchors.core.reuse): the pipeline
hash a validated report commits to, and the check Dask workers run on every shard a run would
reuse (its files still hash to their leaves; its duplicate keys, recomputed from its verified
rows, are the ones its validation committed to)."""

from __future__ import annotations

import pyarrow as pa

from laas import __version__ as LAAS_VERSION
from laas.anchors.adapters.drop_files import (
    READ_DROPS,
    ROW_DROPS,
    DropsChanged,
    DropsFile,
    committed_numbers,
)
from laas.anchors.adapters.files import redact, rehash_parquet_at, sha256_at
from laas.anchors.core.canonical import hash_record, to_hex
from laas.anchors.core.formats import VERSIONED_MANIFEST
from laas.anchors.core.hashing import BYTES_SCHEME, TABLE_SCHEME
from laas.anchors.core.reuse import REUSE_FORMAT, Reused
from laas.errors import ShardReadError
from laas.tasks.compute import map_shards
from laas.tasks.dataset_spec import DatasetSpec
from laas.tasks.local_pool import local_only, map_here
from laas.tasks.normalized_reads import verified_table
from laas.tasks.shard_validation import VALIDATE_BATCH
from laas.tasks.text_hashes import TextHashSink

# Bumped when the normalizer's output changes for the same bytes and spec (a reused shard
# would then differ from one normalized now).
# v2: its entries carry their file's sha256 and their licenses (a reused v1 shard lacks both)
# v3: under drop_rows unreadable records are left out (laas-manifest-v6), records longer than
# a block are read, CSV/JSON timestamps without a zone read as UTC (a shard once set aside
# whole is now kept), and a shard set aside anyway holds no first copy of a duplicate
# v4: a JSON document's object giving a field twice or holding NaN is no record (it was read
# with the last value), and a file holding one object is a row
# v5: records left out at reading are committed whole (laas-manifest-v7), and a JSONL line of
# several objects is their rows under drop_rows too (it was left out when another line was)
NORMALIZE_FORMAT = "laas-normalize-v5"
REUSED_KEYS = "reused-text-hashes"  # in the validated stage's folder: the reused shards' keys
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


def check_files(batch: list[tuple[tuple[str, str], ...]]) -> list[str | None]:
    """Per shard checked by its bytes (laas-manifest-v4), given as the (uri, sha256) of each
    file it keeps (files_of: two strings each, not its entries, go to the workers), why it
    cannot be reused (None: it can). Each file is streamed through SHA-256 and compared with
    the digest its run committed: a file altered in the store, even to the same rows or the
    same size, no longer has it. Its duplicate keys come from the previous run's files
    (carry_keys, in the flow)."""
    out: list[str | None] = []
    for files in batch:
        try:
            for f in files:
                _same_drops(f) if isinstance(f, DropsFile) else _same_bytes(*f)
            out.append(None)
        except (ShardReadError, OSError, ValueError) as e:
            out.append(_altered(e))
    return out


def check_all_files(items: list[tuple[tuple[tuple | DropsFile, ...]]], check: dict
                    ) -> list[str | None]:
    """check_files over every shard checked by its bytes: in this process's threads when
    every file is local (tiny files: the cluster's transport of a shard costs more than
    hashing it), else on the Dask workers (map_shards with `check`)."""
    if local_only(f[0] for (kept,) in items for f in kept):  # each one's URI comes first
        return map_here(check_files, items, batch_size=check["batch_size"])
    return map_shards(check_files, items, **check)


def files_of(r: Reused) -> tuple[tuple[str, ...], ...]:
    """What check_files needs of a shard checked by its bytes: each file's (uri, sha256),
    then the files of what its stages left out, which its reused entries name (a version
    that names one no longer holding what it commits to could never be proven)."""
    kept = (r.normalized, r.validated) if r.validated.derived else (r.normalized,)
    drops = (DropsFile.of(r.normalized, READ_DROPS), DropsFile.of(r.validated, ROW_DROPS))
    return tuple((e.uri, e.sha256) for e in kept if e.sha256 is not None) + \
        tuple(d for d in drops if d is not None)


def _same_drops(f: DropsFile) -> None:
    try:
        committed_numbers(f)
    except DropsChanged as e:
        raise ShardReadError(f"{e} ({redact(f.uri)})") from None


def check_reused(batch: list[Reused], spec: DatasetSpec, hashes_dir: str | None
                 ) -> list[str | None]:
    """check_files for a run made before laas-manifest-v4 (its entries carry no sha256):
    each reused file is read back and table-hashed against its leaf, and with hashes_dir its
    duplicate keys are recomputed from the verified rows, written there and held to the
    digest its validation committed to."""
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
            out.append(_altered(e))
    if columns and texts:
        digests = _keys(TextHashSink(hashes_dir, [k for k, _ in texts], columns), texts, spec)
        for n, r in enumerate(batch):
            if out[n] is None and digests.get(r.key) != r.validated.text_keys_hash:
                out[n] = ("its duplicate keys are not those its validation committed: "
                          "processed again")
    return out


def _altered(e: Exception) -> str:
    return f"altered in the store ({str(e)[:200]}): processed again"


def by_bytes(r: Reused) -> bool:
    """Whether a reused shard's files are checked by their committed sha256 (v4 entries)."""
    return r.normalized.sha256 is not None and (
        not r.validated.derived or r.validated.sha256 is not None)


def _same_bytes(uri: str, sha256: str) -> None:
    digest, _ = sha256_at(uri)
    if digest != sha256:
        raise ShardReadError(f"file {redact(uri)} has sha256 {digest[:16]}…, not the "
                             f"{sha256[:16]}… its run committed")


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
