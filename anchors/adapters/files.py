"""One way to reach storage: fsspec with the process's StorageConfig applied (S3 endpoint,
region, profile or keys, so MinIO, R2 and other S3-compatible stores work), and URIs shown
without the credentials someone may have put in them.

The config is handed in, never read from the environment here: the composition root
(laas.wiring) calls `configure` in the CLI and the flow's process, and a Dask worker receives it
with each batch (tasks.compute.map_shards), so workers started elsewhere need no laas settings."""

from __future__ import annotations

import re
from typing import IO, TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, SecretStr

if TYPE_CHECKING:  # imported where storage is reached: `laas lineage` needs only redact()
    import fsspec

_S3 = ("s3", "s3a")
# user:secret@ after a scheme, or anywhere in a message that echoes a mangled URI
_USERINFO = re.compile(
    r"([a-z][a-z0-9+.-]*://)[^\s/@'\"]+@|()[^\s/@:'\"]+:[^\s/@'\"]*@(?=[\w.-])", re.IGNORECASE)


def protocol(uri: str) -> str:
    return uri.split("://", 1)[0].lower() if "://" in uri else "file"


class StorageConfig(BaseModel):
    """How to reach the object store; frozen and picklable, so it travels to Dask workers.
    Unset fields leave fsspec's (and boto's) own defaults."""

    model_config = ConfigDict(frozen=True)

    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_profile: str | None = None
    s3_key: SecretStr | None = None
    s3_secret: SecretStr | None = None

    def options(self, uri: str) -> dict[str, Any]:
        if protocol(uri) not in _S3:
            return {}
        opts: dict[str, Any] = {}
        if self.s3_endpoint_url:
            opts["endpoint_url"] = self.s3_endpoint_url
        if self.s3_region:
            opts["client_kwargs"] = {"region_name": self.s3_region}
        if self.s3_profile:
            opts["profile"] = self.s3_profile
        if self.s3_key and self.s3_secret:
            opts["key"] = self.s3_key.get_secret_value()
            opts["secret"] = self.s3_secret.get_secret_value()
        return opts


_config = [StorageConfig()]  # this process's; set by the composition root or a worker batch


def configure(config: StorageConfig) -> None:
    _config[0] = config


def current() -> StorageConfig:
    return _config[0]


def storage_options(uri: str) -> dict[str, Any]:
    return _config[0].options(uri)


def url_to_fs(uri: str) -> tuple[fsspec.AbstractFileSystem, str]:
    import fsspec  # with asyncio, ~40 ms of a command's start

    return fsspec.core.url_to_fs(uri, **storage_options(uri))


def open_uri(uri: str, mode: str = "rb", compression: str | None = None) -> IO:
    """A file to use in a `with`. A local file read as bytes is opened directly: fsspec's local
    opener reads the same bytes, and importing fsspec costs `laas gate` ~30 ms."""
    if mode.startswith("r") and protocol(uri) == "file":
        path = uri.removeprefix("file://")
        if mode in ("rb", "r") and compression is None:
            return _open_regular(path, mode)
        _regular(path)
    import fsspec

    return fsspec.open(uri, mode, compression=compression, **storage_options(uri))


def _regular(path: str) -> None:
    """Reading a named pipe or a device blocks or never ends: in a store anyone may write to,
    only regular files are read."""
    import os
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # absent: the open says so, as it always did
    if not stat.S_ISREG(mode):
        raise OSError(f"{redact(path)} is not a regular file")


def _open_regular(path: str, mode: str) -> IO:
    """The file, opened without blocking and then checked to be a regular one: checked by
    name first, a pipe swapped in before the open would block it for ever."""
    import os
    import stat

    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{redact(path)} is not a regular file")
    os.set_blocking(fd, True)
    return os.fdopen(fd, mode)


def names_in(folder: str, pattern: str) -> list[str]:
    """The names in a folder (a URI) that match a glob pattern of one level, sorted; none if
    the folder is absent. A local folder is listed without fsspec, as fsspec lists it: every
    entry, hidden ones and symlinks included (tests/test_shards.py compares the two)."""
    if protocol(folder) != "file":
        fs, path = url_to_fs(folder)
        fs.invalidate_cache(path)  # object stores cache listings; another process may write
        return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in fs.glob(f"{path}/{pattern}"))
    import fnmatch
    import os

    try:
        entries = os.listdir(folder.removeprefix("file://"))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(n for n in entries if fnmatch.fnmatchcase(n, pattern))


