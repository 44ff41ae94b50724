"""JSON-RPC for the chain clients, with no web3 and no requests: importing web3 costs over a
second, and the read path (gate, lineage, verify) must answer in less. `Rpc` is the read-only
client's transport; `mapped` is the one mapping of a node that is gone to laas's diagnosis,
for both clients."""

from __future__ import annotations

import contextlib
import itertools
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from laas.anchors.adapters.endpoints import Endpoints, Retry
from laas.anchors.adapters.files import redact_url
from laas.errors import AnchorError, AnchorTimeout

# Sending the same signed transaction twice is harmless only if the first never arrived; a
# read timeout or a 5xx may come after the node took it, so those are not retried for these.
SENDS = {"eth_sendRawTransaction", "eth_sendTransaction"}


class RpcError(Exception):
    """The node answered with a JSON-RPC error (a revert, a refused query): it is up."""

    def __init__(self, error: Any):
        self.rpc_response = error
        self.data = error.get("data") if isinstance(error, dict) else None
        message = error.get("message", error) if isinstance(error, dict) else error
        super().__init__(str(message))


def node_errors() -> tuple[type[BaseException], ...]:
    """The kinds of "the node refused this request": ours, and web3's if web3 is loaded (a
    module that was never imported cannot have raised)."""
    w3e = sys.modules.get("web3.exceptions")
    return (RpcError,) + ((w3e.Web3RPCError,) if w3e else ())


def _gone_errors() -> tuple[type[BaseException], ...]:
    kinds: list[type[BaseException]] = [ConnectionError]
    if requests := sys.modules.get("requests"):
        kinds.append(requests.exceptions.RequestException)
    if w3e := sys.modules.get("web3.exceptions"):
        kinds.append(w3e.ProviderConnectionError)
    return tuple(kinds)


def unreachable(urls: str | Sequence[str], e: BaseException) -> AnchorTimeout:
    """The one diagnosis for a node that is down, never was up, or died mid-call."""
    shown = ", ".join(redact_url(u) for u in ([urls] if isinstance(urls, str) else urls))
    return AnchorTimeout(
        f"chain RPC {shown} is unreachable ({type(e).__name__}): start it with "
        "`laas chain up` or point LAAS_RPC_URL (or LAAS_RPC_FALLBACK_URLS) at a live node; "
        "then `laas anchor --resume`"
    )


@contextlib.contextmanager
def mapped(urls: str | Sequence[str]) -> Iterator[None]:
    """A node that dies mid-call is the same diagnosis as one that was never up, whichever
    client (this module's or web3's) saw it."""
    try:
        yield
    except _gone_errors() as e:
        raise unreachable(urls, e) from None


# What parsing an answer of the wrong JSON type or shape raises (a number where a node sends
# hex, an object where it sends a list): a node never sends one, a lying endpoint may.
MALFORMED = (TypeError, ValueError, KeyError, IndexError, AttributeError)


@contextlib.contextmanager
def answered(urls: str | Sequence[str]) -> Iterator[None]:
    """`mapped`, and an answer no node sends, read in the block, is AnchorError (one line,
    exit 2) instead of the parser's TypeError or KeyError."""
    with mapped(urls):
        try:
            yield
        except MALFORMED as e:
            shown = ", ".join(redact_url(u) for u in ([urls] if isinstance(urls, str) else urls))
            raise AnchorError(f"chain RPC {shown} answered what no node sends "
                              f"({type(e).__name__}: {e}); use an endpoint you trust") from None


class Rpc:
    """JSON-RPC calls over Endpoints: one request, or one batch (answers in request order)."""

    def __init__(self, endpoints: Endpoints):
        self.endpoints = endpoints
        self._ids = itertools.count(1)

    @property
    def urls(self) -> list[str]:
        return self.endpoints.urls

    def request(self, method: str, params: list[Any]) -> Any:
        body = {"jsonrpc": "2.0", "method": method, "params": params, "id": next(self._ids)}
        answer = self._post(body, sends=method in SENDS, what=method)
        if not isinstance(answer, dict) or "error" in answer:
            raise RpcError(answer.get("error") if isinstance(answer, dict) else answer)
        return answer.get("result")

    def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
        """Each call's answer ({"result": ...} or {"error": ...}); RpcError if the node
        refused the batch as a whole."""
        first = next(self._ids)
        self._ids = itertools.count(first + len(calls))
        body = [{"jsonrpc": "2.0", "method": m, "params": p, "id": first + k}
                for k, (m, p) in enumerate(calls)]
        answer = self._post(body, sends=any(m in SENDS for m, _ in calls), what="batch")
        if not isinstance(answer, list):
            raise RpcError(answer.get("error", answer) if isinstance(answer, dict) else answer)
        return sorted(answer, key=lambda a: a.get("id", 0))

    def _post(self, body: Any, *, sends: bool, what: str) -> Any:
        raw = self.endpoints.post(json.dumps(body).encode(), sends=sends, what=what)
        try:
            return json.loads(raw)
        except ValueError:
            raise RpcError(f"{what}: the node's answer is not JSON") from None
        except RecursionError:  # no node's answer nests a thousand deep
            raise RpcError(f"{what}: the node's answer is not JSON (nested too deep)") from None

    def chain_id(self) -> int:
        with answered(self.urls):
            if self.endpoints.chain_id is None:
                self.endpoints.chain_id = self.request("eth_chainId", [])
            return int(self.endpoints.chain_id, 16)


def connect_rpc(urls: str | Sequence[str], timeout: float = 10.0,
                retry: Retry | None = None, probe: bool = True,
                proxies: Mapping[str, str] | None = None) -> Rpc:
    """A light client over the endpoints in order; with probe, a dead set of endpoints fails
    here with the one diagnosis."""
    urls = [urls] if isinstance(urls, str) else list(urls)
    rpc = Rpc(Endpoints(urls, timeout=timeout, retry=retry, proxies=proxies))
    if probe:
        with mapped(urls):
            rpc.chain_id()
    return rpc


