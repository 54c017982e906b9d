"""The hub: the MCP client side that connects the five servers and routes tool calls.

The hub connects each server in-process (the default, fastest), as a stdio
subprocess (``python -m obsbench serve NAME``), or over Streamable HTTP (servers
deployed next to their backends). It lists their tools under namespaced names
(``metrics_query``, ``logs_search_logs``), runs calls in parallel with a per-call
timeout, turns every result into an evidence item and appends one audit record
per call. Cancelling the caller cancels the calls.

Redaction: every server redacts its own results (``common/redact.py``); the hub
gives all of its servers one ``PseudonymMap`` (in-process: the same object; as
stdio children: the same key through ``OBSBENCH_PSEUDONYM_KEY``), so a value has
one token across the investigation, and only the hub, holding the map, can
``reveal`` real values for the engineer's own screen.

Rate budgets: stdio children get the hub's gate directory (``OBSBENCH_GATE_DIR``,
``common/sharedgate.py``), so together they keep each backend's configured rate
and concurrency, as the in-process servers do.
"""

from __future__ import annotations

import difflib
import os
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
from mcp import Client, StdioServerParameters

from obsbench.evidence import Evidence, EvidenceStore
from obsbench.scope import Scope
from obsbench_servers.common.audit import AuditTrail
from obsbench_servers.common.context import ServerContext
from obsbench_servers.common.errors import BadInputError
from obsbench_servers.common.redact import PseudonymMap, Redactor, attach_redactor
from obsbench_servers.common.sharedgate import GATE_DIR_ENV, gate_dir
from obsbench_servers.common.timeutil import now_ns_utc, ns_to_rfc3339
from obsbench_servers.registry import SERVER_NAMES, build_server

Transport = Literal["inprocess", "stdio", "http"]
SEPARATOR = "_"
DEFAULT_CALL_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class ToolSpec:
    """A tool as the investigator sees it: namespaced name, schema and what it may change."""

    name: str
    server: str
    tool: str
    description: str
    input_schema: dict[str, Any]
    read_only: bool = True
    destructive: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description,
                "input_schema": self.input_schema}


@dataclass
class CallRecord:
    """One routed call, for the event stream and the audit trail."""

    evidence: Evidence
    outcome: Literal["ok", "error", "timeout", "cancelled"]
    size: int


