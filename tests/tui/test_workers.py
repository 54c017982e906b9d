"""I/O in workers: confirmed writes through a modal, a slow backend, and ``esc``.

The write test goes through the real alerts server and its write gate, with a
PagerDuty backend answered by a mock transport (PagerDuty's own incident object
from ../shared/fixtures/pagerduty, used in place): the modal is the TUI's answer
to the server's confirmation request.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp.server.mcpserver import MCPServer
from tui_support import MockedScope, bundle_scope, chat_text, make_app, wait_for

from obsbench.config import Profile
from obsbench.tui.screens.modals import ConfirmWriteScreen
from obsbench_servers.common.audit import AuditTrail
from obsbench_servers.common.backend import PagerDutyBackend
from obsbench_servers.common.context import ServerContext
from obsbench_servers.common.result import ToolOutput
from obsbench_servers.common.toolkit import register_tool
from obsbench_servers.registry import build_server

pytestmark = pytest.mark.asyncio
WIDE = (160, 48)


@dataclass
class PagerDuty:
    """Records every request; answers an acknowledgement with the incident, acknowledged."""

    incident: dict[str, Any]
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "PUT":
            return httpx.Response(200, json={"incident": {**self.incident,
                                                          "status": "acknowledged"}})
        return httpx.Response(500, json={"error": {"message": "unexpected in this test"}})


def _pd_scope(bundle: Path, pd: PagerDuty) -> MockedScope:
    backend = PagerDutyBackend(type="pagerduty", name="pd", from_email="oncall@example.com",
                               auth={"kind": "api_key", "secret": "env:PD_TOKEN"}
                               ).with_secret("pd-token")
    profile = Profile(bundle=bundle, alerts=[backend], writes_enabled=True)
    return MockedScope("prod", profile, None, transport=httpx.MockTransport(pd))


def _writes() -> list[dict[str, Any]]:
    return [r for r in AuditTrail().records() if r["event"] == "write"]


async def _type(pilot: Any, text: str) -> None:
    await pilot.press(*[{" ": "space", ":": "colon", "/": "slash", "=": "equals_sign"}.get(c, c)
                        for c in text])


@pytest.mark.parametrize("answer", ["cancel", "confirm"])
async def test_write_modal_blocks_until_confirmed(demo_bundle: Path, fixtures: Path,
                                                  answer: str) -> None:
    incident = json.loads((fixtures / "pagerduty" / "mcp_tests_incident.json").read_text())
    pd = PagerDuty(incident)
    app = make_app(_pd_scope(demo_bundle, pd), investigator=False, servers=("alerts",))
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: app.hub is not None)
        app.query_one("#prompt").value = ":call alerts_acknowledge_alert incident_id=Q1ZX9ABCDE"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmWriteScreen))
        # The modal says exactly what will be done, and nothing is sent while it is up.
        message = str(app.screen.query_one("#confirm-message").render())
        assert "Acknowledge PagerDuty incident Q1ZX9ABCDE" in message
        await pilot.pause(0.5)
        assert pd.requests == [] and _writes() == []
        assert app.focused is not None and app.focused.id == "confirm-no"  # safe default
        if answer == "cancel":
            await pilot.press("escape")
        else:
            await pilot.click("#confirm-yes")
        await wait_for(pilot, lambda: app.shown_evidence == "E1")
        (write,) = _writes()
        if answer == "cancel":
            assert pd.requests == []
            assert write["outcome"] == "refused" and write["confirmed_by"] is None
            assert "cancelled, nothing written" in chat_text(app)
            assert app.hub.evidence.get("E1").is_error  # type: ignore[union-attr]
        else:
            (put,) = pd.requests
            assert put.method == "PUT" and put.url.path == "/incidents/Q1ZX9ABCDE"
            assert write["outcome"] == "done" and write["confirmed_by"].endswith("(tui)")
            assert not app.hub.evidence.get("E1").is_error  # type: ignore[union-attr]


def _slow_metrics(ctx: ServerContext) -> MCPServer:
    """A metrics server whose one tool hangs for 30 s, like a backend that stopped answering."""
    server = MCPServer("slow-metrics")

    async def slow_query(expr: str) -> ToolOutput:
        """Query that never answers in time (test)."""
        await anyio.sleep(30)
        return ToolOutput(kind="text", summary="late", text="late", data={})

    register_tool(server, slow_query, timeout_s=60)
    return server


def _factory(name: str, ctx: ServerContext) -> Any:
    return _slow_metrics(ctx) if name == "metrics" else build_server(name, ctx)


async def test_a_sleeping_backend_does_not_freeze_typing_and_esc_cancels(
        demo_bundle: Path) -> None:
    app = make_app(bundle_scope(demo_bundle), investigator=False, server_factory=_factory,
                   servers=("metrics", "alerts"))
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: app.hub is not None)
        started = time.monotonic()
        await _type(pilot, ":call metrics_slow_query expr=up")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "running metrics_slow_query" in app.status.state)
        # The UI keeps answering: typing lands in the input, and another tool runs meanwhile.
        await _type(pilot, "still typing")
        assert app.query_one("#prompt").value == "still typing"
        app.query_one("#prompt").value = ":alerts"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.shown_evidence == "E2")
        await pilot.press("escape")
        await wait_for(pilot, lambda: "⊘ E1 metrics_slow_query" in chat_text(app))
        assert time.monotonic() - started < 20  # long before the 30 s sleep ends
        assert "E1" not in app.listed  # a cancelled call is no evidence
        # The hub survived the cancellation: the next call works.
        await _type(pilot, ":alerts")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.shown_evidence == "E3")


async def test_esc_cancels_a_running_investigation(demo_bundle: Path) -> None:
    app = make_app(bundle_scope(demo_bundle), pause_s=30, question="why?")
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: "investigating" in app.status.state)
        await wait_for(pilot, lambda: "… E1 alerts_list_firing_alerts" in chat_text(app))
        started = time.monotonic()
        await pilot.press("escape")
        await wait_for(pilot, lambda: "investigation cancelled" in chat_text(app))
        assert time.monotonic() - started < 5
        assert app.status.state == "idle" and len(app.hub.evidence) == 0  # type: ignore[arg-type]
        # A new question can be asked right away (the hub is still connected).
        app.investigator_factory = None
        app.query_one("#prompt").value = "again?"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "no investigator is configured" in chat_text(app))
