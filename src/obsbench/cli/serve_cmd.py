"""``obsbench serve SERVER``: one MCP server for any MCP client (stdio or Streamable HTTP).

The server is built from the same scope as every data command (``--profile`` or
``--bundle``). Over HTTP it binds 127.0.0.1 by default and refuses any other
address: serving telemetry beyond the loopback interface needs authentication,
which a bind flag alone must never switch off.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Literal

import typer

from obsbench.cli.options import AtOpt, BundleOpt, ProfileOpt
from obsbench.cli.output import EXIT_USAGE, fail, info, run_guarded
from obsbench_servers.common.errors import BadInputError

Transport = Literal["stdio", "http"]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    server: str = typer.Argument(..., help="metrics, logs, traces, alerts or infra."),
    transport: str = typer.Option("stdio", "--transport", "-t", help="stdio or http."),
    host: str = typer.Option("127.0.0.1", "--host", help="HTTP bind address (loopback only)."),
    port: int = typer.Option(8765, "--port", help="HTTP port."),
    profile: ProfileOpt = None,
    bundle: BundleOpt = None,
    at: AtOpt = None,
) -> None:
    """Serve one MCP server over stdio (for Claude Desktop, Claude Code, Cursor) or HTTP."""
    from obsbench.scope import resolve_scope
    from obsbench_servers.registry import SERVER_NAMES, build_server

    if server not in SERVER_NAMES:
        fail(f"unknown server {server!r}", f"use one of: {', '.join(SERVER_NAMES)}", EXIT_USAGE)
    if transport not in ("stdio", "http"):
        fail(f"unknown transport {transport!r}", "use stdio or http", EXIT_USAGE)
    if transport == "http" and not is_loopback(host):
        fail(f"refusing to serve on {host}: only loopback addresses are served",
             "bind 127.0.0.1 and put an authenticating proxy in front", EXIT_USAGE)
    scope = run_guarded(lambda: resolve_scope(profile=profile, bundle=bundle, at=at),
                        usage_errors=(BadInputError,))
    ctx = scope.context(server)
    mcp_server = run_guarded(lambda: build_server(server, ctx))
    # stdout is the protocol channel on stdio: diagnostics only ever go to stderr.
    logging.basicConfig(level=logging.WARNING)
    try:
        if transport == "stdio":
            info(f"obsbench {server} server on stdio ({scope.name})")
            mcp_server.run("stdio")
        else:
            info(f"obsbench {server} server on http://{host}:{port}/mcp ({scope.name})")
            mcp_server.run("streamable-http", host=host, port=port)
    finally:
        ctx.close()

