"""An incremental run's check of the shards its plan would reuse, read off the plan's columns
(a parked plan makes no entry for a shard checked by its bytes): each reused file streamed
through SHA-256 against the digest its run committed (reuse_work.check_files), the older
runs' files table-hashed against their leaves, and the duplicate keys carried from the
previous run held to the digests its validation committed. A shard that fails any of them
is processed again as new (core.reuse.confirm)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import pyarrow as pa

from laas.anchors.core.reuse import Reused, ReusePlan, sides
from laas.anchors.core.shard_columns import column
from laas.tasks.compute import map_shards
from laas.tasks.dataset_spec import DatasetSpec
from laas.tasks.key_files import verified_text_keys
from laas.tasks.reuse_work import (
    REUSED_KEYS,
    by_bytes,
    check_all_files,
    check_reused,
    files_of,
)
from laas.tasks.text_keys import TextKeys


def reuse_problems(plan: ReusePlan, spec: DatasetSpec, prev_dir: str, keys_dir: str | None,
                   check: dict) -> dict[str, str]:
    """{key: why} for every planned shard that may not be reused after all. `prev_dir`: the
    previous run's validated stage folder; `keys_dir`: where this run's validated stage
    keeps the reused shards' duplicate keys (None: it keeps none); `check`: map_shards's
    batching for the file checks."""
    reused = plan.reused
    checked, files, older = split_checks(reused)
    keys = column(sides(reused)[0], "key")
    with ThreadPoolExecutor(1, thread_name_prefix="laas-keys") as pool:
        # the previous run's keys read meanwhile the reused files are hashed
        want = keys_of(reused, checked) if keys_dir else []
        found = pool.submit(carried_keys, prev_dir, want) if keys_dir else None
        problems = check_all_files([(f,) for f in files], check) + map_shards(
            check_reused, [(reused[i],) for i in older], **check, spec=spec,
            hashes_dir=keys_dir)
        bad = {keys[i]: p for i, p in zip(checked + older, problems, strict=True) if p}
        if found is not None:
            bad |= carry_keys(keys_dir, [k for k in want if k.key not in bad], found.result())
    return bad


class KeysOf(NamedTuple):
    """What the duplicate-key checks read of a reused shard's validated entry."""

    key: str
    text_keys_hash: str | None


def split_checks(reused: Sequence[Reused]) -> tuple[list[int], list[tuple], list[int]]:
    """(where the shards checked by their bytes are in `reused`, files_of each, where those
    of a run before laas-manifest-v4 are), read off the plan's columns: an entry is made
    only for a shard a stage left rows out of (its entries name the files of those)."""
    norm, val = sides(reused)
    checked: list[int] = []
    files: list[tuple] = []
    older: list[int] = []
    for i, (uri, sha, left_n, left_v) in enumerate(zip(
            *(column(norm, f) for f in ("uri", "sha256", "parent_hash")),
            column(val, "parent_hash"), strict=True)):
        if left_n is None and left_v is None:  # files_of: the normalized file alone
            ok, kept = sha is not None, ((uri, sha),)
        else:
            ok = by_bytes(r := reused[i])
            kept = files_of(r) if ok else ()
        (checked if ok else older).append(i)
        if ok:
            files.append(kept)
    return checked, files, older


def keys_of(reused: Sequence[Reused], at: Sequence[int]) -> list[KeysOf]:
    """KeysOf the reused shards at these positions, from the validated side's columns."""
    val = sides(reused)[1]
    keys, digests = column(val, "key"), column(val, "text_keys_hash")
    return [KeysOf(keys[i], digests[i]) for i in at]


def carried_keys(prev_dir: str, want: list[KeysOf]) -> TextKeys:
    """The duplicate keys of the shards checked by their bytes, taken from the folders where
    the previous run's validated stage (`prev_dir`) kept them (those it validated, and those
    it reused) and held to the digest each shard's validation committed: a few Parquet files
    read instead of every reused shard's rows. Only those that hold are returned."""
    found = TextKeys()
    for folder in ("text-hashes", REUSED_KEYS):  # the validated stage's folders of keys
        left = [e for e in want if e.key not in found]
        if left:
            found |= verified_text_keys(f"{prev_dir}/{folder}", left)[0]
    return found


def carry_keys(keys_dir: str, want: list[KeysOf], found: TextKeys) -> dict[str, str]:
    """The reused shards' keys from carried_keys written to this run's `keys_dir` for the
    dataset-wide checks (and the next run). {key: why} for shards whose keys were missing
    or not the committed ones: processed again."""
    from laas.tasks.stage_files import write_parquet
    from laas.tasks.text_hashes import batch_file

    keys = [e.key for e in want if e.key in found]
    if keys:  # as TextHashSink lays them out (key, h), without digesting them again
        import numpy as np

        write_parquet(f"{keys_dir}/{batch_file(keys)}", pa.table({
            "key": pa.array(keys, pa.string()).take(pa.array(np.repeat(
                np.arange(len(keys)), [found.rows(k) for k in keys]))),
            "h": pa.chunked_array(found.chunks(keys), pa.string())}))
    return {e.key: "its duplicate keys are not in the previous run's files as its validation "
                   "committed them: processed again" for e in want if e.key not in found}
