"""Property-based fuzzing of every tool's arguments: no input makes a tool crash.

For each tool of the five servers (on a scenario bundle), hypothesis draws
arguments from the tool's own input schema — right types, wrong types, empty,
huge, unicode, nonsense times and queries — and calls it over MCP. A tool may
refuse (a clear error result), but it may never fail "unexpectedly" (the
toolkit's catch-all for an unhandled exception), and the server must still
answer afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client

from obsbench_servers.common.context import ServerContext
from obsbench_servers.registry import SERVER_NAMES, build_server

SCENARIO = "bad-deploy-db-pool"
_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "now", "now-1h", "-5m", "1h", "2026-03-10T14:00:00Z", "1773154800",
                     "user-api", "checkout", "{", '{service="x"', "rate(x[5m])", "sum by (",
                     ".*", "(a+)+$", "\x00", "9" * 40, "ab" * 16, "Z" * 2000]),
)
_ANY = st.one_of(st.none(), st.booleans(), st.integers(min_value=-10**12, max_value=10**12),
                 st.floats(allow_nan=True, allow_infinity=True), _TEXT,
                 st.lists(_TEXT, max_size=3))


def _value(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    kinds = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", [])}
    options: list[st.SearchStrategy[Any]] = [_ANY]  # sometimes the wrong type on purpose
    if "string" in kinds:
        options.append(_TEXT)
    if "integer" in kinds:
        options.append(st.integers(min_value=-10**6, max_value=10**9))
    if "number" in kinds:
        options.append(st.floats(min_value=-1e6, max_value=1e12))
    if "array" in kinds:
        options.append(st.lists(_TEXT, max_size=4))
    return st.one_of(options)


@st.composite
def arguments(draw: st.DrawFn, schema: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    out = {}
    for name, prop in props.items():
        if name in required or draw(st.booleans()):
            out[name] = draw(_value(prop))
    return out


@pytest.fixture(scope="module")
def servers(bundle: Callable[..., Any]) -> Any:
    path = bundle(SCENARIO).out_dir
    ctxs = {n: ServerContext.for_bundle(n, path) for n in SERVER_NAMES}
    yield {n: build_server(n, c) for n, c in ctxs.items()}
    for c in ctxs.values():
        c.close()


@pytest.mark.parametrize("name", SERVER_NAMES)
def test_fuzzed_arguments_never_crash_a_tool(name: str, servers: dict[str, Any]) -> None:
    server = servers[name]

    async def tools() -> list[Any]:
        async with Client(server) as c:
            return list((await c.list_tools()).tools)

    listed = asyncio.run(tools())
    read_only = [t for t in listed if not (t.annotations and t.annotations.destructive_hint)]
    assert read_only

    @settings(max_examples=6 * len(read_only), deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])
    @given(st.sampled_from(read_only).flatmap(
        lambda t: st.tuples(st.just(t.name), arguments(t.input_schema))))
    def check(call: tuple[str, dict[str, Any]]) -> None:
        tool, args = call

        async def go() -> tuple[Any, Any]:
            async with Client(server) as c:
                r = await c.call_tool(tool, args)
                alive = await c.list_tools()
                return r, alive

        result, alive = asyncio.run(go())
        text = "\n".join(getattr(x, "text", "") for x in result.content)
        assert "failed unexpectedly" not in text, (tool, args, text[:800])
        if result.is_error:
            assert text.strip(), (tool, args)
        assert alive.tools  # the server still answers

    check()
