"""JSON-RPC transport for hosted L2 providers: rate limits (HTTP 429 + Retry-After) are waited
out, a failing endpoint (connection refused, timeout, 5xx, a 429 storm) hands over to the
next of the configured URLs, and every request is bounded in attempts and in time. URLs carry
provider keys (user:secret@, /v2/KEY, ?apikey=), so only redacted forms reach messages and
logs: web3's own HTTPProvider logs and raises with the full URL, which is why the posting is
done here."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import requests
from web3 import HTTPProvider
from web3._utils.caching import handle_request_caching
from web3.exceptions import ProviderConnectionError
from web3.types import RPCEndpoint, RPCResponse

from laas.anchors.adapters.files import redact_url

log = logging.getLogger("laas.rpc")

# Sending the same signed transaction twice is harmless only if the first never arrived; a
# read timeout or a 5xx may come after the node took it, so those are not retried for these.
_SENDS = {"eth_sendRawTransaction", "eth_sendTransaction"}


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


class _Failed(Exception):
    """One endpoint failed one request; `why` is safe to show (no URL in it)."""

    def __init__(self, why: str, *, delivered: bool):
        super().__init__(why)
        self.why = why
        self.delivered = delivered  # the node may have acted on it


class FailoverProvider(HTTPProvider):
    """An HTTPProvider over several endpoints. It sticks to the endpoint that last answered,
    so a fallback keeps serving once the primary failed, until it fails in turn."""

    def __init__(self, urls: Sequence[str], *, timeout: float = 10.0,
                 retry: Retry | None = None):
        if not urls:
            raise ValueError("at least one RPC URL")
        super().__init__(urls[0], request_kwargs={"timeout": timeout},
                         exception_retry_configuration=None, cache_allowed_requests=True,
                         cacheable_requests={RPCEndpoint("eth_chainId")})
        self.urls = list(urls)
        self.timeout = timeout
        self.retry = retry or Retry()
        self._current = 0
        self._session = requests.Session()
        self._lock = threading.Lock()
        # Every endpoint must serve the same chain: one that serves another would take our
        # transactions elsewhere and answer "not found" for everything. The first endpoint
        # that answers sets the chain id; each other is asked for it before its first use.
        self._chain_id: str | None = None
        self._checked: set[int] = set()

    def __str__(self) -> str:
        return f"RPC connection {', '.join(redact_url(u) for u in self.urls)}"

    @property
    def endpoint_uri(self) -> str:  # type: ignore[override] - the one in use now
        return self.urls[self._current]

    @endpoint_uri.setter
    def endpoint_uri(self, value: str) -> None:  # HTTPProvider.__init__ sets it; urls rule
        pass

    @handle_request_caching  # with cache_allowed_requests: eth_chainId asked once
    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        body = self.encode_rpc_request(method, params)
        return self.decode_rpc_response(self._post(body, sends=method in _SENDS, what=method))

    def make_batch_request(self, batch_requests: list[tuple[RPCEndpoint, Any]]) -> Any:
        body = self.encode_batch_rpc_request(batch_requests)
        sends = any(m in _SENDS for m, _ in batch_requests)
        response = self.decode_rpc_response(self._post(body, sends=sends, what="batch"))
        if not isinstance(response, list):
            return response  # one error object for the whole batch
        return sorted(response, key=lambda r: r.get("id", 0))

    # -- the loop ---------------------------------------------------------------------------

    def _post(self, body: bytes, *, sends: bool, what: str) -> bytes:
        """Bounded: at most `rounds` passes over the endpoints, `storm` 429s per endpoint per
        pass, and never past the time budget (a wait that would cross it is not started)."""
        deadline = time.monotonic() + self.retry.budget
        failures: list[str] = []
        n = len(self.urls)
        start = self._current
        for attempt in range(self.retry.rounds * n):
            i = (start + attempt) % n
            try:
                raw = self._try(i, body, deadline)
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
            if i != self._current:
                log.warning("RPC now served by %s", redact_url(self.urls[i]))
                with self._lock:
                    self._current = i
            return raw
        raise ProviderConnectionError(
            f"no RPC endpoint answered ({'; '.join(failures[-n:]) or 'out of time'})")

    def _same_chain(self, i: int, deadline: float) -> None:
        if i in self._checked or len(self.urls) == 1:
            return
        probe = self.encode_rpc_request(RPCEndpoint("eth_chainId"), [])
        answer = self.decode_rpc_response(self._try(i, probe, deadline, check=False))
        chain_id = answer.get("result")
        with self._lock:
            if self._chain_id is None:
                self._chain_id = chain_id
        if chain_id != self._chain_id:
            raise _Failed(f"serves chain {_int(chain_id)}, not {_int(self._chain_id)}",
                          delivered=False)
        self._checked.add(i)

    def _try(self, i: int, body: bytes, deadline: float, check: bool = True) -> bytes:
        """One endpoint: 429s are waited out (Retry-After, capped) up to `storm` times."""
        if check:
            self._same_chain(i, deadline)
        url = self.urls[i]
        for _ in range(self.retry.storm):
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Failed("out of time", delivered=False)
            try:
                resp = self._session.post(
                    url, data=body, timeout=min(self.timeout, left),
                    headers={"Content-Type": "application/json"})
            except (requests.ConnectTimeout, requests.ConnectionError) as e:
                # requests' messages carry the URL: keep only the kind of failure
                delivered = not isinstance(e, requests.ConnectTimeout) and not _refused(e)
                raise _Failed(type(e).__name__, delivered=delivered) from None
            except requests.RequestException as e:  # read timeout and the like
                raise _Failed(type(e).__name__, delivered=True) from None
            with resp:
                if resp.status_code == 429:
                    wait = _retry_after(resp.headers.get("Retry-After"), self.retry.backoff)
                    if wait > self.retry.max_wait or time.monotonic() + wait >= deadline:
                        raise _Failed(f"HTTP 429, Retry-After {wait:g}s", delivered=False)
                    time.sleep(wait)
                    continue
                if resp.status_code >= 400:
                    raise _Failed(f"HTTP {resp.status_code}", delivered=resp.status_code >= 500)
                return resp.content
        raise _Failed(f"HTTP 429 {self.retry.storm} times in a row", delivered=False)


def _refused(e: requests.ConnectionError) -> bool:
    """True when the connection was never made (so the request surely was not received)."""
    from urllib3.exceptions import MaxRetryError, NewConnectionError

    reason = e.args[0].reason if e.args and isinstance(e.args[0], MaxRetryError) else None
    return isinstance(reason, NewConnectionError)


def _int(hex_id: Any) -> Any:
    try:
        return int(hex_id, 16)
    except (TypeError, ValueError):
        return hex_id


def _retry_after(value: str | None, default: float) -> float:
    """Retry-After in seconds (providers send seconds; an HTTP date is rare: use default)."""
    try:
        return max(0.0, float(value)) if value is not None else default
    except ValueError:
        return default
