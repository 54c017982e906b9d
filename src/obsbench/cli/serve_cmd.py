"""``obsbench serve SERVER|all``: MCP servers for any MCP client (stdio or Streamable HTTP).

``all`` serves every tool of the five servers as one server, named ``SERVER_TOOL``
(see ``serve_all``). The server is built from the same scope as every data command (``--profile`` or
``--bundle``). Over HTTP it binds 127.0.0.1 by default and refuses any other
address unless authentication is configured: a static bearer token
(``--token-ref``, e.g. ``keyring:obsbench/serve-token``, or the profile's
``serve.auth = "bearer"``) or OAuth 2.1 access tokens from the organisation's
authorization server (the profile's ``serve.auth = "oauth"``, ``common/oauth.py``).
Serving telemetry beyond the loopback interface needs authentication, which a
bind flag alone must never switch off. Every HTTP request passes ``HttpGuard``
(``common/httpguard.py``): Host and Origin allow-lists, the token (compared in
constant time, or verified as a JWT for this resource), a request size limit.
Every result is redacted with the profile's redaction settings; a hub that
starts several servers passes one pseudonym key (``OBSBENCH_PSEUDONYM_KEY``).
"""

from __future__ import annotations

import ipaddress
import logging
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from obsbench.cli.options import AtOpt, BundleOpt, ProfileOpt
from obsbench.cli.output import EXIT_USAGE, fail, info, run_guarded
from obsbench_servers.common.errors import BadInputError

if TYPE_CHECKING:
    from obsbench.config import ServeConfig
    from obsbench_servers.common.oauth import OAuthSettings

Transport = Literal["stdio", "http"]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _http_token(token_ref: str | None) -> str | None:
    """The bearer token a ``--token-ref`` (keyring:, env:, file:) resolves to."""
    if not token_ref:
        return None
    from obsbench.secrets import resolve_ref

    value = run_guarded(lambda: resolve_ref(token_ref))
    token = value.get_secret_value().strip()
    if len(token) < 16:
        fail(f"the token behind {token_ref} is {len(token)} characters long",
             "use a random token of at least 16 characters, e.g. `openssl rand -hex 32`",
             EXIT_USAGE)
    return token


def _oauth_settings(serve_cfg: ServeConfig, host: str, port: int) -> OAuthSettings:
    """The resource server settings; the resource URI defaults to the loopback endpoint."""
    from obsbench_servers.common.oauth import settings_from_config

    cfg = serve_cfg.oauth
    assert cfg is not None
    if cfg.resource is None and not is_loopback(host):
        fail(f"serving OAuth-protected on {host} needs the server's canonical URI",
             "set serve.oauth.resource in the profile to the URL clients use, e.g. "
             '"https://obsbench.example.com/mcp" (tokens must be issued for exactly it)',
             EXIT_USAGE)
    netloc = f"[{host}]" if ":" in host else host
    return settings_from_config(cfg.model_dump(),
                                default_resource=f"http://{netloc}:{port}/mcp")


def run_http(mcp_server: object, *, host: str, port: int, token: str | None,
             allow_hosts: list[str], allow_origins: list[str], max_body: int,
             oauth: OAuthSettings | None = None) -> None:
    """Serve Streamable HTTP behind ``HttpGuard`` with uvicorn."""
    import uvicorn
    from mcp.server.transport_security import TransportSecuritySettings

    from obsbench_servers.common.httpguard import (
        HttpGuard,
        default_allowed_hosts,
        default_allowed_origins,
    )

    hosts = [*default_allowed_hosts(host, port), *allow_hosts]
    origins = [*default_allowed_origins(hosts), *allow_origins]
    app = mcp_server.streamable_http_app(  # type: ignore[attr-defined]
        max_request_body_size=max_body, host=host,
        transport_security=TransportSecuritySettings(
            enable_dns_rebinding_protection=True, allowed_hosts=hosts,
            allowed_origins=origins),
    )
    resource_server = None
    if oauth is not None:
        from obsbench_servers.common.oauth import OAuthResourceServer

        resource_server = OAuthResourceServer(oauth)
    guarded = HttpGuard(app, tokens=[token] if token else [], allowed_hosts=hosts,
                        allowed_origins=origins, max_body=max_body, oauth=resource_server)
    uvicorn.run(guarded, host=host, port=port, log_level="warning")