def glob_files(fs: fsspec.AbstractFileSystem, pattern: str) -> list[str]:
    """fs.glob(pattern) without what is not a file (folders, links, devices), sorted. A local
    pattern whose wildcards are all in its last part is matched on one os.scandir, whose entries
    carry their type: fsspec's local glob stats each entry for its info (1.5 s at 20,000
    shards). Same regex (fsspec's), same types (fsspec's info of a scandir entry, links not
    followed), same paths (tests/test_shards.py compares the two)."""
    folder, _, last = pattern.rpartition("/")
    if fs.protocol not in ("file", ("file", "local")) or "**" in pattern or not folder \
            or any(ch in folder for ch in "*?[") or not any(ch in last for ch in "*?["):
        return sorted(p for p, info in fs.glob(pattern, detail=True).items()
                      if info.get("type") == "file")
    import os

    from fsspec.utils import glob_translate

    match = re.compile(glob_translate(pattern)).match
    try:
        with os.scandir(folder) as entries:
            found = [fs._strip_protocol(e.path) for e in entries
                     if e.is_file(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(p for p in found if match(p))


def join(fs: fsspec.AbstractFileSystem, path: str) -> str:
    """A path that fs returned (no protocol) as a URI for the same store."""
    proto = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return path if proto in ("file", "local") else f"{proto}://{path}"


def redact_url(url: str) -> str:
    """An RPC URL as it may be shown: scheme, host and port only. Providers put keys in the
    user part, the path (`/v2/KEY`) or the query (`?apikey=`), so none of those is shown."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparseable URL>"
    rest = "/…" if (parts.path.strip("/") or parts.query or parts.fragment) else ""
    return f"{parts.scheme}://{host}{port}{rest}" if parts.scheme else "<unparseable URL>"


def redact(uri: str) -> str:
    """s3://KEY:SECRET@bucket/x -> s3://***@bucket/x; safe to log, print or commit."""
    return _USERINFO.sub(lambda m: f"{m.group(1) or ''}***@", uri)


def rehash_parquet_at(uri: str, limit: int | None = None) -> tuple[bytes, int, int]:
    """core.hashing.rehash_parquet of the Parquet file at a URI; ValueError, unread, if it
    is larger than `limit` bytes (adapters.sized.parquet_limit of the shard it must be)."""
    from laas.anchors.adapters.sized import size_of
    from laas.anchors.core.hashing import rehash_parquet

    with open_uri(uri) as f:
        if limit is not None and (size := size_of(f)) is not None and size > limit:
            raise ValueError(f"{size} bytes, more than the committed shard can be as Parquet")
        return rehash_parquet(f)


def sha256_at(uri: str) -> tuple[str, int]:
    """(sha256 hex, size) of the file at a URI, streamed 1 MiB at a time (bounded memory)."""
    import hashlib

    h = hashlib.sha256()
    size = digest_into(uri, h)
    return h.hexdigest(), size


def digest_into(uri: str, hasher: Any) -> int:
    """Feed the file's bytes to hasher.update, at most 1 MiB at a time; its size. A local file
    is read on one descriptor, opened without blocking (a pipe's open would wait for a writer)
    and held to be a regular file by the fstat that sizes its first read: a tiny shard costs
    two reads of its own size, not a stat by name, a buffered file and a 1 MiB buffer (~50 us
    of ~110 us)."""
    if protocol(uri) != "file":
        size = 0
        with open_uri(uri) as f:
            while chunk := f.read(1 << 20):
                hasher.update(chunk)
                size += len(chunk)
        return size
    import os
    import stat

    path = uri.removeprefix("file://")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(f"{redact(path)} is not a regular file")
        size, want = 0, min(st.st_size + 1, 1 << 20)  # +1: the end is seen in the same read
        while chunk := os.read(fd, want):
            hasher.update(chunk)
            size += len(chunk)
            want = 1 << 20
    finally:
        os.close(fd)
    return size


def size_at(uri: str) -> int:
    """The size in bytes of the file at a URI, from the store's listing (nothing read)."""
    if protocol(uri) == "file":
        import os

        return os.stat(uri.removeprefix("file://")).st_size
    fs, path = url_to_fs(uri)
    return int(fs.size(path))
