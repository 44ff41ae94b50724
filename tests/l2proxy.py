"""A JSON-RPC proxy on loopback that behaves like a hosted L2 provider, in front of a real
anvil, and a helper that starts anvil like an L2. What hosted providers do that a local node
does not, and that laas must cope with:

- eth_getLogs is capped: at most `log_range` blocks per query and `max_results` logs per
  answer, refused with the providers' usual JSON-RPC errors (never a partial answer);
- requests are rate limited (token bucket): HTTP 429 with a Retry-After header; `storm()`
  answers 429 to everything for a while, `outage()` a 5xx;
- every answer takes `latency` seconds (a range, drawn per request);
- `safe` and `finalized` trail the head by configurable block counts, wherever a block tag
  may appear (eth_getBlockByNumber, eth_call, eth_getLogs' fromBlock/toBlock, ...); with
  `finality_tags = False` they are refused as a node that predates them does;
- JSON-RPC batches (lists) are answered element by element, each under the same rules.

It counts the calls it saw per method (`proxy.calls`, a Counter; also `GET /stats`).
Any path is accepted, so a URL may carry a provider key (`/v2/KEY`) and user:secret@."""

from __future__ import annotations

import contextlib
import json
import math
import random
import subprocess
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from laas.anchors.adapters.localchain import find_anvil, rpc_alive

HYPERION_CHAIN_ID = 133717
UPSTREAM_TIMEOUT = 30.0  # seconds; anvil answers in milliseconds, so this is only a bound
_TAGGED = {"safe", "finalized"}


class TokenBucket:
    """`rate` requests per second on average, bursts of up to `burst`."""

    def __init__(self, rate: float, burst: int):
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def take(self, n: int = 1) -> float:
        """0 if the request may go now, else the seconds until it could (Retry-After)."""
        n = min(n, self.burst)  # a batch wider than a burst still gets through, eventually
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= n:
                self.tokens -= n
                return 0.0
            return (n - self.tokens) / self.rate


class L2Proxy:
    def __init__(self, upstream: str, *, log_range: int = 2000, max_results: int = 10_000,
                 rate: float | None = None, burst: int = 20,
                 latency: tuple[float, float] = (0.0, 0.0),
                 safe_lag: int = 0, finalized_lag: int = 0):
        self.upstream = upstream
        self.log_range = log_range
        self.max_results = max_results
        self.bucket = TokenBucket(rate, burst) if rate else None
        self.latency = latency
        self.safe_lag = safe_lag
        self.finalized_lag = finalized_lag
        self.finality_tags = True
        self.calls: Counter[str] = Counter()  # every call seen, refused ones included
        self.refused: Counter[str] = Counter()  # JSON-RPC errors this proxy made up
        self.http_429 = 0
        self._storm_until = 0.0
        self._storm_pending = 0.0
        self._storm_retry_after = 1
        self._outage_until = 0.0
        self._outage_status = 503
        self.http_5xx = 0
        self._lock = threading.Lock()
        self._session = requests.Session()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> L2Proxy:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()  # returns once serve_forever's loop has seen it
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def secret_url(self, user: str, secret: str, key: str) -> str:
        """The proxy's URL as a provider hands it out: basic auth and a key in the path."""
        return f"http://{user}:{secret}@127.0.0.1:{self.port}/v2/{key}"

    # -- knobs and readings -----------------------------------------------------------------

    def storm(self, seconds: float, retry_after: int = 1) -> None:
        """Answer every request with 429 for `seconds` from the next request on (not from now:
        a client process may take seconds to start on a busy machine)."""
        self._storm_pending = seconds
        self._storm_retry_after = retry_after
        if not seconds:  # storm(0) ends a storm under way
            self._storm_until = 0.0

    def outage(self, seconds: float, status: int = 503) -> None:
        """Answer every request with HTTP `status` (a 5xx: the provider is down) for a while."""
        self._outage_until = time.monotonic() + seconds
        self._outage_status = status

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.refused.clear()
            self.http_429 = 0
            self.http_5xx = 0

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"calls": dict(self.calls), "total": sum(self.calls.values()),
                    "refused": dict(self.refused), "http_429": self.http_429,
                    "http_5xx": self.http_5xx}

    # -- the provider's rules ---------------------------------------------------------------

    def throttle(self, n: int) -> int | None:
        """Retry-After seconds if this request is rate limited, else None."""
        with self._lock:
            if self._storm_pending:
                self._storm_until = time.monotonic() + self._storm_pending
                self._storm_pending = 0.0
        if time.monotonic() < self._storm_until:
            return self._storm_retry_after
        wait = self.bucket.take(n) if self.bucket else 0.0
        return math.ceil(wait) if wait else None

    def answer(self, call: Any) -> dict[str, Any]:
        if not isinstance(call, dict) or "method" not in call:
            return {"jsonrpc": "2.0", "id": None,
                    "error": {"code": -32600, "message": "invalid request"}}
        method = call["method"]
        with self._lock:
            self.calls[method] += 1
        params = call.get("params") or []
        if any(_has_tag(p) for p in params):
            if not self.finality_tags:  # what geth answered before it knew the tags
                return {"jsonrpc": "2.0", "id": call.get("id"), "error": {
                    "code": -32602, "message": "invalid argument 0: hex string without 0x "
                                               "prefix"}}
            head = self._head()
            params = [_retag(p, {"safe": max(0, head - self.safe_lag),
                                 "finalized": max(0, head - self.finalized_lag)})
                      for p in params]
        if method == "eth_getLogs" and params and isinstance(params[0], dict):
            refusal = self._logs_refusal(params[0])
            if refusal is None:
                reply = self._forward({**call, "params": params})
                if len(reply.get("result") or []) > self.max_results:
                    refusal = {"code": -32005, "message": f"query returned more than "
                               f"{self.max_results} results. Try with this block range "
                               "[narrower]."}
                else:
                    return reply
            with self._lock:
                self.refused[method] += 1
            return {"jsonrpc": "2.0", "id": call.get("id"), "error": refusal}
        return self._forward({**call, "params": params})

    def _logs_refusal(self, flt: dict[str, Any]) -> dict[str, Any] | None:
        if "blockHash" in flt:
            return None
        head = None
        ends = []
        for key in ("fromBlock", "toBlock"):
            v = flt.get(key, "latest")
            if isinstance(v, str) and v.startswith("0x"):
                ends.append(int(v, 16))
            elif v == "earliest":
                ends.append(0)
            else:  # latest, pending (safe/finalized were rewritten already)
                head = self._head() if head is None else head
                ends.append(head)
        if ends[1] - ends[0] + 1 > self.log_range:
            return {"code": -32602, "message": f"block range is too large: exceed maximum "
                                               f"block range: {self.log_range}"}
        return None

    def _head(self) -> int:
        reply = self._forward({"jsonrpc": "2.0", "id": 0, "method": "eth_blockNumber",
                               "params": []})
        return int(reply["result"], 16)

    def _forward(self, call: dict[str, Any]) -> dict[str, Any]:
        resp = self._session.post(self.upstream, json=call, timeout=UPSTREAM_TIMEOUT)
        return resp.json()


