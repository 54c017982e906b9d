"""The shared tool wrapper: both channels, budgets, errors with hints, timeouts."""

from __future__ import annotations

import time
from typing import Annotated

import anyio
from mcp import Client
from mcp.server.mcpserver import MCPServer
from pydantic import Field

from obsbench_servers.common.budget import TextBudget, clip, estimate_tokens
from obsbench_servers.common.errors import NotFoundError
from obsbench_servers.common.result import Coverage, ToolOutput
from obsbench_servers.common.timeutil import TimeRange
from obsbench_servers.common.toolkit import register_tool


def _server() -> MCPServer:
    srv = MCPServer("test")

    def lines(n: Annotated[int, Field(description="how many")], service: str = "api") -> ToolOutput:
        """Return n log lines of a service."""
        budget = TextBudget(max_tokens=120, unit="lines")
        for i in range(n):
            budget.add(f"{service} line {i} connection pool exhausted")
        return ToolOutput(
            kind="logs", summary=f"{n} lines of {service}", text=budget.render(),
            data={"lines": list(range(n))}, query=f'{{service="{service}"}}',
            time_range=TimeRange(0, 60 * 10**9),
            coverage=Coverage(shown=len(budget.lines), total=n, unit="lines"),
        )

    def missing(service: str) -> ToolOutput:
        raise NotFoundError(f"no service {service!r}", "did you mean 'user-api'?")

    def when(start: str) -> ToolOutput:
        TimeRange.resolve(start=start)
        raise AssertionError("unreachable: the time cannot be read")

    def crash() -> ToolOutput:
        return {}["x"]  # type: ignore[no-any-return]

    def slow() -> ToolOutput:
        time.sleep(2)
        raise AssertionError("unreachable: the timeout fires first")

    register_tool(srv, lines)
    register_tool(srv, missing)
    register_tool(srv, crash)
    register_tool(srv, when)
    register_tool(srv, slow, timeout_s=0.2)
    return srv


def _call(name: str, args: dict[str, object]) -> object:
    async def go() -> object:
        async with Client(_server()) as c:
            return await c.call_tool(name, args)

    return anyio.run(go)


def test_schema_and_annotations_come_from_the_function() -> None:
    async def go() -> object:
        async with Client(_server()) as c:
            return await c.list_tools()

    tools = {t.name: t for t in anyio.run(go).tools}  # type: ignore[attr-defined]
    t = tools["lines"]
    assert t.description == "Return n log lines of a service."
    assert t.input_schema["properties"]["n"]["description"] == "how many"
    assert t.input_schema["required"] == ["n"]
    assert t.annotations.read_only_hint is True
    assert t.annotations.destructive_hint is False


def test_both_channels_and_honest_truncation() -> None:
    r = _call("lines", {"n": 500})
    text = r.content[0].text  # type: ignore[attr-defined]
    sc = r.structured_content  # type: ignore[attr-defined]
    assert not r.is_error  # type: ignore[attr-defined]
    assert sc["data"]["lines"] == list(range(500))  # panels get everything
    shown = sc["coverage"]["shown"]
    assert 0 < shown < 500 and sc["coverage"]["total"] == 500
    assert f"{500 - shown} more lines not shown" in text
    assert "range: 1970-01-01T00:00:00Z .. 1970-01-01T00:01:00Z" in text
    assert 'query: {service="api"}' in text
    assert estimate_tokens(text) < 200


def test_errors_carry_hints_and_the_server_keeps_serving() -> None:
    async def go() -> list[object]:
        async with Client(_server()) as c:
            return [await c.call_tool("missing", {"service": "usr-api"}),
                    await c.call_tool("crash", {}),
                    await c.call_tool("slow", {}),
                    await c.call_tool("when", {"start": "yesterday-ish"}),
                    await c.call_tool("lines", {"n": 1})]

    missing, crash, slow, when, ok = anyio.run(go)
    assert missing.is_error and "did you mean 'user-api'" in missing.content[0].text
    assert missing.structured_content["error"] == "not_found"
    assert crash.is_error and "KeyError" in crash.content[0].text
    assert slow.is_error and "did not finish within 0.2s" in slow.content[0].text
    assert when.is_error and when.structured_content["error"] == "bad_input"
    assert "now-2h" in when.content[0].text  # the time error says what works
    assert not ok.is_error


def test_unknown_argument_names_are_refused_with_a_close_name() -> None:
    """A model writing ``services`` for ``service`` must not get the default service's lines
    as if its filter applied; the schema announces it too."""
    async def go() -> tuple[object, object, object]:
        async with Client(_server()) as c:
            tools = await c.list_tools()
            return (tools, await c.call_tool("lines", {"n": 2, "services": "checkout"}),
                    await c.call_tool("lines", {"n": 2, "service": "checkout"}))

    tools, bad, ok = anyio.run(go)
    schema = {t.name: t for t in tools.tools}["lines"].input_schema  # type: ignore[attr-defined]
    assert schema["additionalProperties"] is False
    assert bad.is_error  # type: ignore[attr-defined]
    msg = bad.content[0].text  # type: ignore[attr-defined]
    assert "'services'" in msg and "did you mean 'service'" in msg and "n, service" in msg
    assert not ok.is_error  # type: ignore[attr-defined]
    assert "checkout line 1" in ok.content[0].text  # type: ignore[attr-defined]


def test_clip_marks_the_cut() -> None:
    assert clip("abc", 10) == "abc"
    cut = clip("x" * 1000, 100)
    assert len(cut) < 110 and "[+924 chars]" in cut
