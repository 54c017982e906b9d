"""The offline investigator on the twelve scenarios, through the real servers and hub."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from obsbench.agent.base import Brief
from obsbench.agent.events import (
    Done,
    Event,
    EvidenceAdded,
    Notice,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
)
from obsbench.agent.facts import Facts, step_share
from obsbench.agent.hypotheses import rank
from obsbench.agent.loop import run_to_end
from obsbench.agent.model import InvestigationResult
from obsbench.agent.offline import OfflineInvestigator
from obsbench.eval import blind_copy
from obsbench.evidence import Evidence
from obsbench.hub import Hub
from obsbench.scenarios import SCENARIOS
from obsbench.scope import resolve_scope

CITE = re.compile(r"\bE\d+\b")


def investigate(bundle: Path, brief: Brief | None = None
                ) -> tuple[InvestigationResult, list[Event], Hub]:
    events: list[Event] = []

    async def go() -> tuple[InvestigationResult, Hub]:
        async with Hub(resolve_scope(bundle=bundle)) as hub:
            result = await run_to_end(OfflineInvestigator(hub),
                                      brief or Brief("What is the root cause?"),
                                      events.append)
            return result, hub

    result, hub = anyio.run(go)
    return result, events, hub


def truth(bundle: Path) -> dict[str, Any]:
    data = tomllib.loads((bundle / "bundle.toml").read_text())
    return dict(data["truth"])


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_offline_names_the_true_root_cause_first(
        scenario: str, bundle_dir: Callable[..., Path], tmp_path: Path) -> None:
    # Investigate a blind copy (neutral name, no truth): nothing in any tool's output
    # can reveal the scenario.
    source = bundle_dir(scenario)
    case = blind_copy(source, tmp_path)
    result, events, hub = investigate(case.bundle)
    want = truth(source)
    top = result.root_causes[0]
    assert (top.service, top.kind) == (want["service"], want["kind"]), result.answer
    # Every claim cites evidence of this investigation, and every citation resolves.
    assert result.unresolved_citations == []
    ids = {e.id for e in hub.evidence}
    cited = set(CITE.findall(result.answer))
    assert cited and cited <= ids
    for rc in result.root_causes:
        assert rc.evidence and set(rc.evidence) <= ids
    for finding in result.ruled_out + result.actions + result.contributing:
        assert set(finding.evidence) <= ids
    assert result.actions, "a root cause comes with recommended actions"
    # The event stream a front end relies on: starts and finishes pair up, evidence
    # follows each finished call, text streams before the single final Done.
    started = [e.call_id for e in events if isinstance(e, ToolCallStarted)]
    finished = [e.call_id for e in events if isinstance(e, ToolCallFinished)]
    assert sorted(started) == sorted(finished) and len(started) == result.tool_calls
    assert len([e for e in events if isinstance(e, EvidenceAdded)]) == result.tool_calls
    assert isinstance(events[-1], Done) and sum(isinstance(e, Done) for e in events) == 1
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == result.answer
    assert any(isinstance(e, Notice) and "no LLM" in e.message for e in events)


@pytest.mark.parametrize("scenario", ["bad-deploy-db-pool", "batch-table-lock",
                                      "feature-flag-config"])
def test_offline_rules_out_the_red_herring_deploy_with_its_timing(
        scenario: str, bundle_dir: Callable[..., Path]) -> None:
    bundle = bundle_dir(scenario)
    herring = next(h for h in truth(bundle)["red_herrings"] if h.startswith("deploy "))
    service = herring.split()[1].rstrip(":")
    result, _, _ = investigate(bundle)
    ruled = [f for f in result.ruled_out if f.service == service]
    assert ruled, result.answer
    assert "before the onset" in ruled[0].summary
    assert result.root_causes[0].service != service


def test_offline_dismisses_standing_alerts(bundle_dir: Callable[..., Path]) -> None:
    result, _, _ = investigate(bundle_dir("cpu-throttling"))
    standing = [f for f in result.ruled_out if "CPUThrottlingHigh" in f.summary]
    assert standing and "standing noise" in standing[0].summary
    assert standing[0].service == "notification"


def test_offline_capacity_question_gets_the_rightsizing_figures(
        bundle_dir: Callable[..., Path]) -> None:
    result, _, hub = investigate(bundle_dir("capacity-rightsizing"))
    assert result.root_causes[0].service == "api-gateway"
    action = result.actions[0].summary
    match = re.search(r"2000m -> (\d+)m", action)
    assert match, action
    assert abs(int(match.group(1)) - 1000) <= 100  # P95 800m x 1.25, within 10%
    assert "4000m" in action  # the limit is kept
    assert any(e.tool == "get_resource_utilization" for e in hub.evidence)


def test_offline_goes_on_when_a_server_fails(bundle_dir: Callable[..., Path]) -> None:
    """A server that errors on every call is reported as not checked; the answer still comes."""
    from obsbench_servers.registry import build_server

    def factory(name: str, ctx: Any) -> Any:
        if name == "traces":
            from mcp.server.mcpserver import MCPServer

            from obsbench_servers.common.errors import BackendError
            from obsbench_servers.common.toolkit import register_tool

            server = MCPServer("traces")

            def get_service_dependencies(start: str | None = None,
                                         end: str | None = None) -> Any:
                raise BackendError("jaeger is unreachable", "check the jaeger URL")

            register_tool(server, get_service_dependencies, read_only=True)
            return server
        return build_server(name, ctx)

    async def go() -> InvestigationResult:
        scope = resolve_scope(bundle=bundle_dir("memory-leak-oom"))
        async with Hub(scope, server_factory=factory) as hub:
            return await run_to_end(OfflineInvestigator(hub), Brief("Why?"))

    result = anyio.run(go)
    assert result.root_causes[0].service == "inventory"
    assert any("get_service_dependencies failed" in n and "unreachable" in n
               for n in result.not_checked)
    assert "no trace breakdown was available for the affected services" in result.not_checked


def _anomaly_evidence(anomalies: list[dict[str, Any]]) -> Evidence:
    return Evidence("E1", "metrics", "find_anomalies", {}, "series", "", "",
                    payload={"anomalies": anomalies})


def _anomaly(service: str, signal: str, onset: str, points: list[list[float]],
             **kw: Any) -> dict[str, Any]:
    base = {"service": service, "signal": signal, "group": kw.pop("group", "errors"),
            "title": signal, "z": 20.0, "score": 20.0, "baseline": 0.01, "current": 0.2,
            "peak": 0.25, "onset": onset, "sustained": True, "points": points}
    base.update(kw)
    return base


def test_step_share_tells_steps_from_ramps() -> None:
    step = [[float(i * 60), 0.0 if i < 30 else 1.0] for i in range(60)]
    ramp = [[float(i * 60), i / 60] for i in range(60)]
    assert step_share(step) > 0.9
    assert step_share(ramp) < 0.3
    assert step_share([[0.0, 1.0]]) == 0.0  # too short to judge


def test_onset_ignores_ramps_and_load_following_signals() -> None:
    step = [[float(i * 60), 0.0 if i < 30 else 1.0] for i in range(60)]
    ramp = [[float(i * 60), i / 60] for i in range(60)]
    facts = Facts()
    facts.add(_anomaly_evidence([
        _anomaly("a", "cpu_usage", "2026-01-01T00:05:00Z", step, group="saturation"),
        _anomaly("b", "pg_wal_size", "2026-01-01T00:10:00Z", ramp, group="saturation"),
        _anomaly("c", "error_ratio", "2026-01-01T00:30:00Z", step),
    ]))
    verdict = rank(facts)
    assert verdict.onset_ns is not None
    assert verdict.mode == "incident"
    from obsbench_servers.common.timeutil import ns_to_rfc3339

    assert ns_to_rfc3339(verdict.onset_ns) == "2026-01-01T00:30:00Z"


def test_a_change_at_the_onset_outranks_symptoms_and_early_changes_are_ruled_out() -> None:
    step = [[float(1767225600 + i * 60), 0.0 if i < 30 else 1.0] for i in range(60)]
    facts = Facts()
    facts.add(_anomaly_evidence([
        _anomaly("front", "error_ratio", "2026-01-01T00:30:00Z", step),
        _anomaly("api", "error_ratio", "2026-01-01T00:31:00Z", step),
    ]))
    facts.add(Evidence("E2", "infra", "get_recent_deployments", {}, "changes", "", "",
                       payload={"changes": [
                           {"time": "2026-01-01T00:28:00Z", "workload": "api",
                            "namespace": "shop", "change_kinds": ["image"],
                            "summary": "image api:1 -> api:2", "revision": 5,
                            "previous_revision": 4},
                           {"time": "2026-01-01T00:01:00Z", "workload": "front",
                            "namespace": "shop", "change_kinds": ["image"],
                            "summary": "image front:7 -> front:8"}]}))
    verdict = rank(facts)
    assert verdict.ranked[0].service == "api"
    assert verdict.ranked[0].kind == "deploy"
    assert "E2" in verdict.ranked[0].evidence
    ruled = {svc: why for svc, why, _ in verdict.ruled_out}
    assert "front" in ruled and "29 min before the onset" in ruled["front"]


def test_no_step_change_means_a_capacity_review() -> None:
    ramp = [[float(i * 60), i / 60] for i in range(60)]
    facts = Facts()
    ev = _anomaly_evidence([_anomaly("gw", "cpu_usage", "2026-01-01T00:10:00Z", ramp,
                                     group="saturation")])
    ev.payload["resource_fit"] = [
        {"service": "gw", "cpu_usage_p95_cores": 1.6, "cpu_request_cores": 6.0,
         "usage_vs_request": 0.27},
        {"service": "tiny", "cpu_usage_p95_cores": 0.01, "cpu_request_cores": 0.5,
         "usage_vs_request": 0.02}]
    facts.add(ev)
    verdict = rank(facts)
    assert verdict.mode == "capacity" and verdict.onset_ns is None
    # The most idle cores win, not the smallest ratio.
    assert [h.service for h in verdict.ranked] == ["gw", "tiny"]
    assert verdict.ranked[0].kind == "cpu"
