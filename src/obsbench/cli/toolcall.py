"""Calling one MCP tool from the command line, through the same server an LLM talks to.

``obsbench metrics query ...`` and friends build the server in-process for the
resolved scope and call the tool over an in-memory MCP session, so the CLI
sees exactly what a model would (budgets, errors, structured content). Text
goes to stdout; ``--json`` prints the structured content (or a command's own
view of it); a tool error goes to stderr with exit 1.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from obsbench.cli.output import EXIT_TOOL_ERROR, fail, print_json, run_guarded
from obsbench_servers.common.errors import BadInputError


def call_tool(
    signal: str,
    tool: str,
    arguments: dict[str, Any],
    *,
    profile: str | None = None,
    bundle: Path | None = None,
    at: str | None = None,
) -> Any:
    """Build the signal's server for the scope and call ``tool``; return the CallToolResult."""
    import anyio
    from mcp import Client

    from obsbench.scope import resolve_scope
    from obsbench_servers.common.redact import Redactor, attach_redactor
    from obsbench_servers.registry import build_server

    scope = run_guarded(lambda: resolve_scope(profile=profile, bundle=bundle, at=at),
                        usage_errors=(BadInputError,))
    ctx = scope.context(signal)
    server = run_guarded(lambda: build_server(signal, ctx))
    # The CLI shows what a model would see, with the profile's own redaction patterns too.
    attach_redactor(server, Redactor.from_config(scope.profile.redaction))
    args = {k: v for k, v in arguments.items() if v is not None}

    async def go() -> Any:
        async with Client(server) as client:
            return await client.call_tool(tool, args)

    try:
        return anyio.run(go)
    finally:
        ctx.close()


def run_tool(
    signal: str,
    tool: str,
    arguments: dict[str, Any],
    *,
    profile: str | None = None,
    bundle: Path | None = None,
    at: str | None = None,
    as_json: bool = False,
    json_view: Callable[[dict[str, Any]], Any] | None = None,
) -> None:
    """Call a tool and print its result by the CLI's conventions (stdout data, exit codes)."""
    result = call_tool(signal, tool, arguments, profile=profile, bundle=bundle, at=at)
    text = "\n".join(getattr(c, "text", "") for c in result.content)
    if result.is_error:
        sys.stderr.write(text + "\n")
        raise typer.Exit(EXIT_TOOL_ERROR)
    if as_json:
        data = result.structured_content or {}
        print_json(json_view(data) if json_view else data)
    else:
        sys.stdout.write(text + "\n")


__all__ = ["call_tool", "fail", "run_tool"]
