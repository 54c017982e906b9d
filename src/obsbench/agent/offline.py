"""The offline investigator: a fixed SRE method over the same tools, no LLM, no key.

Scope (alerts, incidents, what changed, the call graph, anomalies across every
service) -> onset -> the service's own signals near the onset (new error
patterns, where traces' added time went, pod status) -> ranked hypotheses
(agent/hypotheses.py) -> an answer whose every claim cites evidence. It is the
embedded default's brain and the baseline every LLM is measured against;
deterministic for a given bundle.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from obsbench.agent.base import Brief
from obsbench.agent.events import (
    Done,
    Event,
    EvidenceAdded,
    Notice,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    UsageUpdate,
)
from obsbench.agent.facts import Facts
from obsbench.agent.hypotheses import MIN, Hypothesis, Verdict, rank, t
from obsbench.agent.loop import investigation_window
from obsbench.agent.model import Finding, InvestigationResult, RootCause, Usage
from obsbench.agent.remedies import actions_for
from obsbench.evidence import check_citations, flag_unresolved
from obsbench_servers.common.timeutil import ns_to_rfc3339

if TYPE_CHECKING:
    from obsbench.hub import Hub

MAX_SPAN_NS = 6 * 60 * MIN  # the anomaly scan looks at most this far back
BASELINE_NS = 60 * MIN
MAX_BREAKDOWNS = 3
MAX_STATUS = 3


def _dur(ns: int) -> str:
    return f"{max(ns // MIN, 1)}m"


class OfflineInvestigator:
    """Implements ``Investigator`` over a connected hub (agent/base.py)."""

    name = "offline"
    model: str | None = None

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def run(self, brief: Brief) -> AsyncIterator[Event]:
        run = _Run(self.hub, brief)
        async for event in run.drive():
            yield event


class _Run:
    def __init__(self, hub: Hub, brief: Brief) -> None:
        self.hub = hub
        self.brief = brief
        self.facts = Facts()
        self.tool_calls = 0
        self.not_checked: list[str] = []
        self.started = time.perf_counter()
        self._seq = 0

    def _available(self, name: str) -> bool:
        return any(s.name == name for s in self.hub.tools(include_writes=False))

    async def _calls(self, calls: Sequence[tuple[str, dict[str, Any]]]) -> AsyncIterator[Event]:
        """Run calls in parallel; yield their events; their results become facts."""
        wanted = []
        for name, args in calls:
            if self._available(name):
                wanted.append((name, args))
            else:
                self.not_checked.append(f"{name}: no such tool in this profile")
        if not wanted:
            return
        ids = []
        for name, args in wanted:
            self._seq += 1
            call_id = f"offline-{self._seq}"
            ids.append(call_id)
            yield ToolCallStarted(call_id, name, args)
        records = await self.hub.call_many(wanted)
        for call_id, (name, _), rec in zip(ids, wanted, records, strict=True):
            ev = rec.evidence
            self.tool_calls += 1
            self.facts.add(ev)
            if ev.is_error:
                self.not_checked.append(f"{name} failed: {ev.summary} [{ev.id}]")
            yield ToolCallFinished(call_id, name, ev.id, rec.outcome, round(ev.elapsed_s, 4),
                                   rec.size, summary=ev.summary,
                                   error=ev.summary if ev.is_error else None)
            yield EvidenceAdded(ev.id, ev.server, ev.tool, ev.kind, ev.summary, ev.time_range,
                                ev.coverage_line)

    async def drive(self) -> AsyncIterator[Event]:
        brief = self.brief
        start, end, _now = investigation_window(self.hub, brief)
        start = max(start, end - MAX_SPAN_NS)
        span = end - start
        window = {"start": ns_to_rfc3339(start), "end": ns_to_rfc3339(end)}
        yield Notice("offline investigator: a fixed method over the tools, no LLM was asked")
        s, e = window["start"], window["end"]
        # 1. Scope: what fires, what changed, the topology, and what deviates.
        scan = max(span - BASELINE_NS, 15 * MIN) if span > 2 * BASELINE_NS else span // 2
        phase1: list[tuple[str, dict[str, Any]]] = [
            ("alerts_list_firing_alerts", {}),
            ("alerts_get_active_incidents", {}),
            ("infra_get_recent_deployments", {"start": s, "end": e}),
            ("metrics_find_anomalies", {"window": _dur(scan), "baseline": _dur(
                min(BASELINE_NS, span - scan) if span > scan else BASELINE_NS),
                "end": e, "limit": 60}),
            ("traces_get_service_dependencies", {"start": s, "end": e}),
        ]
        async for item in self._calls(phase1):
            yield item
        verdict = rank(self.facts, focus=brief.service)
        # 2. Near the onset: errors, where traces' time went, pod status.
        phase2 = self._phase2(verdict, start, end)
        async for item in self._calls(phase2):
            yield item
        verdict = rank(self.facts, focus=brief.service)
        # 3. Is the leading suspect (or where traces' time went) one of our workloads?
        checked = set(self.facts.statuses) | self.facts.not_workloads | {
            svc for _, a in phase2 if (svc := a.get("service")) and _ == "infra_get_service_status"}
        suspects = [h.service for h in verdict.ranked[:MAX_STATUS]] + [
            b.top_service for b in self.facts.breakdowns if b.top_service]
        todo = [s for s in dict.fromkeys(suspects) if s not in checked and "/" not in s]
        if verdict.mode == "incident" and todo:
            async for item in self._calls([("infra_get_service_status", {"service": s})
                                           for s in todo[:MAX_STATUS]]):
                yield item
            verdict = rank(self.facts, focus=brief.service)
        if verdict.mode == "capacity" and verdict.ranked:
            svc = verdict.ranked[0].service
            async for item in self._calls([("infra_get_resource_utilization",
                                            {"service": svc, "window": "30d"})]):
                yield item
            verdict = rank(self.facts, focus=brief.service)
        result = self._result(verdict, window)
        for chunk in _chunks(result.answer):
            yield TextDelta(chunk)
        yield UsageUpdate(Usage())
        yield Done(result)

    def _phase2(self, v: Verdict, start: int, end: int) -> list[tuple[str, dict[str, Any]]]:
        calls: list[tuple[str, dict[str, Any]]] = []
        e = ns_to_rfc3339(end)
        if v.onset_ns is None:
            return calls
        t0 = v.onset_ns
        calls.append(("logs_get_error_patterns", {
            "start": ns_to_rfc3339(max(start, t0 - 10 * MIN)), "end": e}))
        # Break down the latency of the services that hurt, callers first.
        hurt: dict[str, float] = {}
        for a in self.facts.anomalies:
            if a.signal == "latency_p95" and a.strong and a.z > 0 and a.onset_ns is not None \
                    and abs(a.onset_ns - t0) <= 20 * MIN:
                hurt[a.service] = max(hurt.get(a.service, 0.0), a.ratio)
        callers = [s for s in hurt if self.facts.callees(s)]
        chosen = sorted(callers, key=lambda s: (-self.facts.depth(s), -hurt[s], s))
        for svc in chosen[:MAX_BREAKDOWNS]:
            calls.append(("traces_get_latency_breakdown", {
                "service": svc, "start": ns_to_rfc3339(t0), "end": e}))
        for hyp in v.ranked[:MAX_STATUS]:
            if not hyp.service.startswith("node/"):
                calls.append(("infra_get_service_status", {"service": hyp.service}))
        return calls

    # -- the answer -------------------------------------------------------------------------
    def _result(self, v: Verdict, window: dict[str, str]) -> InvestigationResult:
        store = self.hub.evidence
        roots: list[RootCause] = []
        top_score = v.ranked[0].score if v.ranked else 0.0
        for i, hyp in enumerate(v.ranked[:3]):
            # Runners-up are listed only with real evidence of their own.
            if hyp.score < (1.0 if i == 0 else 2.0):
                break
            conf = _confidence(hyp, v.ranked[1].score if len(v.ranked) > 1 else 0.0) \
                if i == 0 else round(min(0.5, 0.5 * hyp.score / max(top_score, 1e-9)), 2)
            roots.append(RootCause(
                service=hyp.service, kind=hyp.kind, confidence=conf,
                summary=_summary(hyp, v), evidence=hyp.evidence[:6],
                reasons=[f"{p.reason} (+{p.weight:.1f})" for p in
                         sorted(hyp.points, key=lambda p: -p.weight) if p.evidence][:6]))
        contributing = self._contributing(v)
        ruled = [Finding(why, ev, svc) for svc, why, ev in v.ruled_out]
        actions = [Finding(text, ev, roots[0].service)
                   for text, ev in actions_for(roots[0], self.facts, v)] if roots else []
        not_checked = list(self.not_checked)
        if v.mode == "incident" and not any(b for b in self.facts.breakdowns):
            not_checked.append("no trace breakdown was available for the affected services")
        not_checked.append("code and configuration diffs of the changes (not in telemetry)")
        answer = _render(self.brief, window, v, roots, contributing, ruled, actions,
                         not_checked)
        check = check_citations(answer, store)
        return InvestigationResult(
            question=self.brief.question, window=window, root_causes=roots,
            answer=flag_unresolved(answer, store), agent="offline", model=None,
            contributing=contributing, ruled_out=ruled, actions=actions,
            not_checked=not_checked, unresolved_citations=check.unresolved,
            tool_calls=self.tool_calls, usage=Usage(),
            elapsed_s=time.perf_counter() - self.started, stop_reason="end_turn")

    def _contributing(self, v: Verdict) -> list[Finding]:
        if not v.ranked:
            return []
        root = v.ranked[0].service
        out: list[Finding] = []
        seen: set[str] = set()
        for hyp in v.ranked[1:]:
            for p in hyp.points:
                if p.weight >= 1.0 and p.evidence and hyp.service != root \
                        and hyp.service not in seen and p.kind == "":
                    seen.add(hyp.service)
                    out.append(Finding(f"{hyp.service}: {p.reason}", p.evidence, hyp.service))
                    break
        if v.onset_ns is not None:
            affected = sorted({a.service for a in self.facts.anomalies
                               if a.strong and a.signal in {"latency_p95", "error_ratio"}
                               and a.z > 0 and a.service != root})
            if affected and self.facts.anomaly_evidence:
                out.append(Finding(
                    f"impact spread to {', '.join(affected[:8])} (latency or errors rose after "
                    f"{t(v.onset_ns)})", [self.facts.anomaly_evidence]))
        return out[:6]


def _confidence(hyp: Hypothesis, second: float) -> float:
    margin = hyp.score - second
    kinds = {p.kind for p in hyp.points if p.kind}
    conf = 0.45 + 0.06 * min(margin, 5) + 0.03 * min(len(hyp.evidence), 5)
    if len(kinds) > 1:
        conf -= 0.05
    return round(max(0.2, min(conf, 0.95)), 2)


def _summary(hyp: Hypothesis, v: Verdict) -> str:
    best = max(hyp.points, key=lambda p: p.weight)
    return best.reason


def _cite(ids: Sequence[str]) -> str:
    return f"[{', '.join(dict.fromkeys(i for i in ids if i))}]" if any(ids) else ""


def _render(  # noqa: PLR0917 - the sections of one report
    brief: Brief, window: dict[str, str], v: Verdict, roots: list[RootCause],
    contributing: list[Finding], ruled: list[Finding], actions: list[Finding],
    not_checked: list[str],
) -> str:
    lines = [f"## Investigation: {brief.question}",
             f"Window {window['start']} .. {window['end']} (offline investigator, no LLM)."]
    if v.mode == "capacity":
        lines.append("No incident: no strong step change in any service's signals; "
                     "reading the question as a capacity review.")
    elif v.onset_ns is not None:
        lines.append(f"Onset: {t(v.onset_ns)}, the first strong step change "
                     f"{_cite(v.onset_evidence[:2])}.")
    lines.append("")
    if roots:
        lines.append("### Root cause")
        r = roots[0]
        lines.append(f"**{r.service}** ({r.kind}, confidence {r.confidence:.0%}): "
                     f"{r.summary} {_cite(r.evidence[:3])}")
        for reason, ev in _reasons(v.ranked[0]):
            lines.append(f"- {reason} {_cite(ev)}")
        if len(roots) > 1:
            lines += ["", "Other candidates, weaker:"]
            lines += [f"- {x.service} ({x.kind}, {x.confidence:.0%}): {x.summary} "
                      f"{_cite(x.evidence[:2])}" for x in roots[1:]]
    else:
        lines.append("### Root cause\nNo hypothesis has enough evidence; see what was not "
                     "checked.")
    if contributing:
        lines += ["", "### Contributing factors"]
        lines += [f"- {f.summary} {_cite(f.evidence)}" for f in contributing]
    if ruled:
        lines += ["", "### Ruled out"]
        lines += [f"- {f.summary} {_cite(f.evidence)}" for f in ruled]
    if actions:
        lines += ["", "### Recommended actions"]
        lines += [f"{i}. {f.summary} {_cite(f.evidence)}" for i, f in enumerate(actions, 1)]
    lines += ["", "### Not checked"] + [f"- {n}" for n in not_checked]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _reasons(hyp: Hypothesis) -> list[tuple[str, list[str]]]:
    pts = sorted((p for p in hyp.points if p.evidence), key=lambda p: -p.weight)
    return [(p.reason, p.evidence) for p in pts[:5]]


def _chunks(text: str, size: int = 400) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]
