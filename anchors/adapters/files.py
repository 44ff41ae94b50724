"""One way to reach storage: fsspec with laas's settings applied (S3 endpoint, region, profile
or keys, so MinIO, R2 and other S3-compatible stores work), and URIs shown without the
credentials someone may have put in them."""

from __future__ import annotations

import re
from typing import IO, Any

import fsspec

from laas.settings import get_settings

_S3 = ("s3", "s3a")
# user:secret@ after a scheme, or anywhere in a message that echoes a mangled URI
_USERINFO = re.compile(
    r"([a-z][a-z0-9+.-]*://)[^\s/@'\"]+@|()[^\s/@:'\"]+:[^\s/@'\"]*@(?=[\w.-])", re.IGNORECASE)


def protocol(uri: str) -> str:
    return uri.split("://", 1)[0].lower() if "://" in uri else "file"


def storage_options(uri: str) -> dict[str, Any]:
    if protocol(uri) not in _S3:
        return {}
    s = get_settings()
    opts: dict[str, Any] = {}
    if s.s3_endpoint_url:
        opts["endpoint_url"] = s.s3_endpoint_url
    if s.s3_region:
        opts["client_kwargs"] = {"region_name": s.s3_region}
    if s.s3_profile:
        opts["profile"] = s.s3_profile
    if s.s3_key and s.s3_secret:
        opts["key"] = s.s3_key.get_secret_value()
        opts["secret"] = s.s3_secret.get_secret_value()
    return opts


def url_to_fs(uri: str) -> tuple[fsspec.AbstractFileSystem, str]:
    return fsspec.core.url_to_fs(uri, **storage_options(uri))


def open_uri(uri: str, mode: str = "rb", compression: str | None = None) -> IO:
    if mode.startswith("r") and protocol(uri) == "file":
        _regular(uri.removeprefix("file://"))
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
