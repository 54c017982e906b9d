"""One JSON request to a backend's REST API, with the rules every adapter shares.

``call_json`` wraps ``common.http.fetch`` (size cap, total deadline) and adds what
the Alertmanager, PagerDuty and Kubernetes adapters all need: retries **only for
idempotent requests** (GET/HEAD by default) on timeouts, refused connections, 502/503/504
and 429 with a short ``Retry-After``; an error for every non-2xx answer (the caller may
accept some statuses, e.g. 404, and handle them); and a clear error when the body is
not JSON (an HTML login page from a proxy, a truncated body). A write is sent once:
retrying a POST could create two silences.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from obsbench_servers.common.backend import BackendBase
from obsbench_servers.common.errors import BackendError
from obsbench_servers.common.http import (
    RequestFailedError,
    failure_from_status,
    fetch,
    redact_url,
)

RETRYABLE_REASONS = frozenset({"timeout", "refused", "network", "protocol", "server_error"})
RETRYABLE_STATUS = frozenset({502, 503, 504})
MAX_RETRY_AFTER_S = 5.0


@dataclass
class JsonResponse:
    """A decoded answer: status, JSON body (None when empty) and headers."""

    status: int
    data: Any
    headers: httpx.Headers
    url: str


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


def decode_json(response: httpx.Response, what: str) -> Any:
    """The JSON body, or a ``BackendError`` that says what came instead."""
    body = response.content
    if not body.strip():
        return None
    ctype = response.headers.get("content-type", "")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        snippet = body[:120].decode("utf-8", "replace").strip()
        if "html" in ctype or snippet.lower().startswith(("<!doctype", "<html")):
            raise BackendError(
                f"{what} answered an HTML page instead of JSON ({redact_url(str(response.url))})",
                "the url probably points at a web UI, a login page or a proxy: set url to the "
                "API's base address",
            ) from None
        raise BackendError(
            f"{what} answered something that is not JSON: {snippet!r}",
            "check url and the backend type; the body may also have been cut off",
        ) from None


def call_json(
    client: httpx.Client,
    backend: BackendBase,
    method: str,
    url: str,
    *,
    what: str,
    params: Any = None,
    json: Any = None,
    headers: dict[str, str] | None = None,
    accept_status: tuple[int, ...] = (),
    idempotent: bool | None = None,
    retries: int = 2,
) -> JsonResponse:
    """Send one request and decode its JSON; see the module docstring for the rules."""
    safe = idempotent if idempotent is not None else method.upper() in ("GET", "HEAD")
    attempts = 1 + (retries if safe else 0)
    kwargs: dict[str, Any] = {}
    if params is not None:
        kwargs["params"] = params
    if json is not None:
        kwargs["content"] = orjson.dumps(json)
        headers = {"Content-Type": "application/json", **(headers or {})}
    if headers:
        kwargs["headers"] = headers
    last: RequestFailedError | None = None
    for attempt in range(attempts):
        if attempt:
            time.sleep(min(2.0, 0.25 * 2 ** (attempt - 1)) * (0.5 + random.random()))
        try:
            response = fetch(
                client, method, url,
                max_bytes=backend.limits.max_response_bytes,
                total_timeout=backend.timeouts.total,
                **kwargs,
            )
        except RequestFailedError as exc:
            last = exc
            if exc.reason in RETRYABLE_REASONS and attempt + 1 < attempts:
                continue
            raise
        status = response.status_code
        if status in accept_status or status < 400:
            data = decode_json(response, what) if status != 204 else None
            return JsonResponse(status, data, response.headers, str(response.url))
        failure = failure_from_status(response)
        assert failure is not None
        last = failure
        if attempt + 1 < attempts:
            wait = _retry_after(response)
            if status == 429 and wait is not None and wait <= MAX_RETRY_AFTER_S:
                time.sleep(wait)
                continue
            if status in RETRYABLE_STATUS:
                continue
        raise failure
    assert last is not None  # the loop either returns or raises
    raise last


def get_optional(client: httpx.Client, backend: BackendBase, url: str, *, what: str,
                 params: Any = None) -> tuple[JsonResponse | None, str]:
    """GET ``url``: the answer, or (None, what the 404 said) — a missing resource (an
    unknown trace, an endpoint an older version lacks) is an answer, not a failure."""
    try:
        return call_json(client, backend, "GET", url, what=what, params=params), ""
    except RequestFailedError as exc:
        if exc.status == 404:
            return None, exc.message
        raise
