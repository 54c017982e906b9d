"""Facts the offline investigator reads out of evidence payloads.

Each tool's ``structured_content`` is parsed once into small records that keep
the evidence id they came from, so every conclusion drawn from them can cite
it. Parsing is tolerant: a payload from another backend that lacks a field
yields fewer facts, never an exception.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from obsbench.evidence import Evidence
from obsbench_servers.common.timeutil import parse_time_ns

NS_PER_S = 1_000_000_000
# An anomaly is a step (where an incident starts) when most of its change happens
# within this long; a slow ramp is a trend (load, a leak, a filling disk).
STEP_SPAN_S = 600.0
STEP_SHARE = 0.5


def _ns(value: Any) -> int | None:
    if not value:
        return None
    try:
        return parse_time_ns(str(value))
    except Exception:  # a malformed time is a missing fact, not a failure
        return None


@dataclass
class Anomaly:
    """One deviating series from ``metrics_find_anomalies``."""

    service: str
    signal: str
    group: str
    title: str
    z: float
    score: float
    baseline: float
    current: float
    peak: float
    onset_ns: int | None
    sustained: bool
    step: bool
    via: str
    labels: dict[str, str]
    evidence_id: str

    @property
    def ratio(self) -> float:
        """Peak over baseline (inf when the baseline was zero and the peak is not)."""
        if abs(self.baseline) < 1e-12:
            return float("inf") if abs(self.peak) > 1e-12 else 1.0
        return abs(self.peak) / abs(self.baseline)

    @property
    def strong(self) -> bool:
        """Strong and sustained, and more than a modest shift (as the metrics server rates it)."""
        if self.onset_ns is None or self.score < 6 or not self.sustained:
            return False
        lo, hi = sorted((abs(self.baseline), abs(self.peak)))
        return hi >= (2.0 if self.group == "traffic" else 1.5) * lo

    @property
    def label(self) -> str:
        return f"{self.service} {self.title}"


def step_share(points: list[list[float]]) -> float:
    """The largest change over STEP_SPAN_S as a share of the whole excursion."""
    vals = [float(p[1]) for p in points if len(p) > 1 and p[1] is not None]
    ts = [float(p[0]) for p in points if len(p) > 1 and p[1] is not None]
    if len(vals) < 4:
        return 0.0
    step_s = max((ts[-1] - ts[0]) / max(len(ts) - 1, 1), 1.0)
    k = max(1, round(STEP_SPAN_S / step_s / 2))
    total = max(vals) - min(vals)
    if total <= 0:
        return 0.0
    best = 0.0
    for i in range(k, len(vals) - k + 1):
        before = sum(vals[i - k:i]) / k
        after = sum(vals[i:i + k]) / k
        best = max(best, abs(after - before))
    return best / total


def anomalies(ev: Evidence) -> list[Anomaly]:
    out = []
    for a in ev.payload.get("anomalies", []) or []:
        try:
            share = step_share(a.get("points") or [])
            out.append(Anomaly(
                service=str(a.get("service", "")), signal=str(a.get("signal", "")),
                group=str(a.get("group", "")), title=str(a.get("title", a.get("signal", ""))),
                z=float(a.get("z") or 0), score=float(a.get("score") or 0),
                baseline=float(a.get("baseline") or 0), current=float(a.get("current") or 0),
                peak=float(a.get("peak") or 0), onset_ns=_ns(a.get("onset")),
                sustained=bool(a.get("sustained", True)), step=share >= STEP_SHARE,
                via=str(a.get("via") or ""), labels=dict(a.get("labels") or {}),
                evidence_id=ev.id))
        except (TypeError, ValueError):
            continue
    return out


@dataclass
class Change:
    """A rollout or config edit from ``infra_get_recent_deployments``."""

    time_ns: int
    workload: str
    namespace: str
    kinds: list[str]
    summary: str
    cause: str
    who: str
    revision: Any
    previous_revision: Any
    resources: list[dict[str, Any]]
    evidence_id: str

    @property
    def kind(self) -> str:
        """deploy, config or resources: what an SRE calls this change."""
        ks = set(self.kinds)
        if "image" in ks:
            return "deploy"
        if ks & {"config", "configmap", "secret", "config_hash", "env"}:
            return "config"
        if "resources" in ks:
            return "resources"
        return "deploy" if not ks else sorted(ks)[0]


def changes(ev: Evidence) -> list[Change]:
    out = []
    for c in ev.payload.get("changes", []) or []:
        t = _ns(c.get("time"))
        if t is None:
            continue
        kinds = [str(k) for k in c.get("change_kinds") or []]
        if not kinds and c.get("kind") == "config_edit":
            kinds = ["config"]
        out.append(Change(
            time_ns=t, workload=str(c.get("workload") or c.get("name") or ""),
            namespace=str(c.get("namespace") or ""), kinds=kinds,
            summary=str(c.get("summary") or ""), cause=str(c.get("change_cause") or ""),
            who=str(c.get("who") or ""), revision=c.get("revision"),
            previous_revision=c.get("previous_revision"),
            resources=list(c.get("resources") or []), evidence_id=ev.id))
    return out


@dataclass
class Alert:
    name: str
    service: str
    severity: str
    starts_ns: int | None
    silenced: bool
    summary: str
    labels: dict[str, str]
    evidence_id: str


_JOB_SUFFIX = re.compile(r"-\d{6,}$")


def alert_service(labels: dict[str, str]) -> str:
    """The service an alert is about, from the labels alerting rules usually carry."""
    for key in ("service", "deployment", "horizontalpodautoscaler", "job_name", "job",
                "statefulset", "container", "app"):
        if labels.get(key):
            value = labels[key]
            return _JOB_SUFFIX.sub("", value) if key == "job_name" else value
    return ""


def alerts(ev: Evidence) -> list[Alert]:
    out = []
    for a in ev.payload.get("alerts", []) or []:
        labels = {str(k): str(v) for k, v in (a.get("labels") or {}).items()}
        out.append(Alert(
            name=str(a.get("alertname") or labels.get("alertname", "")),
            service=alert_service(labels), severity=str(a.get("severity") or ""),
            starts_ns=_ns(a.get("starts_at")),
            silenced=bool(a.get("silenced_by") or a.get("inhibited_by")),
            summary=str((a.get("annotations") or {}).get("summary", "")), labels=labels,
            evidence_id=ev.id))
    return out


@dataclass
class Edge:
    caller: str
    callee: str
    calls: int
    error_ratio: float


def edges(ev: Evidence) -> list[Edge]:
    return [Edge(str(e.get("caller")), str(e.get("callee")), int(e.get("calls") or 0),
                 float(e.get("error_ratio") or 0))
            for e in ev.payload.get("edges", []) or []]


@dataclass
class Breakdown:
    """Where the requests of one service spent their added time (traces)."""

    service: str
    top_service: str | None
    share: float
    delta_ns: float
    client_side_growth: str | None
    evidence_id: str


def breakdown(ev: Evidence) -> Breakdown | None:
    p = ev.payload
    services = p.get("services") or []
    if not p.get("service") or not services:
        return None
    growth = [s for s in services if float(s.get("delta_ns_per_request") or 0) > 0]
    total = sum(float(s["delta_ns_per_request"]) for s in growth)
    top = max(growth, key=lambda s: float(s["delta_ns_per_request"]), default=None)
    client_side = None
    rows = sorted(p.get("rows") or [],
                  key=lambda r: -float(r.get("critical_delta_ns_per_request") or 0))
    if rows and "client-side" in str(rows[0].get("operation", "")):
        client_side = str(rows[0].get("service"))
    return Breakdown(
        service=str(p["service"]), top_service=str(top["service"]) if top else None,
        share=float(top["delta_ns_per_request"]) / total if top and total else 0.0,
        delta_ns=float(top["delta_ns_per_request"]) if top else 0.0,
        client_side_growth=client_side, evidence_id=ev.id)


@dataclass
class Pattern:
    id: str
    template: str
    status: str
    count: int
    services: dict[str, int]
    first_ns: int | None
    propagated: bool
    evidence_id: str

    @property
    def service(self) -> str:
        return max(self.services, key=lambda s: self.services[s]) if self.services else ""


def patterns(ev: Evidence) -> list[Pattern]:
    return [Pattern(
        id=str(p.get("id")), template=str(p.get("template") or ""),
        status=str(p.get("status") or ""), count=int(p.get("count") or 0),
        services={str(k): int(v) for k, v in (p.get("services") or {}).items()},
        first_ns=_ns(p.get("first_seen")), propagated=bool(p.get("propagated")),
        evidence_id=ev.id) for p in ev.payload.get("patterns", []) or []]


@dataclass
class Facts:
    """Everything parsed so far, by kind."""

    anomalies: list[Anomaly] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    breakdowns: list[Breakdown] = field(default_factory=list)
    patterns: list[Pattern] = field(default_factory=list)
    resource_fit: list[dict[str, Any]] = field(default_factory=list)
    anomaly_evidence: str | None = None
    statuses: dict[str, Evidence] = field(default_factory=dict)
    utilization: dict[str, Evidence] = field(default_factory=dict)
    not_workloads: set[str] = field(default_factory=set)

    def add(self, ev: Evidence) -> None:
        """Parse one tool result into facts (errors add nothing but what they rule out)."""
        if ev.is_error:
            if ev.tool == "get_service_status" and "no deployment" in ev.text.lower():
                self.not_workloads.add(str(ev.arguments.get("service")))
            return
        tool = ev.tool
        if tool == "find_anomalies":
            self.anomalies += anomalies(ev)
            self.resource_fit = list(ev.payload.get("resource_fit") or [])
            self.anomaly_evidence = ev.id
        elif tool == "get_recent_deployments":
            self.changes += changes(ev)
        elif tool == "list_firing_alerts" and ev.server == "alerts":
            self.alerts += alerts(ev)
        elif tool == "get_service_dependencies":
            self.edges += edges(ev)
        elif tool == "get_latency_breakdown":
            b = breakdown(ev)
            if b is not None:
                self.breakdowns.append(b)
        elif tool == "get_error_patterns":
            self.patterns += patterns(ev)
        elif tool == "get_service_status":
            self.statuses[str(ev.arguments.get("service"))] = ev
        elif tool == "get_resource_utilization":
            self.utilization[str(ev.arguments.get("service"))] = ev

    def callees(self, service: str) -> set[str]:
        return {e.callee for e in self.edges if e.caller == service}

    def callers(self, service: str) -> set[str]:
        return {e.caller for e in self.edges if e.callee == service}

    def depth(self, service: str) -> int:
        """Hops from an entry point (a service nobody calls) in the call graph."""
        seen = {service}
        frontier = {service}
        hops = 0
        while frontier and hops < 20:
            up = {c for s in frontier for c in self.callers(s)} - seen
            if not up:
                break
            seen |= up
            frontier = up
            hops += 1
        return hops
