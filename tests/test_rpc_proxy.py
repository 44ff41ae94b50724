"""The stdlib JSON-RPC transport goes through HTTP(S)_PROXY as requests (under web3) does,
honours NO_PROXY, and never sends loopback through a proxy; the composition root reads the
environment (laas.wiring.rpc_proxies). The node and the proxy are small servers on loopback;
the node's name (rpc.test) is resolved by the proxy alone, so a request that reached it went
through the proxy."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from laas.anchors.adapters.proxies import proxy_for
from laas.settings import Settings
from laas.wiring import open_rpc, rpc_proxies


class Node(BaseHTTPRequestHandler):
    """Answers eth_chainId with anvil's chain id."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body = json.dumps({"jsonrpc": "2.0", "id": req["id"], "result": "0x7a69"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class Proxy(BaseHTTPRequestHandler):
    """A plain-HTTP forward proxy that records what it was asked and resolves every host to
    127.0.0.1."""

    seen: list[tuple[str, str | None]] = []

    def do_POST(self) -> None:  # noqa: N802
        import http.client

        Proxy.seen.append((self.path, self.headers.get("Proxy-Authorization")))
        target = urlsplit(self.path)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=5)
        conn.request("POST", target.path or "/", body=body,
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        self.send_response(resp.status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def servers(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, int]]:
    import os

    for k in [k for k in os.environ if k.lower().endswith("_proxy")]:
        monkeypatch.delenv(k)
    node = ThreadingHTTPServer(("127.0.0.1", 0), Node)
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    for s in (node, proxy):
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
    Proxy.seen = []
    yield node.server_address[1], proxy.server_address[1]
    for s in (node, proxy):
        s.shutdown()
        s.server_close()


def test_an_endpoint_is_reached_through_http_proxy_with_its_credentials(
        servers: tuple[int, int], monkeypatch: pytest.MonkeyPatch) -> None:
    node, proxy = servers
    monkeypatch.setenv("HTTP_PROXY", f"http://pu:pp@127.0.0.1:{proxy}")
    rpc = open_rpc(Settings(rpc_url=f"http://rpc.test:{node}/v2/KEY", chain_id=31337))
    assert rpc.chain_id() == 31337
    assert Proxy.seen and Proxy.seen[0] == (f"http://rpc.test:{node}/v2/KEY",
                                            "Basic cHU6cHA=")  # base64 of pu:pp


def test_loopback_and_no_proxy_hosts_are_reached_directly(
        servers: tuple[int, int], monkeypatch: pytest.MonkeyPatch) -> None:
    node, proxy = servers
    assert rpc_proxies() == {}
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy}")
    assert open_rpc(Settings(rpc_url=f"http://127.0.0.1:{node}")).chain_id() == 31337
    assert Proxy.seen == []  # loopback never goes through a proxy

    def via(url: str):  # noqa: ANN202 - the proxy chosen, from the environment as it is
        return proxy_for(urlsplit(url), rpc_proxies())

    for url in ("http://localhost:1/", "http://[::1]:1/", "http://127.0.0.2/"):
        assert via(url) is None
    assert via("http://rpc.test/").port == proxy
    assert via("https://rpc.test/") is None  # HTTPS_PROXY is not set
    monkeypatch.setenv("https_proxy", "proxy.corp:3128")
    assert via("https://rpc.test/").hostname == "proxy.corp"
    monkeypatch.setenv("NO_PROXY", "example.org,rpc.test")
    assert via("https://rpc.test/") is None
    assert via("https://node.example.org/") is None
    assert via("https://other.net/").port == 3128
