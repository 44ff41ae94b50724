"""The HTTP(S)_PROXY a JSON-RPC endpoint is reached through, as requests (under web3) chooses
it: http_proxy / https_proxy unless no_proxy names the host, as urllib's functions read them
from the environment (the composition root does: laas.wiring.rpc_proxies) and match them.
Loopback is always reached directly: a local anvil behind a corporate proxy must not go
through it."""

from __future__ import annotations

import base64
import http.client
import ipaddress
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import SplitResult, unquote, urlsplit


class Route(NamedTuple):
    conn: http.client.HTTPConnection
    target: str  # what the request line names: the path, or the whole URL to a proxy
    headers: dict[str, str]  # Proxy-Authorization for a plain-HTTP proxy


def proxy_for(url: SplitResult, proxies: Mapping[str, str]) -> SplitResult | None:
    """The proxy for this endpoint, or None to connect directly. `proxies` is what
    urllib.request.getproxies_environment() returns: scheme -> proxy URL, "no" -> NO_PROXY."""
    host = url.hostname or ""
    if not proxies or host == "localhost" or _loopback(host):
        return None  # without importing urllib.request: the common case
    from urllib.request import proxy_bypass_environment

    chosen = proxies.get(url.scheme)
    if not chosen or proxy_bypass_environment(host, proxies):
        return None
    return urlsplit(chosen if "://" in chosen else f"http://{chosen}")


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _auth(url: SplitResult) -> dict[str, str]:
    if url.username is None:
        return {}
    cred = f"{unquote(url.username)}:{unquote(url.password or '')}".encode()
    return {"Proxy-Authorization": "Basic " + base64.b64encode(cred).decode()}


def route(url: SplitResult, path: str, timeout: float, proxies: Mapping[str, str]) -> Route:
    """A connection to the endpoint: directly, through a CONNECT tunnel for https (TLS end to
    end, the proxy sees only the host), or to a plain-HTTP proxy naming the whole URL."""
    https = url.scheme == "https"
    kind = http.client.HTTPSConnection if https else http.client.HTTPConnection
    proxy = proxy_for(url, proxies)
    if proxy is None:
        return Route(kind(url.hostname or "", url.port, timeout=timeout), path, {})
    if https:
        conn = kind(proxy.hostname or "", proxy.port or 8080, timeout=timeout)
        conn.set_tunnel(url.hostname or "", url.port or 443, headers=_auth(proxy))
        return Route(conn, path, {})
    conn = http.client.HTTPConnection(proxy.hostname or "", proxy.port or 8080,
                                      timeout=timeout)
    netloc = url.hostname + (f":{url.port}" if url.port else "")  # no userinfo: a header
    return Route(conn, f"http://{netloc}{path}", _auth(proxy))
