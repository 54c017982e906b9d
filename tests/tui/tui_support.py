"""A deterministic investigator for TUI tests: real tool calls over the hub, a fixed answer.

The TUI is what these tests check, so the investigator is a small scripted one
(the offline investigator is tested in tests/engine). Its tool calls are real:
they go through the hub to the servers over the scenario bundle, so the panels
render real evidence. The answer cites the evidence ids the calls produced.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from obsbench.agent.base import Brief
from obsbench.agent.events import (
    Done,
    Event,
    EvidenceAdded,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    UsageUpdate,
)
from obsbench.agent.model import InvestigationResult, RootCause, Usage
from obsbench.hub import Hub
from obsbench.scope import Scope, resolve_scope
from obsbench.tui.app import WorkbenchApp
from obsbench_servers.common.context import ServerContext

DEFAULT_PLAN: list[tuple[str, dict[str, Any]]] = [
    ("alerts_list_firing_alerts", {}),
    ("metrics_query_range", {"expr": 'sum by (service) (rate(db_client_connection_timeouts_total'
                                     '[5m]))'}),
    ("logs_search_logs", {"service": "user-api", "level": "error", "limit": 200}),
    ("infra_get_recent_deployments", {}),
]


class ScriptedInvestigator:
    """Calls ``plan`` in order, then streams an answer citing what came back."""

    name = "scripted"
    model: str | None = None

    def __init__(self, hub: Hub, plan: list[tuple[str, dict[str, Any]]] | None = None, *,
                 pause_s: float = 0.0) -> None:
        self.hub = hub
        self.plan = list(plan if plan is not None else DEFAULT_PLAN)
        self.pause_s = pause_s

    async def run(self, brief: Brief) -> AsyncIterator[Event]:
        ids: list[str] = []
        for n, (tool, args) in enumerate(self.plan, 1):
            ev_id = self.hub.evidence.new_id()
            yield ToolCallStarted(f"call-{n}", tool, args, ev_id)
            if self.pause_s:
                await anyio.sleep(self.pause_s)
            rec = await self.hub.call(tool, args, evidence_id=ev_id)
            ev = rec.evidence
            yield ToolCallFinished(f"call-{n}", tool, ev_id, rec.outcome, ev.elapsed_s, rec.size,
                                   ev.summary, ev.summary if ev.is_error else None)
            yield EvidenceAdded(ev_id, ev.server, ev.tool, ev.kind, ev.summary, ev.time_range,
                                ev.coverage_line)
            ids.append(ev_id)
        yield UsageUpdate(Usage(input_tokens=1200, output_tokens=340, cost_usd=0.0123))
        cites = {i: ids[i] if i < len(ids) else "E99" for i in range(4)}
        answer = (f"## Root cause\n\nuser-api exhausted its database pool after the 2.3.1 "
                  f"rollout [{cites[3]}]: pool timeouts rose [{cites[1]}] and errors followed "
                  f"[{cites[2]}], paging HighErrorRate [{cites[0]}].\n")
        for piece in answer.split(" "):
            yield TextDelta(piece + " ")
        yield Done(InvestigationResult(
            question=brief.question, window={}, answer=answer, agent="scripted",
            root_causes=[RootCause("user-api", "deploy", 0.8, "pool exhausted", ids[-1:])],
            tool_calls=len(ids), usage=Usage(input_tokens=1200, output_tokens=340,
                                             cost_usd=0.0123)))


# -- apps over real servers --------------------------------------------------------------------
SCENARIO = "bad-deploy-db-pool"


@dataclass
class MockedScope(Scope):
    """A scope whose servers reach their HTTP backends through a mock transport."""

    transport: Any = None

    def context(self, signal: str) -> ServerContext:
        ctx = super().context(signal)
        ctx.options["transport"] = self.transport
        return ctx


def bundle_scope(bundle: Path) -> Scope:
    return resolve_scope(bundle=bundle)


def make_app(scope: Scope, *, plan: list[tuple[str, dict[str, Any]]] | None = None,
             pause_s: float = 0.0, investigator: bool = True, question: str | None = None,
             server_factory: Callable[[str, ServerContext], Any] | None = None,
             servers: tuple[str, ...] | None = None, call_timeout_s: float = 60.0,
             export_dir: Path | None = None, theme: str = "obsbench-dark") -> WorkbenchApp:
    """The workbench over real servers for ``scope`` and the scripted investigator."""

    def hub_factory(confirm: Any) -> Hub:
        kwargs: dict[str, Any] = {"elicitation_callback": confirm,
                                  "call_timeout_s": call_timeout_s}
        if server_factory is not None:
            kwargs["server_factory"] = server_factory
        if servers is not None:
            kwargs["servers"] = servers
        return Hub(scope, **kwargs)

    factory = (lambda hub: ScriptedInvestigator(hub, plan, pause_s=pause_s)) if investigator \
        else None
    return WorkbenchApp(hub_factory, factory, profile=scope.name, backends="embedded store",
                        agent="scripted", question=question, timings=False,
                        export_dir=export_dir, theme=theme)


async def wait_for(pilot: Any, condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Let the app run until ``condition`` holds (fails the test after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s")
        await pilot.pause(0.05)


def answered(app: WorkbenchApp) -> bool:
    """The investigation finished and its citations row is on screen."""
    return app.status.state == "idle" and bool(app.query(".citations"))


def collected(app: WorkbenchApp, n: int) -> bool:
    """The plan ran: the session is idle with ``n`` evidence items."""
    return app.status.state == "idle" and app.hub is not None and len(app.hub.evidence) == n


def chat_text(app: WorkbenchApp) -> str:
    """Everything the chat pane shows as plain text (lines and rendered answers)."""
    from textual.widgets import Markdown, Static

    parts = []
    for w in app.query_one("#chat").children:
        if isinstance(w, Markdown):
            parts.append(w.source)
        elif isinstance(w, Static):
            parts.append(str(w.render()))
    return "\n".join(parts)