def _has_tag(p: Any) -> bool:
    if isinstance(p, str):
        return p in _TAGGED
    if isinstance(p, dict):
        return any(_has_tag(v) for v in p.values())
    return False


def _retag(p: Any, blocks: dict[str, int]) -> Any:
    if isinstance(p, str) and p in blocks:
        return hex(blocks[p])
    if isinstance(p, dict):
        return {k: _retag(v, blocks) for k, v in p.items()}
    return p


def _handler(proxy: L2Proxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as providers do

        def log_message(self, *args: Any) -> None:  # quiet test output
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            # the client may have given up waiting (its own timeout): nothing to answer then
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path.rstrip("/").endswith("/stats"):
                self._send(200, json.dumps(proxy.stats()).encode())
            else:
                self._send(404, b'{"error": "POST JSON-RPC, or GET /stats"}')

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                request = json.loads(body)
            except ValueError:
                self._send(400, b'{"jsonrpc":"2.0","id":null,"error":{"code":-32700,'
                                b'"message":"parse error"}}')
                return
            lo, hi = proxy.latency
            if hi > 0:
                time.sleep(random.uniform(lo, hi))
            if time.monotonic() < proxy._outage_until:
                with proxy._lock:
                    proxy.http_5xx += 1
                self._send(proxy._outage_status, b'{"error": "service unavailable"}')
                return
            batch = isinstance(request, list)
            retry_after = proxy.throttle(len(request) if batch else 1)
            if retry_after is not None:
                with proxy._lock:
                    proxy.http_429 += 1
                self._send(429, b'{"jsonrpc":"2.0","id":null,"error":{"code":-32005,'
                                b'"message":"rate limit exceeded"}}',
                           {"Retry-After": str(retry_after)})
                return
            try:
                reply = [proxy.answer(c) for c in request] if batch else proxy.answer(request)
            except (requests.RequestException, ValueError, KeyError) as e:
                self._send(502, json.dumps({"error": f"upstream: {type(e).__name__}"}).encode())
                return
            self._send(200, json.dumps(reply).encode())

    return Handler


class L2Node:
    """anvil started like an L2: Hyperion's chain id, a block every second (or none with
    block_time=None), a nonzero EIP-1559 base fee that moves with gas use, state history
    pruned as on a provider's node. No state file: it lives as long as the test."""

    def __init__(self, port: int, log: Path, *, block_time: int | None = 1,
                 base_fee_wei: int = 10**9):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        cmd = [find_anvil(), "--host", "127.0.0.1", "--port", str(port),
               "--chain-id", str(HYPERION_CHAIN_ID), "--base-fee", str(base_fee_wei),
               "--prune-history", "64"]
        if block_time:
            cmd += ["--block-time", str(block_time)]
        self._log = log.open("ab")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while rpc_alive(self.url) is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"anvil did not start on port {port}; see {log}")
            time.sleep(0.1)

    def rpc(self, method: str, *params: Any, timeout: float = 120.0) -> Any:
        reply = requests.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                              "params": list(params)}, timeout=timeout).json()
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def head(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)

    def mine(self, blocks: int, chunk: int = 1000) -> None:
        """Mine empty blocks fast (anvil_mine; ~100-400 per second on 2 cores), in chunks so
        each request stays well inside its timeout."""
        left = blocks
        while left > 0:
            n = min(chunk, left)
            self.rpc("anvil_mine", hex(n), timeout=120)
            left -= n

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self._log.close()

