"""Calling the traces server's tools over an in-memory MCP session, as a model would."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from obsbench_servers.common.context import ServerContext
from obsbench_servers.traces.server import create_server


class Session:
    """One server; ``call`` runs tools in order on one MCP session."""

    def __init__(self, ctx: ServerContext, backend: Any = None) -> None:
        self.ctx = ctx
        self.server = create_server(ctx, backend)

    def calls(self, *calls: tuple[str, dict[str, Any]]) -> list[Any]:
        async def go() -> list[Any]:
            async with Client(self.server) as c:
                return [await c.call_tool(name, args) for name, args in calls]

        return anyio.run(go)

    def call(self, name: str, args: dict[str, Any] | None = None) -> Any:
        return self.calls((name, args or {}))[0]

    def ok(self, name: str, args: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """(text, structured content) of a call that must succeed."""
        r = self.call(name, args)
        text = r.content[0].text
        assert not r.is_error, text
        return text, r.structured_content

    def error(self, name: str, args: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        r = self.call(name, args)
        text = r.content[0].text
        assert r.is_error, text
        return text, r.structured_content


@pytest.fixture
def session_for() -> Callable[..., Session]:
    """``session_for(bundle_path_or_context, backend=None)`` -> a traces server session."""
    made: list[ServerContext] = []

    def make(where: Path | ServerContext, backend: Any = None) -> Session:
        ctx = where if isinstance(where, ServerContext) else \
            ServerContext.for_bundle("traces", where)
        made.append(ctx)
        return Session(ctx, backend)

    yield make  # type: ignore[misc]
    for ctx in made:
        ctx.close()


@pytest.fixture
def session(bundle_dir: Callable[..., Path]) -> Callable[..., Session]:
    """``session(scenario)`` -> a traces server over that scenario's small bundle."""
    made: list[ServerContext] = []

    def make(name: str, seed: int = 7) -> Session:
        ctx = ServerContext.for_bundle("traces", bundle_dir(name, seed))
        made.append(ctx)
        return Session(ctx)

    yield make  # type: ignore[misc]
    for ctx in made:
        ctx.close()
