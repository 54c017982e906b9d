"""Helpers for the engine tests: small fake MCP servers, a scripted model, event capture.

The fake servers are real MCP servers built with ``register_tool`` (the same wrapper
every obsbench server uses), so the hub talks to them over real in-memory MCP
sessions. ``ScriptedProvider`` is a ``Provider`` whose turns a test writes out; it
records what the loop sent on each turn (messages, tools, system prompt).
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import anyio
from mcp.server.mcpserver import MCPServer

from obsbench.agent.base import Brief
from obsbench.agent.events import Done, Event
from obsbench.agent.loop import InvestigationLoop, LoopConfig
from obsbench.agent.model import Message, StopReason, ToolUse, Turn, Usage
from obsbench.config import Profile
from obsbench.hub import Hub
from obsbench.scope import Scope
from obsbench_servers.common.context import ServerContext
from obsbench_servers.common.errors import BadInputError
from obsbench_servers.common.result import Coverage, ToolOutput
from obsbench_servers.common.timeutil import TimeRange, parse_rfc3339_ns
from obsbench_servers.common.toolkit import register_tool

AT = "2026-03-10T15:00:00Z"
AT_NS = parse_rfc3339_ns(AT)
RANGE = TimeRange(AT_NS - 3600 * 10**9, AT_NS)


def fake_metrics(ctx: ServerContext, *, state: dict[str, Any] | None = None) -> MCPServer:
    """A small metrics-like server: query, a slow tool, a failing tool, a big result."""
    server = MCPServer("fake-metrics")
    calls = state.setdefault("calls", []) if state is not None else []

    def query(expr: str) -> ToolOutput:
        """Evaluate an expression (fake): returns three series."""
        calls.append(("query", expr))
        if expr.startswith("bad("):
            raise BadInputError(f"parse error in {expr!r}", "close the parenthesis")
        return ToolOutput(kind="series", summary=f"3 series for {expr}",
                          text=f"value of {expr}: 42", data={"expr": expr, "series": [1, 2, 3]},
                          query=expr, time_range=RANGE,
                          coverage=Coverage(shown=3, total=10, unit="series"))

    async def slow(seconds: float) -> ToolOutput:
        """Sleep, then answer (for timeouts and ordering)."""
        await anyio.sleep(seconds)
        calls.append(("slow", seconds))
        return ToolOutput(kind="text", summary=f"slept {seconds}s", text="", data={"s": seconds})

    def crash() -> ToolOutput:
        """Always fails with an unexpected exception."""
        raise RuntimeError("boom")

    def big(lines: int = 400) -> ToolOutput:
        """A long result (for context compaction)."""
        body = "\n".join(f"line {i}: " + "x" * 80 for i in range(lines))
        return ToolOutput(kind="logs", summary=f"{lines} long lines", text=body,
                          data={"lines": lines}, time_range=RANGE,
                          coverage=Coverage(shown=lines, total=lines, unit="lines"))

    for fn in (query, slow, crash, big):
        register_tool(server, fn, timeout_s=30)
    return server


def fake_logs(ctx: ServerContext, *, lines: list[str] | None = None) -> MCPServer:
    """A logs-like server whose search returns the given lines."""
    server = MCPServer("fake-logs")
    shown = lines if lines is not None else ["error: pool exhausted", "error: timeout"]

    def search(service: str = "") -> ToolOutput:
        """Search log lines (fake)."""
        return ToolOutput(kind="logs", summary=f"{len(shown)} lines for {service or 'all'}",
                          text="\n".join(shown), data={"lines": shown}, time_range=RANGE,
                          coverage=Coverage(shown=len(shown), total=len(shown), unit="lines"))

    register_tool(server, search)
    return server


def factory(**builders: Callable[[ServerContext], MCPServer]
            ) -> Callable[[str, ServerContext], MCPServer]:
    def build(name: str, ctx: ServerContext) -> MCPServer:
        return builders[name](ctx)

    return build


@dataclass
class MockedScope(Scope):
    """A scope whose servers reach their HTTP backends through a mock transport."""

    transport: Any = None

    def context(self, signal: str) -> ServerContext:
        ctx = super().context(signal)
        ctx.options["transport"] = self.transport
        return ctx


def scope(at_ns: int = AT_NS) -> Scope:
    return Scope("test", Profile(), at_ns)


def fake_hub(**builders: Callable[[ServerContext], MCPServer]) -> Hub:
    """A hub over fake servers (``metrics=fake_metrics`` by default)."""
    builders = builders or {"metrics": fake_metrics}
    return Hub(scope(), servers=tuple(builders), server_factory=factory(**builders),
               call_timeout_s=10)


def use(name: str, call_id: str = "", **arguments: Any) -> ToolUse:
    return ToolUse(call_id or f"call_{name}_{abs(hash(str(arguments))) % 10_000}", name,
                   arguments)


def turn(text: str = "", *uses: ToolUse, stop: StopReason | None = None,
         usage: Usage | None = None) -> Turn:
    reason: StopReason = stop or ("tool_use" if uses else "end_turn")
    return Turn(Message("assistant", text, list(uses)), reason,
                usage or Usage(input_tokens=100, output_tokens=20, cost_usd=0.001))


def submit(answer: str, *root_causes: dict[str, Any], call_id: str = "call_submit",
           **extra: Any) -> ToolUse:
    return ToolUse(call_id, "submit_findings",
                   {"answer": answer, "root_causes": list(root_causes), **extra})


Step = Turn | Callable[[list[Message]], Turn]


class ScriptedProvider:
    """A Provider that plays a script; ``seen`` holds what each turn was sent."""

    name = "scripted"
    model = "script-1"
    price: ClassVar[dict[str, float]] = {"input": 1.0, "output": 5.0}

    def __init__(self, script: Sequence[Step]) -> None:
        self.script = list(script)
        self.seen: list[dict[str, Any]] = []

    async def complete(self, system: str, messages: Sequence[Message], tools: Sequence[Any], *,
                       on_text: Callable[[str], Awaitable[None]] | None = None,
                       max_tokens: int = 4096,
                       on_notice: Callable[[str], Awaitable[None]] | None = None) -> Turn:
        self.seen.append({"system": system, "messages": copy.deepcopy(list(messages)),
                          "tools": [t.name for t in tools]})
        if not self.script:
            return turn("(script ended)")
        step = self.script.pop(0)
        result = step(list(messages)) if callable(step) else step
        if on_text is not None and result.message.text:
            text = result.message.text
            for i in range(0, len(text), 7):
                await on_text(text[i:i + 7])
        return copy.deepcopy(result)


async def collect(hub: Hub, provider: Any, brief: Brief | str = "What is wrong?",
                  **config: Any) -> list[Event]:
    """Run a loop over a connected hub and return every event."""
    if isinstance(brief, str):
        brief = Brief(question=brief)
    loop = InvestigationLoop(hub, provider, LoopConfig(**config))
    return [e async for e in loop.run(brief)]


def run_loop(hub: Hub, provider: Any, brief: Brief | str = "What is wrong?",
             **config: Any) -> list[Event]:
    """Connect the hub, run the loop, close the hub."""

    async def go() -> list[Event]:
        async with hub:
            return await collect(hub, provider, brief, **config)

    return anyio.run(go)


def done(events: list[Event]) -> Done:
    last = events[-1]
    assert isinstance(last, Done), f"the last event is {last!r}, not Done"
    return last


def of_type(events: list[Event], kind: type) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def last_tool_results(provider: ScriptedProvider, turn_index: int) -> list[Any]:
    """The tool results the loop sent on the given (0-based) model turn."""
    return provider.seen[turn_index]["messages"][-1].tool_results


# --------------------------------------------------------------------------- Messages API

def anthropic_sse(*, text: str = "", tool_uses: Sequence[tuple[str, str, dict[str, Any]]] = (),
                  stop: str | None = None, input_tokens: int = 900,
                  output_tokens: int = 60) -> bytes:
    """A streamed Messages API response in the documented event sequence (message_start,
    content_block_start/delta/stop per block, message_delta with stop_reason and usage,
    message_stop), for scripted CLI runs; the recorded bodies in data/anthropic/ are the
    fixed examples of the same shape."""
    import json

    def ev(name: str, data: dict[str, Any]) -> str:
        return f"event: {name}\ndata: {json.dumps(data)}\n\n"

    out = [ev("message_start", {"type": "message_start", "message": {
        "id": "msg_scripted", "type": "message", "role": "assistant",
        "model": "claude-sonnet-4-6", "content": [], "stop_reason": None,
        "stop_sequence": None, "usage": {"input_tokens": input_tokens, "output_tokens": 1,
                                         "cache_creation_input_tokens": 0,
                                         "cache_read_input_tokens": 0}}})]
    index = 0
    if text:
        out.append(ev("content_block_start", {"type": "content_block_start", "index": 0,
                                              "content_block": {"type": "text", "text": ""}}))
        out.append(ev("content_block_delta", {"type": "content_block_delta", "index": 0,
                                              "delta": {"type": "text_delta", "text": text}}))
        out.append(ev("content_block_stop", {"type": "content_block_stop", "index": 0}))
        index = 1
    for call_id, name, arguments in tool_uses:
        out.append(ev("content_block_start", {
            "type": "content_block_start", "index": index,
            "content_block": {"type": "tool_use", "id": call_id, "name": name, "input": {}}}))
        out.append(ev("content_block_delta", {
            "type": "content_block_delta", "index": index,
            "delta": {"type": "input_json_delta", "partial_json": json.dumps(arguments)}}))
        out.append(ev("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    reason = stop or ("tool_use" if tool_uses else "end_turn")
    out.append(ev("message_delta", {"type": "message_delta",
                                    "delta": {"stop_reason": reason, "stop_sequence": None},
                                    "usage": {"output_tokens": output_tokens}}))
    out.append(ev("message_stop", {"type": "message_stop"}))
    return "".join(out).encode()


class LocalAPI:
    """A real HTTP server on 127.0.0.1 that answers POSTs with scripted responses.

    Used where the code under test builds its own HTTP client (the CLI): point the
    SDK at it with ANTHROPIC_BASE_URL. Stop it with ``close()``.
    """

    def __init__(self, responses: Sequence[tuple[int, str, bytes]]) -> None:
        import http.server
        import json
        import threading

        self.responses = list(responses)
        self.bodies: list[dict[str, Any]] = []
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                api.bodies.append(json.loads(self.rfile.read(length) or b"{}"))
                status, ctype, body = (api.responses.pop(0) if api.responses
                                       else (500, "application/json", b"{}"))
                self.send_response(status)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


SSE = "text/event-stream"
