"""HTTP endpoints of one chain, on the standard library: rate limits (HTTP 429 + Retry-After) are
waited out, a failing endpoint (connection refused, timeout, 5xx, a 429 storm) hands over to
the next of the configured URLs, and every request is bounded in attempts and in time. Both
chain clients post through it (adapters.jsonrpc.Rpc for the read-only one, adapters.rpc's
FailoverProvider under web3 for the signing one), so both behave the same on a hosted L2.

URLs carry provider keys (user:secret@, /v2/KEY, ?apikey=), so only redacted forms reach
messages and logs."""

from __future__ import annotations

import base64
import http.client
import json
import logging
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from laas.anchors.adapters.answers import AnswerTooLarge, cut_at, read_answer
from laas.anchors.adapters.files import redact_url
from laas.anchors.adapters.proxies import route

log = logging.getLogger("laas.rpc")


class Retry:
    """Bounds: how long one Retry-After may make us wait, how many 429s in a row an endpoint
    gets before we move on, how many passes over the endpoints, and a total time budget."""

    def __init__(self, *, max_wait: float = 10.0, storm: int = 3, rounds: int = 2,
                 budget: float = 60.0, backoff: float = 0.25):
        self.max_wait = max_wait
        self.storm = storm
        self.rounds = rounds
        self.budget = budget
        self.backoff = backoff


class Unreachable(ConnectionError):
    """No endpoint answered within the bounds; the message names them redacted only."""


class _Failed(Exception):
    """One endpoint failed one request; `why` is safe to show (no URL in it)."""

    def __init__(self, why: str, *, delivered: bool):
        super().__init__(why)
        self.why = why
        self.delivered = delivered  # the node may have acted on it