def serve(
    server: str = typer.Argument(..., help="metrics, logs, traces, alerts, infra, or all."),
    transport: str = typer.Option("stdio", "--transport", "-t", help="stdio or http."),
    host: str = typer.Option("127.0.0.1", "--host",
                             help="HTTP bind address (non-loopback needs --token-ref or the "
                                  "profile's serve.auth)."),
    port: int = typer.Option(8765, "--port", help="HTTP port."),
    token_ref: str | None = typer.Option(
        None, "--token-ref",
        help="Require Authorization: Bearer TOKEN; the token's reference, e.g. "
             "keyring:obsbench/serve-token (store it with `obsbench config set-secret`)."),
    allow_host: Annotated[list[str] | None, typer.Option(
        "--allow-host", help="Also accept this Host header (repeatable; name[:port]).")] = None,
    allow_origin: Annotated[list[str] | None, typer.Option(
        "--allow-origin", help="Also accept this Origin (repeatable; scheme://host[:port]).")
    ] = None,
    max_body: int = typer.Option(1024 * 1024, "--max-body", help="HTTP request size limit."),
    profile: ProfileOpt = None,
    bundle: BundleOpt = None,
    at: AtOpt = None,
) -> None:
    """Serve one MCP server, or all five as one, over stdio or Streamable HTTP."""
    from obsbench.scope import resolve_scope
    from obsbench_servers.registry import SERVER_NAMES, build_server

    if server not in (*SERVER_NAMES, "all"):
        fail(f"unknown server {server!r}", f"use one of: {', '.join(SERVER_NAMES)}, all",
             EXIT_USAGE)
    if transport not in ("stdio", "http"):
        fail(f"unknown transport {transport!r}", "use stdio or http", EXIT_USAGE)
    scope = run_guarded(lambda: resolve_scope(profile=profile, bundle=bundle, at=at),
                        usage_errors=(BadInputError,))
    token: str | None = None
    oauth: OAuthSettings | None = None
    if transport == "http":
        serve_cfg = scope.profile.serve
        if token_ref and serve_cfg.auth == "oauth":
            fail(f"--token-ref and the OAuth mode of profile {scope.name} both ask to "
                 "authenticate callers", "use one: drop --token-ref to accept OAuth access "
                 'tokens, or set serve.auth = "bearer" in the profile', EXIT_USAGE)
        if token_ref or serve_cfg.auth == "bearer":
            token = _http_token(token_ref or serve_cfg.token_ref)
        elif serve_cfg.auth == "oauth":
            oauth = _oauth_settings(serve_cfg, host, port)
        if not is_loopback(host) and not token and oauth is None:
            fail(f"refusing to serve on {host} without authentication",
                 "bind 127.0.0.1, or require a bearer token with "
                 "--token-ref keyring:obsbench/NAME, or configure OAuth "
                 '(serve.auth = "oauth" in the profile)', EXIT_USAGE)
    from obsbench_servers.common.redact import PseudonymMap, Redactor, set_default_redactor

    set_default_redactor(Redactor.from_config(scope.profile.redaction,
                                              PseudonymMap.from_env()))
    if server == "all":
        from obsbench.cli.serve_all import build_all_server

        mcp_server, contexts, warnings = run_guarded(lambda: build_all_server(scope))
        for warning in warnings:
            info(f"warning: {warning}")
    else:
        ctx = scope.context(server)
        contexts = [ctx]
        mcp_server = run_guarded(lambda: build_server(server, ctx))
    # stdout is the protocol channel on stdio: diagnostics only ever go to stderr.
    logging.basicConfig(level=logging.WARNING)
    try:
        if transport == "stdio":
            info(f"obsbench {server} server on stdio ({scope.name})")
            mcp_server.run("stdio")
        else:
            if oauth is not None:
                auth = f"OAuth access tokens from {oauth.issuer} for {oauth.resource}"
            else:
                auth = "bearer token required" if token else "no token: loopback only"
            info(f"obsbench {server} server on http://{host}:{port}/mcp ({scope.name}; {auth})")
            run_http(mcp_server, host=host, port=port, token=token, allow_hosts=allow_host or [],
                     allow_origins=allow_origin or [], max_body=max_body, oauth=oauth)
    finally:
        for c in contexts:
            c.close()