@dataclass
class Hub:
    """Connected servers, their tools, and the evidence of this investigation."""

    scope: Scope
    servers: Sequence[str] = SERVER_NAMES
    transport: Transport = "inprocess"
    urls: dict[str, str] = field(default_factory=dict)
    call_timeout_s: float = DEFAULT_CALL_TIMEOUT_S
    evidence: EvidenceStore = field(default_factory=EvidenceStore)
    audit: AuditTrail | None = None
    elicitation_callback: Any = None
    # How an in-process server is built from its context (tests and embedders swap it).
    server_factory: Callable[[str, ServerContext], Any] = build_server
    # One pseudonym map per investigation; None: a fresh one from the profile's settings.
    redactor: Redactor | None = None
    _clients: dict[str, Client] = field(default_factory=dict, init=False)
    _tools: dict[str, ToolSpec] = field(default_factory=dict, init=False)
    _contexts: list[ServerContext] = field(default_factory=list, init=False)
    _stack: AsyncExitStack | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.redactor is None:
            self.redactor = Redactor.from_config(getattr(self.scope.profile, "redaction", None))

    @property
    def pseudonyms(self) -> PseudonymMap:
        """The investigation's pseudonym map: ``reveal`` turns tokens back into values."""
        assert self.redactor is not None
        return self.redactor.pseudonyms

    async def __aenter__(self) -> Hub:
        self._stack = AsyncExitStack()
        try:
            for name in self.servers:
                client = Client(self._target(name), elicitation_callback=self.elicitation_callback)
                await self._stack.enter_async_context(client)
                self._clients[name] = client
                listed = await client.list_tools()
                for t in listed.tools:
                    ann = t.annotations
                    spec = ToolSpec(
                        name=f"{name}{SEPARATOR}{t.name}", server=name, tool=t.name,
                        description=t.description or "", input_schema=dict(t.input_schema),
                        read_only=bool(ann and ann.read_only_hint),
                        destructive=bool(ann and ann.destructive_hint),
                    )
                    self._tools[spec.name] = spec
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._stack is not None:
            stack, self._stack = self._stack, None
            await stack.aclose()
        for ctx in self._contexts:
            ctx.close()
        self._contexts.clear()

    def _target(self, name: str) -> Any:
        if self.transport == "inprocess":
            ctx = self.scope.context(name)
            self._contexts.append(ctx)
            server = self.server_factory(name, ctx)
            assert self.redactor is not None
            attach_redactor(server, self.redactor)
            return server
        if self.transport == "stdio":
            args = ["-m", "obsbench", "serve", name, *self._scope_args()]
            # The MCP SDK passes a child only a few "safe" variables by default; our own
            # server needs ours: OBSBENCH_* (config, cache, state dirs) and the variables
            # that env: secret references name.
            # One rate budget per backend across the children: the same gate directory.
            gates = gate_dir()
            env = {**os.environ, "OBSBENCH_PSEUDONYM_KEY": self.pseudonyms.key.hex(),
                   GATE_DIR_ENV: str(gates) if gates is not None else "off"}
            return StdioServerParameters(command=sys.executable, args=args, env=env)
        url = self.urls.get(name)
        if not url:
            raise BadInputError(f"no URL for the {name} server",
                                "give each server's Streamable HTTP URL (http://host:port/mcp)")
        return url

    def _scope_args(self) -> list[str]:
        args = (["--bundle", str(self.scope.bundle)] if self.scope.bundle
                else ["--profile", self.scope.name])
        if self.scope.at_ns is not None:
            args += ["--at", ns_to_rfc3339(self.scope.at_ns, precision="nanoseconds")]
        return args

    # -- tools ---------------------------------------------------------------------------------
    def tools(self, *, include_writes: bool = True) -> list[ToolSpec]:
        """Every tool of every connected server (writes only where the servers listed them)."""
        return [t for t in self._tools.values() if include_writes or t.read_only]

    def tool(self, name: str) -> ToolSpec:
        spec = self._tools.get(name)
        if spec is None:
            close = difflib.get_close_matches(name, list(self._tools), n=3)
            raise BadInputError(
                f"no tool {name!r}",
                (f"did you mean {', '.join(close)}? " if close else "")
                + "tools are named SERVER_TOOL, e.g. metrics_query",
            )
        return spec

    # -- calls ---------------------------------------------------------------------------------
    async def call(self, name: str, arguments: dict[str, Any] | None = None, *,
                   evidence_id: str | None = None) -> CallRecord:
        """Call one tool; the result (or the error, or the timeout) becomes evidence.

        ``evidence_id`` is an id reserved earlier with ``evidence.new_id()``, so that a
        front end can show the call under its id before it finishes.
        """
        spec = self.tool(name)
        args = dict(arguments or {})
        ev_id = evidence_id or self.evidence.new_id()
        started = time.perf_counter()
        created = ns_to_rfc3339(now_ns_utc(), precision="milliseconds")
        outcome: Literal["ok", "error", "timeout", "cancelled"] = "ok"
        try:
            with anyio.fail_after(self.call_timeout_s):
                result = await self._clients[spec.server].call_tool(spec.tool, args)
            text = "\n".join(getattr(c, "text", "") for c in result.content)
            item = Evidence.from_tool_result(
                ev_id, spec.server, spec.tool, args, result.structured_content, text,
                is_error=bool(result.is_error), elapsed_s=time.perf_counter() - started,
                created_at=created)
            if result.is_error:
                outcome = "error"
        except TimeoutError:
            outcome = "timeout"
            item = self._failure(ev_id, spec, args, started, created,
                                 f"{name} did not answer within {self.call_timeout_s:g}s",
                                 "narrow the time range or the query and try again")
        except anyio.get_cancelled_exc_class():
            outcome = "cancelled"
            item = self._failure(ev_id, spec, args, started, created, f"{name} was cancelled", "")
            self._record(item, outcome)
            raise
        except Exception as exc:  # a transport failure: the session goes on
            outcome = "error"
            item = self._failure(ev_id, spec, args, started, created,
                                 f"{name} failed: {type(exc).__name__}: {exc}",
                                 "the server may have stopped; other tools still work")
        self.evidence.add(item)
        size = self._record(item, outcome)
        return CallRecord(item, outcome, size)

    async def call_many(self, calls: Sequence[tuple[str, dict[str, Any]]]) -> list[CallRecord]:
        """Run calls in parallel; results come back in the order the calls were given.

        Every name is checked before any call starts: an unknown tool raises
        ``BadInputError`` instead of cancelling calls already under way.
        """
        for name, _ in calls:
            self.tool(name)
        results: list[CallRecord | None] = [None] * len(calls)

        async def one(i: int, name: str, args: dict[str, Any]) -> None:
            results[i] = await self.call(name, args)

        async with anyio.create_task_group() as tg:
            for i, (name, args) in enumerate(calls):
                tg.start_soon(one, i, name, args)
        return [r for r in results if r is not None]

    def _failure(  # noqa: PLR0917 - the fields of one failed call
        self, ev_id: str, spec: ToolSpec, args: dict[str, Any], started: float, created: str,
        message: str, hint: str,
    ) -> Evidence:
        text = f"error: {message}" + (f"\nhint: {hint}" if hint else "")
        return Evidence.from_tool_result(
            ev_id, spec.server, spec.tool, args, {"kind": "error", "message": message}, text,
            is_error=True, elapsed_s=time.perf_counter() - started, created_at=created)

    def _record(self, item: Evidence, outcome: str) -> int:
        size = len(item.text)
        if self.audit is not None:
            self.audit.append(
                "tool_call", profile=self.scope.name, server=item.server, tool=item.tool,
                arguments=item.arguments, query=item.query, size=size, outcome=outcome,
                evidence_id=item.id, elapsed_s=round(item.elapsed_s, 4))
        return size
