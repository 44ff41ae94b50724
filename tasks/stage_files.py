"""The files of a stage's folder: which shard keys may name a file there, which shards are set
aside for it, and folders emptied before a stage writes (nothing planted there is kept)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import IO, Any

from laas.anchors.adapters.files import join, redact, url_to_fs
from laas.anchors.core.models import ShardEntry
from laas.anchors.core.shard_columns import column

MAX_NAME_BYTES = 240  # a file name component, with room for ".parquet" under most filesystems


class Sha256Sink:
    """A file being written, passed through: the sha256 of exactly the bytes written to it,
    taken as they go by (ShardEntry.sha256, what a Croissant card and the reuse check name),
    so nothing reads the file again to learn it. Parquet writes front to back (its footer
    last), so the bytes hashed are the file's bytes in order."""

    def __init__(self, f: IO[bytes]):
        self._f = f
        self._h = hashlib.sha256()
        self.size = 0

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self._h.update(view)
        self.size += view.nbytes
        return self._f.write(data)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self._f.flush()

    def writable(self) -> bool:
        return True

    @property
    def closed(self) -> bool:
        return bool(getattr(self._f, "closed", False))

    def close(self) -> None:
        """The caller's `with` closes the file underneath; pyarrow's writer only calls this."""

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def write_parquet(uri: str, table: Any) -> str:
    """The table as a zstd Parquet file at uri, written under a fresh name then renamed (never
    through a link planted at uri); the sha256 of the bytes written."""
    import pyarrow.parquet as pq

    fs, path = url_to_fs(uri)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    tmp = f"{path}.{secrets.token_hex(6)}.tmp"
    with fs.open(tmp, "wb") as f:
        sink = Sha256Sink(f)
        pq.write_table(table, sink, compression="zstd")
    fs.mv(tmp, path)
    return sink.hexdigest()


def unsafe_key(key: str) -> str | None:
    """Why a shard key must not become a path under the stage folder, if it must not: object
    stores accept keys such as `../../etc/passwd`, and the key names the normalized file."""
    parts = PurePosixPath(key).parts
    if not parts or key.startswith("/") or ".." in parts or "\\" in key:
        return f"unsafe shard name {key!r} (absolute, or climbs with ..); rename the object"
    return None


def name_clashes(entries: Sequence[ShardEntry]) -> dict[str, str]:
    """Shards whose normalized file (`KEY.parquet`) cannot exist beside the others': a name
    that is another shard's folder (`d.jsonl` beside `d.jsonl.parquet/x`), or a component too
    long for a file system. Decided over the whole stage, so a rerun sets aside the same ones
    whatever order the workers run in. By column: a parked raw stage's entries are not made
    again (every shard's, each run)."""
    outs = {k: f"{k}.parquet" for k, st in zip(column(entries, "key"), column(entries, "status"),
                                                strict=True) if st == "ok"}
    folders = {"/".join(parts[:i]) for out in outs.values()
               for parts in [out.split("/")] for i in range(1, len(parts))}
    clashes = {}
    for key, out in outs.items():
        if any(len(part.encode()) > MAX_NAME_BYTES for part in out.split("/")):
            clashes[key] = (f"its name has a part over {MAX_NAME_BYTES} bytes, too long for a "
                            "file name; rename the object")
        elif out in folders:
            clashes[key] = (f"its normalized file {out} would be the folder of another "
                            "shard's; rename one of them")
    return clashes


def set_aside(entry: ShardEntry, reason: str, bad_status: str) -> ShardEntry:
    return entry.model_copy(update={"content_hash": None, "byte_size": 0, "status": bad_status,
                                    "reason": f"shard {redact(entry.uri)}: {reason}"})


def remove(uri: str) -> None:
    """Whatever is at uri, gone; a planted link is removed, not followed."""
    import os

    fs, path = url_to_fs(uri)
    if fs.protocol in ("file", ("file", "local")) and os.path.islink(path):
        os.unlink(path)
    elif fs.exists(path):
        fs.rm(path, recursive=True)


def fresh_dir(uri: str) -> str:
    """An empty folder at uri (what an interrupted attempt, or anyone with write access to the
    store, left there is removed)."""
    remove(uri)
    fs, path = url_to_fs(uri)
    fs.makedirs(path, exist_ok=True)
    return uri


def clear_stage_dir(out_dir: str) -> None:
    """A stage that is recomputed starts from an empty folder, but for the manifests and notes
    that lie there (an earlier attempt's, to be judged by trust, not deleted): no file or link
    that was left or planted is written through."""
    fs, path = url_to_fs(out_dir)
    if not fs.exists(path):
        return
    for p in fs.ls(path, detail=False):
        if not p.rstrip("/").rsplit("/", 1)[-1].startswith(("manifest-", "attest-", "sent-")):
            remove(join(fs, p))
