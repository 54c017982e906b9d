"""The five MCP servers by name, built from a ``ServerContext``.

Each server package exposes ``create_server(ctx) -> MCPServer`` in its
``server`` module; this registry imports only the one asked for, so serving
metrics never pays for the traces server's imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from obsbench_servers.common.context import SIGNALS, ServerContext
from obsbench_servers.common.errors import BadInputError

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

SERVER_NAMES = SIGNALS


def build_server(name: str, ctx: ServerContext) -> MCPServer:
    """Create the named server (metrics, logs, traces, alerts, infra)."""
    if name not in SERVER_NAMES:
        raise BadInputError(f"unknown server {name!r}", f"use one of: {', '.join(SERVER_NAMES)}")
    module = importlib.import_module(f"obsbench_servers.{name}.server")
    server: MCPServer = module.create_server(ctx)
    return server
