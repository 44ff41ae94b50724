"""web3's side of the RPC transport: an HTTPProvider that posts through adapters.endpoints (the
same failover, 429/Retry-After handling, bounds and redaction as the read-only client's), for
the signing client. web3's own HTTPProvider logs and raises with the full URL, which is why the
posting is not left to it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from web3 import HTTPProvider
from web3._utils.caching import handle_request_caching
from web3.exceptions import ProviderConnectionError
from web3.types import RPCEndpoint, RPCResponse

from laas.anchors.adapters.endpoints import Endpoints, Retry, Unreachable, _retry_after
from laas.anchors.adapters.jsonrpc import SENDS

__all__ = ["FailoverProvider", "Retry", "_retry_after"]


class FailoverProvider(HTTPProvider):
    """An HTTPProvider over several endpoints (adapters.endpoints.Endpoints)."""

    def __init__(self, urls: Sequence[str] | Endpoints, *, timeout: float = 10.0,
                 retry: Retry | None = None, proxies: Mapping[str, str] | None = None):
        self.endpoints = urls if isinstance(urls, Endpoints) else \
            Endpoints(urls, timeout=timeout, retry=retry, proxies=proxies)
        super().__init__(self.endpoints.urls[0],
                         request_kwargs={"timeout": self.endpoints.timeout},
                         exception_retry_configuration=None, cache_allowed_requests=True,
                         cacheable_requests={RPCEndpoint("eth_chainId")})

    @property
    def urls(self) -> list[str]:
        return self.endpoints.urls

    def __str__(self) -> str:
        return str(self.endpoints)

    @property
    def endpoint_uri(self) -> str:  # type: ignore[override] - the one in use now
        return self.endpoints.urls[self.endpoints.current]

    @endpoint_uri.setter
    def endpoint_uri(self, value: str) -> None:  # HTTPProvider.__init__ sets it; urls rule
        pass

    @handle_request_caching  # with cache_allowed_requests: eth_chainId asked once
    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        body = self.encode_rpc_request(method, params)
        return self.decode_rpc_response(self._post(body, sends=method in SENDS, what=method))

    def make_batch_request(self, batch_requests: list[tuple[RPCEndpoint, Any]]) -> Any:
        body = self.encode_batch_rpc_request(batch_requests)
        sends = any(m in SENDS for m, _ in batch_requests)
        response = self.decode_rpc_response(self._post(body, sends=sends, what="batch"))
        if not isinstance(response, list):
            return response  # one error object for the whole batch
        return sorted(response, key=lambda r: r.get("id", 0))

    def _post(self, body: bytes, *, sends: bool, what: str) -> bytes:
        try:
            return self.endpoints.post(body, sends=sends, what=what)
        except Unreachable as e:  # web3's kind, so web3 and callers see what they always saw
            raise ProviderConnectionError(str(e)) from None
