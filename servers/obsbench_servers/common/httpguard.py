"""The gate in front of an MCP server served over HTTP: who may call, from where, how much.

Telemetry is production data, and an MCP endpoint is a way to run queries
against it: served over HTTP, it is guarded like any API. ``HttpGuard`` is an
ASGI middleware that checks, before the MCP app sees a request:

- **Host** is one of the allowed names (DNS rebinding: a web page the engineer
  visits resolves its own name to 127.0.0.1 and calls the server from the
  browser; its Host header is then the attacker's name) -> 421;
- **Origin**, when present, is allowed (a browser always sends it on a
  cross-origin request) -> 403;
- **Authorization: Bearer TOKEN** matches one of the tokens, compared in
  constant time (``hmac.compare_digest``: no timing oracle on the prefix) ->
  401 with ``WWW-Authenticate: Bearer``;
- the declared body size is within the limit -> 413 (the MCP app also counts a
  streamed body against the same limit).

The token check runs last so that a DNS-rebinding page learns nothing from the
response code about whether a token is set. Non-HTTP scopes (lifespan) pass.

With ``oauth`` (an ``OAuthResourceServer``, ``common/oauth.py``) instead of static
tokens, the same Host/Origin/size checks run first; then the RFC 9728 metadata
document is answered without auth, and every other request needs a valid OAuth
access token: 401 with ``WWW-Authenticate: Bearer resource_metadata="..."`` (and
``error="invalid_token"`` when one was presented), 403 ``insufficient_scope``, 503
when the authorization server's keys cannot be fetched. An accepted token becomes
mcp's ``AuthenticatedUser`` in the scope (mcp binds each session to it) and mcp's
``auth_context_var`` (the audit names the caller from it).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from obsbench_servers.common.oauth import OAuthResourceServer, TokenRejectedError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_MAX_BODY = 1024 * 1024  # 1 MiB: MCP requests are small JSON-RPC messages


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and ``localhost``: the only binds allowed without a token."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def default_allowed_hosts(bind_host: str, port: int) -> list[str]:
    """Host header values a local client sends: the loopback names and the bind address."""
    names = {"127.0.0.1", "localhost", "[::1]"}
    if bind_host not in ("0.0.0.0", "::", ""):
        names.add(f"[{bind_host}]" if ":" in bind_host else bind_host)
    return sorted({f"{n}:{port}" for n in names} | names)


def default_allowed_origins(hosts: Iterable[str]) -> list[str]:
    return sorted({f"{scheme}://{h}" for h in hosts for scheme in ("http", "https")})


class HttpGuard:
    """ASGI middleware: Host and Origin allow-lists, bearer tokens or OAuth, body size limit."""

    def __init__(self, app: ASGIApp, *, tokens: Iterable[str] = (),
                 allowed_hosts: Iterable[str] = (), allowed_origins: Iterable[str] = (),
                 max_body: int = DEFAULT_MAX_BODY,
                 oauth: OAuthResourceServer | None = None) -> None:
        self.app = app
        self.tokens = [t.encode() for t in tokens if t]
        if oauth is not None and self.tokens:
            raise ValueError("one auth mode: static bearer tokens or OAuth, not both")
        self.oauth = oauth
        self.allowed_hosts = {h.lower() for h in allowed_hosts}
        self.allowed_origins = {o.lower().rstrip("/") for o in allowed_origins}
        self.max_body = max_body

    def check(self, headers: dict[str, str]) -> tuple[int, str] | None:
        """``(status, reason)`` when the request must be refused, else None."""
        host = headers.get("host", "").lower()
        if not host or host not in self.allowed_hosts:
            return 421, f"Host {host or '(none)'} is not allowed"
        origin = headers.get("origin")
        if origin is not None and origin.lower().rstrip("/") not in self.allowed_origins:
            return 403, f"Origin {origin} is not allowed"
        length = headers.get("content-length")
        if length is not None:
            try:
                if int(length) > self.max_body:
                    return 413, f"request body over {self.max_body} bytes"
            except ValueError:
                return 400, "bad Content-Length"
        if self.tokens and not self.token_ok(headers.get("authorization", "")):
            return 401, "a bearer token is required (Authorization: Bearer TOKEN)"
        return None

    def token_ok(self, header: str) -> bool:
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer":
            given = ""
        raw = given.strip().encode()
        ok = False
        for token in self.tokens:  # every token compared: the time does not depend on which
            ok |= hmac.compare_digest(raw, token)
        return ok

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        refused = self.check(headers)
        if refused is None and self.oauth is not None:
            await self._oauth_call(scope, receive, send, headers)
            return
        if refused is None:
            await self.app(scope, receive, send)
            return
        status, reason = refused
        extra = [(b"www-authenticate", b'Bearer realm="obsbench"')] if status == 401 else []
        await _send_json(send, status, {"error": reason}, extra)

    async def _oauth_call(self, scope: Scope, receive: Receive, send: Send,
                          headers: dict[str, str]) -> None:
        """Metadata without auth; everything else behind a valid access token."""
        # Only OAuth serving needs these (noqa: the static-token guard stays light).
        from mcp.server.auth.middleware.auth_context import auth_context_var  # noqa: PLC0415
        from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser  # noqa: PLC0415
        from starlette.authentication import AuthCredentials  # noqa: PLC0415

        from obsbench_servers.common.oauth import (  # noqa: PLC0415
            JwksUnavailableError,
            TokenRejectedError,
        )

        oauth = self.oauth
        assert oauth is not None
        if scope.get("path", "") in oauth.metadata_paths:
            if scope.get("method") not in ("GET", "HEAD"):
                await _send_json(send, 405, {"error": "use GET"}, [(b"allow", b"GET, HEAD")])
                return
            await _send_json(send, 200, oauth.metadata(),
                             [(b"cache-control", b"public, max-age=3600")])
            return
        try:
            token = await oauth.authenticate(headers.get("authorization", ""))
        except TokenRejectedError as exc:
            await self._refuse(send, exc)
            return
        except JwksUnavailableError as exc:
            await _send_json(send, 503, {"error": "temporarily_unavailable",
                                         "error_description": str(exc)},
                             [(b"retry-after", b"5")])
            return
        user = AuthenticatedUser(token)
        scope["user"] = user
        scope["auth"] = AuthCredentials(token.scopes)
        reset = auth_context_var.set(user)
        try:
            await self.app(scope, receive, send)
        finally:
            auth_context_var.reset(reset)

    async def _refuse(self, send: Send, exc: TokenRejectedError) -> None:
        assert self.oauth is not None
        challenge = self.oauth.challenge(exc if exc.error else None)
        body: dict[str, str] = {"error": exc.error or "unauthorized",
                                "error_description": exc.description}
        await _send_json(send, exc.status, body,
                         [(b"www-authenticate", challenge.encode("latin-1", "replace"))])


async def _send_json(send: Send, status: int, doc: object,
                     extra: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps(doc).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *extra]})
    await send({"type": "http.response.body", "body": body})