class Endpoints:
    """Several endpoints of one chain, in order. It sticks to the endpoint that last answered,
    so a fallback keeps serving once the primary failed, until it fails in turn."""

    def __init__(self, urls: Sequence[str], *, timeout: float = 10.0,
                 retry: Retry | None = None, proxies: Mapping[str, str] | None = None):
        if not urls:
            raise ValueError("at least one RPC URL")
        self.urls = list(urls)
        self.timeout = timeout
        self.retry = retry or Retry()
        self.proxies = proxies or {}  # adapters.proxies: scheme -> proxy URL, "no" -> hosts
        self.current = 0
        self._lock = threading.Lock()
        self._idle: dict[int, list[http.client.HTTPConnection]] = {}  # keep-alive, per URL
        # kept-alive sockets close with this object (or at exit), never left to the GC
        weakref.finalize(self, _close_idle, self._idle, self._lock)
        # Every endpoint must serve the same chain: one that serves another would take our
        # transactions elsewhere and answer "not found" for everything. The first endpoint
        # that answers sets the chain id; each other is asked for it before its first use.
        self.chain_id: str | None = None
        self._checked: set[int] = set()

    def __str__(self) -> str:
        return f"RPC connection {', '.join(redact_url(u) for u in self.urls)}"

    def post(self, body: bytes, *, sends: bool, what: str) -> bytes:
        """Bounded: at most `rounds` passes over the endpoints, `storm` 429s per endpoint per
        pass, and never past the time budget (a wait that would cross it is not started)."""
        deadline = time.monotonic() + self.retry.budget
        failures: list[str] = []
        n = len(self.urls)
        start = self.current
        for attempt in range(self.retry.rounds * n):
            i = (start + attempt) % n
            try:
                raw = self._try(i, body, deadline, sends=sends)
            except _Failed as e:
                failures.append(f"{redact_url(self.urls[i])}: {e.why}")
                log.debug("RPC %s via %s failed: %s", what, redact_url(self.urls[i]), e.why)
                if sends and e.delivered:
                    break  # the node may hold it: the caller looks the transaction up
                if attempt + 1 < self.retry.rounds * n and (attempt + 1) % n == 0:
                    # a whole pass failed: pause before the next, within the budget
                    pause = self.retry.backoff * 2 ** ((attempt + 1) // n - 1)
                    if time.monotonic() + pause >= deadline:
                        break
                    time.sleep(pause)
                continue
            if i != self.current:
                log.warning("RPC now served by %s", redact_url(self.urls[i]))
                with self._lock:
                    self.current = i
            return raw
        raise Unreachable(
            f"no RPC endpoint answered ({'; '.join(failures[-n:]) or 'out of time'})")

    def _same_chain(self, i: int, deadline: float) -> None:
        if i in self._checked or len(self.urls) == 1:
            return
        probe = json.dumps({"jsonrpc": "2.0", "method": "eth_chainId", "params": [],
                            "id": 0}).encode()
        try:
            chain_id = json.loads(self._try(i, probe, deadline, check=False)).get("result")
        except (ValueError, RecursionError):  # RecursionError: nested deeper than a stack
            raise _Failed("answered eth_chainId with no JSON", delivered=False) from None
        with self._lock:
            if self.chain_id is None:
                self.chain_id = chain_id
        if chain_id != self.chain_id:
            raise _Failed(f"serves chain {_int(chain_id)}, not {_int(self.chain_id)}",
                          delivered=False)
        self._checked.add(i)

    def _try(self, i: int, body: bytes, deadline: float, check: bool = True,
             sends: bool = False) -> bytes:
        """One endpoint: 429s are waited out (Retry-After, capped) up to `storm` times."""
        if check:
            self._same_chain(i, deadline)
        for _ in range(self.retry.storm):
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Failed("out of time", delivered=False)
            status, retry_after, content = self._exchange(i, body, deadline, fresh=sends)
            if status == 429:
                wait = _retry_after(retry_after, self.retry.backoff)
                if wait > self.retry.max_wait or time.monotonic() + wait >= deadline:
                    raise _Failed(f"HTTP 429, Retry-After {wait:g}s", delivered=False)
                time.sleep(wait)
                continue
            if status >= 400:
                raise _Failed(f"HTTP {status}", delivered=status >= 500)
            return content
        raise _Failed(f"HTTP 429 {self.retry.storm} times in a row", delivered=False)

    def _exchange(self, i: int, body: bytes, deadline: float, fresh: bool
                  ) -> tuple[int, str | None, bytes]:
        """One POST: (status, Retry-After, body). A kept-alive connection the server closed
        while idle is replaced once (it never read the request); a transaction is sent on a
        fresh connection, so whether it arrived is never in doubt that way."""
        timeout = max(0.01, min(self.timeout, deadline - time.monotonic()))
        url = urlsplit(self.urls[i])
        headers = {"Content-Type": "application/json"}
        if url.username is not None:  # user:secret@host, as requests sends it
            cred = f"{unquote(url.username)}:{unquote(url.password or '')}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(cred).decode()
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        way = route(url, path, timeout, self.proxies)  # direct, or through a proxy
        headers.update(way.headers)
        for _ in range(2):
            conn = None if fresh else self._take(i)
            reused = conn is not None
            if conn is None:
                conn = way.conn  # unused so far: a second pass follows a reused one
                try:
                    conn.connect()
                except TimeoutError:
                    raise _Failed("ConnectTimeout", delivered=False) from None
                except OSError as e:  # refused, no route, name not resolved: never sent
                    raise _Failed(f"ConnectionError ({type(e).__name__})",
                                  delivered=False) from None
            conn.timeout = timeout
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
            try:
                with cut_at(conn, deadline):
                    conn.request("POST", way.target, body=body, headers=headers)
                    resp = conn.getresponse()
                    content = read_answer(resp, deadline)
            except TimeoutError:
                conn.close()
                raise _Failed("ReadTimeout", delivered=True) from None
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                conn.close()
                if reused:
                    continue  # closed while idle: once more on a new connection
                raise _Failed(f"ConnectionError ({type(e).__name__})", delivered=True) from None
            except (http.client.HTTPException, OSError) as e:
                conn.close()
                raise _Failed(f"ConnectionError ({type(e).__name__})", delivered=True) from None
            except AnswerTooLarge as e:
                conn.close()
                raise _Failed(str(e), delivered=True) from None
            if resp.will_close or fresh:
                conn.close()
            else:
                with self._lock:
                    self._idle.setdefault(i, []).append(conn)
            return resp.status, resp.getheader("Retry-After"), content
        raise _Failed("ConnectionError (closed twice)", delivered=False)

    def _take(self, i: int) -> http.client.HTTPConnection | None:
        with self._lock:
            idle = self._idle.get(i)
            return idle.pop() if idle else None


def _close_idle(idle: dict[int, list[http.client.HTTPConnection]],
                lock: threading.Lock) -> None:
    with lock:
        for conns in idle.values():
            for conn in conns:
                conn.close()
        idle.clear()


def _int(hex_id: Any) -> Any:
    try:
        return int(hex_id, 16)
    except (TypeError, ValueError):
        return hex_id


def _retry_after(value: str | None, default: float) -> float:
    """Retry-After in seconds: providers send seconds, HTTP allows a date too; anything else
    waits `default`. The caller bounds it (Retry.max_wait, the budget)."""
    if value is None:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    if when.tzinfo is None:  # RFC 9110 dates are GMT; "-0000" parses as naive
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
