"""HTTP plumbing the remote logs adapters share: one request with the profile's limits,
errors that say what to do, and one retry for idempotent reads."""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson

from obsbench_servers.common.backend import BackendBase
from obsbench_servers.common.errors import BackendError
from obsbench_servers.common.http import (
    RequestFailedError,
    build_client,
    failure_from_status,
    fetch,
)

RETRY_DELAY_S = 0.5


class HttpBackend:
    """A lazily built client plus ``request`` with caps, retries and clear errors."""

    def __init__(self, backend: BackendBase, transport: httpx.BaseTransport | None) -> None:
        self.cfg = backend
        self._transport = transport
        self._client: httpx.Client | None = None

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = build_client(self.cfg, transport=self._transport)
        return self._client

    def request(self, method: str, url: str, *, on_error: Any = None,
                retries: int = 1, **kwargs: Any) -> Any:
        """Send a read request and return its JSON; every failure is a tool error.

        ``on_error(response)`` may turn a backend's error body into a better error
        (a query syntax error becomes bad input). Reads are idempotent, so a
        timeout, a refused connection or a 5xx is retried ``retries`` times; a 429
        is not (the backend asked us to slow down; its Retry-After is reported).
        """
        attempt = 0
        while True:
            try:
                resp = fetch(self.client, method, url,
                             max_bytes=self.cfg.limits.max_response_bytes,
                             total_timeout=self.cfg.timeouts.total, **kwargs)
            except RequestFailedError as exc:
                if attempt < retries and exc.reason in ("timeout", "refused", "network"):
                    attempt += 1
                    time.sleep(RETRY_DELAY_S)
                    continue
                raise
            if resp.status_code >= 400:
                if on_error is not None:
                    on_error(resp)
                failure = failure_from_status(resp)
                assert failure is not None
                if resp.status_code >= 500 and attempt < retries:
                    attempt += 1
                    time.sleep(RETRY_DELAY_S)
                    continue
                raise failure
            try:
                return orjson.loads(resp.content)
            except orjson.JSONDecodeError:
                snippet = resp.content[:120].decode("utf-8", "replace").strip()
                raise BackendError(
                    f"{self.cfg.type} answered {resp.status_code} with a body that is not JSON "
                    f"({snippet!r}...)",
                    "is url really the backend's API (not a login page or a proxy)? "
                    "check the scheme, port and path prefix",
                ) from None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
