"""Helpers for the alerts tests: call a server's tools over an in-memory MCP session.

``call`` is the same path a model or the CLI takes (an ``mcp.Client``); the
``elicit`` argument is the client's confirmation behaviour: None (the client cannot
elicit at all), ``accept(name)``, ``decline()`` or ``cancel()``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import orjson
from mcp import Client, types
from mcp.server.mcpserver import MCPServer

from obsbench_servers.common.audit import AuditTrail, default_audit_path

Elicit = Callable[[Any, Any], Awaitable[types.ElicitResult]]


def accept(name: str = "alice (test)", *, asked: list[str] | None = None) -> Elicit:
    async def cb(context: Any, params: Any) -> types.ElicitResult:
        if asked is not None:
            asked.append(params.message)
        return types.ElicitResult(action="accept", content={"confirm": True, "name": name})

    return cb


def accept_false() -> Elicit:
    async def cb(context: Any, params: Any) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"confirm": False, "name": "bob"})

    return cb


def decline() -> Elicit:
    async def cb(context: Any, params: Any) -> types.ElicitResult:
        return types.ElicitResult(action="decline")

    return cb


def call(server: MCPServer, tool: str, args: dict[str, Any], *, elicit: Elicit | None = None,
         mode: str = "auto") -> types.CallToolResult:
    async def go() -> types.CallToolResult:
        async with Client(server, elicitation_callback=elicit, mode=mode,  # type: ignore[arg-type]
                          client_info=types.Implementation(name="pytest", version="1")) as c:
            return await c.call_tool(tool, args)

    return anyio.run(go)


def tool_names(server: MCPServer) -> dict[str, types.Tool]:
    async def go() -> dict[str, types.Tool]:
        async with Client(server) as c:
            return {t.name: t for t in (await c.list_tools()).tools}

    return anyio.run(go)


def text(result: types.CallToolResult) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content)


def data(result: types.CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text(result)
    assert result.structured_content is not None
    return result.structured_content["data"]  # type: ignore[no-any-return]


def audit_records() -> list[dict[str, Any]]:
    return list(AuditTrail().records())


def audit_path() -> Path:
    return default_audit_path()


def load(path: Path) -> Any:
    return orjson.loads(path.read_bytes())
