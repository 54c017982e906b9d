"""Capacity recommendation: requests and limits against measured usage, with the checks.

Read from ``infra_get_resource_utilization`` evidence (which measured the usage
percentiles and applied the headroom rule); this module only lays it out in the
brief's format: current request and limit, usage P50/P95/P99/max over the window,
the headroom rule, the recommendation, and the risk checks ("never hit limits?
throttled? OOM?"), each line citing the evidence it comes from. Nothing is
recomputed here, so the report and the tool can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from obsbench.evidence import Evidence, EvidenceStore
from obsbench_servers.common.timeutil import TimeParseError, format_duration_ns, parse_rfc3339_ns

TOOL = ("infra", "get_resource_utilization")


def _cpu(cores: Any) -> str:
    return f"{round(float(cores) * 1000)}m" if isinstance(cores, int | float) else "?"


def _mem(value: Any) -> str:
    if not isinstance(value, int | float):
        return "?"
    mib = float(value) / 2**20
    return f"{mib / 1024:.2f}Gi" if mib >= 1024 else f"{mib:.1f}Mi"


@dataclass
class ResourceAdvice:
    """One resource (cpu or memory) of one container."""

    resource: str
    request: str | None
    limit: str | None
    usage: dict[str, str]
    points: int | None
    recommended_request: str | None
    recommended_limit: str | None
    request_action: str
    limit_action: str
    reasons: list[str]


@dataclass
class ContainerAdvice:
    """A container's recommendation, the checks it passed or failed, and its evidence."""

    workload: str
    container: str
    window: str
    headroom: float | None
    resources: list[ResourceAdvice]
    checks: list[dict[str, Any]]
    throttled_ratio: float | None
    restarts: float | None
    oom_killed_pods: list[str]
    summary: str
    evidence: str
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["resources"] = [r.__dict__ for r in self.resources]
        return data

    @property
    def safe(self) -> bool:
        """Every risk check passed (a recommendation to lower anything is only safe then)."""
        return all(c.get("ok") for c in self.checks)


def _window(ev: Evidence) -> str:
    tr = ev.time_range or {}
    try:
        span = parse_rfc3339_ns(tr["end"]) - parse_rfc3339_ns(tr["start"])
    except (KeyError, TypeError, TimeParseError):
        return "the window"
    return f"{format_duration_ns(span)} ({tr['start']} .. {tr['end']})"


def _advice(ev: Evidence, container: dict[str, Any]) -> ContainerAdvice:
    wl = ev.payload.get("workload") or {}
    usage = container.get("usage") or {}
    rec = container.get("recommendation") or {}
    resources = []
    for name, key, fmt in (("cpu", "cpu_cores", _cpu), ("memory", "memory_bytes", _mem)):
        r = rec.get(name) or {}
        u = usage.get(key) or {}
        resources.append(ResourceAdvice(
            resource=name,
            request=r.get("request") or (container.get("resources") or {}).get(f"{name}_request"),
            limit=r.get("limit") or (container.get("resources") or {}).get(f"{name}_limit"),
            usage={q: fmt(u.get(q)) for q in ("p50", "p95", "p99", "max") if q in u},
            points=u.get("points"),
            recommended_request=r.get("recommended_request"),
            recommended_limit=r.get("recommended_limit"),
            request_action=str(r.get("request_action") or "unknown"),
            limit_action=str(r.get("limit_action") or "unknown"),
            reasons=[str(x) for x in r.get("reasons") or []],
        ))
    return ContainerAdvice(
        workload=f"{wl.get('kind', 'workload')} {wl.get('namespace', '?')}/{wl.get('name', '?')}",
        container=str(container.get("container") or "?"),
        window=_window(ev),
        headroom=rec.get("headroom"),
        resources=resources,
        checks=list(rec.get("checks") or []),
        throttled_ratio=usage.get("throttled_ratio"),
        restarts=usage.get("restarts"),
        oom_killed_pods=list(usage.get("oom_killed_pods") or []),
        summary=str(rec.get("summary") or ""),
        evidence=ev.id,
        warnings=list(ev.warnings),
    )


@dataclass
class CapacityReport:
    """Every container recommendation found in the evidence."""

    containers: list[ContainerAdvice]

    def to_dict(self) -> dict[str, Any]:
        return {"report": "capacity", "containers": [c.to_dict() for c in self.containers]}

    def to_markdown(self) -> str:
        if not self.containers:
            return ("# Capacity recommendation\n\n_No resource-utilization evidence: call "
                    "infra_get_resource_utilization for the service first._\n")
        out = ["# Capacity recommendation", ""]
        for c in self.containers:
            cite = f"[{c.evidence}]"
            out += [f"## {c.workload}, container {c.container}", "",
                    f"Usage window: {c.window} {cite}", ""]
            out += ["| resource | request | limit | P50 | P95 | P99 | max | recommended request "
                    "| recommended limit |", "|---|---|---|---|---|---|---|---|---|"]
            for r in c.resources:
                out.append(f"| {r.resource} | {r.request or '-'} | {r.limit or '-'} | "
                           f"{r.usage.get('p50', '?')} | {r.usage.get('p95', '?')} | "
                           f"{r.usage.get('p99', '?')} | {r.usage.get('max', '?')} | "
                           f"{r.recommended_request or '-'} ({r.request_action}) | "
                           f"{r.recommended_limit or '-'} ({r.limit_action}) |")
            head = f"{round(c.headroom * 100)}%" if isinstance(c.headroom, float) else "?"
            out += ["", f"**Recommendation:** {c.summary} {cite}", "",
                    f"**Headroom rule:** request = P95 usage + {head} headroom (memory: at "
                    "least the observed max); a limit is kept unless it was reached, "
                    "throttled or OOM-killed.", ""]
            for r in c.resources:
                out += [f"- {r.resource}: {x} {cite}" for x in r.reasons]
            out += ["", "**Risk checks:**", ""]
            for chk in c.checks:
                mark = "ok" if chk.get("ok") else "FAILED"
                out.append(f"- {chk.get('check')}? {mark}: {chk.get('detail', '')} {cite}")
            if not c.safe:
                out += ["", "> Not every check passed: treat the recommendation as provisional."]
            out += [f"> warning: {w}" for w in c.warnings]
            out.append("")
        return "\n".join(out).rstrip() + "\n"


def build_capacity_report(store: EvidenceStore | list[Evidence]) -> CapacityReport:
    """One entry per container of every successful ``get_resource_utilization`` call."""
    items = [e for e in store if (e.server, e.tool) == TOOL and not e.is_error]
    seen: dict[tuple[str, str, str], ContainerAdvice] = {}
    for ev in items:
        for c in ev.payload.get("containers") or []:
            if not isinstance(c, dict):
                continue
            advice = _advice(ev, c)
            # The same workload, container and window asked twice: one section.
            seen.setdefault((advice.workload, advice.container, advice.window), advice)
    return CapacityReport(list(seen.values()))
