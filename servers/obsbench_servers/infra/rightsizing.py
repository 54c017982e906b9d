"""Right-sizing: requests and limits against measured usage, with headroom and safety checks.

The rule (one place, so reports and the TUI agree):

- **CPU request** = P95 of 5-minute usage x (1 + headroom), headroom 25%, rounded up
  to 10m. Lowered only when the safety checks pass: enough history, the limit was
  never reached, no CFS throttling. Throttled usage is capped by the limit, so the
  measured percentiles understate demand: then the request is never lowered.
- **CPU limit** is kept when it was never reached and nothing was throttled;
  raised (at least doubled) when throttling is material (>= 5% of periods) or usage
  touched 90% of it; never below the recommended request.
- **Memory request** = max(P95 x (1 + headroom), the highest value seen), rounded up
  to 1 MiB (a request below the working set invites eviction under node pressure).
- **Memory limit** is kept unless the container was OOM-killed or came within 10% of
  it; then raised to 1.5x the highest value, with a warning when memory grew
  steadily until the kill (a leak: more memory only delays the next kill).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from obsbench_servers.infra.k8s import format_cpu, format_memory, parse_cpu, parse_memory
from obsbench_servers.infra.usage import ContainerUsage

HEADROOM = 0.25
THROTTLE_OK = 0.01
THROTTLE_MATERIAL = 0.05
NEAR_LIMIT = 0.9
MIN_HISTORY_S = 7 * 86400
SHORT_HISTORY_S = 86400
MIB = 1024**2


@dataclass
class Check:
    name: str
    ok: bool | None  # None: could not be checked
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.name, "ok": self.ok, "detail": self.detail}


@dataclass
class Advice:
    resource: str
    request: float | None
    limit: float | None
    recommended_request: float | None
    recommended_limit: float | None
    request_action: str  # decrease | increase | keep | unknown
    limit_action: str  # keep | raise | none | unknown
    reasons: list[str] = field(default_factory=list)

    def fmt(self, value: float | None) -> str:
        return format_cpu(value) if self.resource == "cpu" else format_memory(value)

    def line(self) -> str:
        req = (f"request {self.fmt(self.request)} -> {self.fmt(self.recommended_request)} "
               f"({self.request_action})" if self.request_action in ("decrease", "increase")
               else f"request {self.fmt(self.request)} {self.request_action}")
        if self.limit_action == "raise":
            lim = f"limit {self.fmt(self.limit)} -> {self.fmt(self.recommended_limit)} (raise)"
        elif self.limit_action == "keep":
            lim = f"limit {self.fmt(self.limit)} kept"
        else:
            lim = f"limit {self.limit_action}"
        return f"{self.resource}: {req}; {lim}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "resource": self.resource, "request": self.fmt(self.request),
            "limit": self.fmt(self.limit),
            "recommended_request": self.fmt(self.recommended_request),
            "recommended_limit": self.fmt(self.recommended_limit),
            "request_value": self.request, "limit_value": self.limit,
            "recommended_request_value": self.recommended_request,
            "recommended_limit_value": self.recommended_limit,
            "request_action": self.request_action, "limit_action": self.limit_action,
            "reasons": self.reasons,
        }


def _ceil(value: float, step: float) -> float:
    return math.ceil(round(value / step, 6)) * step


def history_check(usage: ContainerUsage) -> Check:
    covered = usage.covered_s
    days = covered / 86400
    if covered >= MIN_HISTORY_S:
        return Check("enough history", True, f"{days:.1f} days of usage")
    if covered >= SHORT_HISTORY_S:
        return Check("enough history", False,
                     f"only {days:.1f} days of usage: weekly peaks may be missing")
    return Check("enough history", False,
                 f"only {covered / 3600:.1f} hours of usage: daily and weekly peaks may be "
                 "missing; treat the recommendation as provisional")


def recommend(container: dict[str, Any], usage: ContainerUsage,
              headroom: float = HEADROOM) -> dict[str, Any]:
    """Advice for one container (its spec from the workload template) and its usage."""
    resources = container.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    history = history_check(usage)
    checks = [history]
    enough = history.ok is True or usage.covered_s >= SHORT_HISTORY_S
    cpu = _cpu(parse_cpu(requests.get("cpu")), parse_cpu(limits.get("cpu")), usage,
               headroom=headroom, checks=checks, enough_history=enough)
    mem = _memory(parse_memory(requests.get("memory")), parse_memory(limits.get("memory")),
                  usage, headroom=headroom, checks=checks, enough_history=enough)
    return {"container": usage.container, "headroom": headroom, "cpu": cpu.to_dict(),
            "memory": mem.to_dict(), "checks": [c.to_dict() for c in checks],
            "summary": f"{usage.container}: {cpu.line()}; {mem.line()}"}


def _cpu(request: float | None, limit: float | None, usage: ContainerUsage, *, headroom: float,
         checks: list[Check], enough_history: bool) -> Advice:
    p = usage.cpu
    if p is None:
        checks.append(Check("cpu usage known", False, "no CPU usage series for this container"))
        return Advice("cpu", request, limit, None, None, "unknown",
                      "keep" if limit else "none", ["no usage data"])
    reasons: list[str] = []
    reached = limit is not None and p.max >= NEAR_LIMIT * limit
    checks.append(Check("cpu limit never reached", None if limit is None else not reached,
                        "no CPU limit" if limit is None else
                        f"max {format_cpu(p.max)} of limit {format_cpu(limit)}"))
    throttled = usage.throttled_ratio
    checks.append(Check("not throttled", None if throttled is None else throttled < THROTTLE_OK,
                        "no CFS counters" if throttled is None
                        else f"{throttled:.1%} of CFS periods throttled"))
    capped = reached or (throttled is not None and throttled >= THROTTLE_MATERIAL)
    rec = _ceil(p.p95 * (1 + headroom), 0.01)
    reasons.append(f"P95 {format_cpu(p.p95)} + {headroom:.0%} headroom = {format_cpu(rec)}")
    if request is None:
        action = "increase"
        reasons.append("no CPU request set: the scheduler cannot reserve what it needs")
    elif capped:
        action = "increase" if rec > request else "keep"
        reasons.append("usage is capped by the CPU limit (throttled), so real demand is "
                       "higher than measured: do not lower the request")
    elif rec < 0.9 * request:
        action = "decrease" if enough_history else "keep"
        if not enough_history:
            reasons.append("too little history to lower the request safely")
    elif rec > 1.1 * request:
        action = "increase"
    else:
        action = "keep"
        rec = request
    if action == "keep" and request is not None:
        rec = request
    if limit is None:
        return Advice("cpu", request, None, rec, None, action, "none", reasons)
    if capped:
        new_limit = max(2 * limit, _ceil(p.p99 * 1.5, 0.01), rec)
        reasons.append(f"raise the limit: {throttled or 0:.0%} of periods throttled, max "
                       f"{format_cpu(p.max)} against a {format_cpu(limit)} limit")
        return Advice("cpu", request, limit, rec, new_limit, action, "raise", reasons)
    if rec > limit:
        reasons.append("the recommended request exceeds the limit: raise the limit with it")
        return Advice("cpu", request, limit, rec, rec, action, "raise", reasons)
    reasons.append(f"limit kept: never reached (max {format_cpu(p.max)}) and not throttled")
    return Advice("cpu", request, limit, rec, limit, action, "keep", reasons)


def _memory(request: float | None, limit: float | None, usage: ContainerUsage, *,
            headroom: float, checks: list[Check], enough_history: bool) -> Advice:
    p = usage.memory
    oom = usage.oom_killed_pods
    checks.append(Check("no OOM kills", not oom,
                        f"OOMKilled: {', '.join(oom)}" if oom else "no OOMKilled termination"))
    if p is None:
        return Advice("memory", request, limit, None, None, "unknown",
                      "keep" if limit else "none", ["no usage data"])
    reasons: list[str] = []
    near = limit is not None and p.max >= NEAR_LIMIT * limit
    checks.append(Check("memory limit not approached", None if limit is None else not near,
                        "no memory limit" if limit is None else
                        f"max {format_memory(p.max)} of limit {format_memory(limit)}"))
    rec = _ceil(max(p.p95 * (1 + headroom), p.max), MIB)
    reasons.append(f"P95 {format_memory(p.p95)} + {headroom:.0%} headroom, at least the max "
                   f"{format_memory(p.max)} = {format_memory(rec)}")
    if request is None:
        action = "increase"
    elif oom or near:
        action = "increase" if rec > request else "keep"
    elif rec < 0.9 * request:
        action = "decrease" if enough_history else "keep"
        if not enough_history:
            reasons.append("too little history to lower the request safely")
    elif rec > 1.1 * request:
        action = "increase"
    else:
        action, rec = "keep", request
    if action == "keep" and request is not None:
        rec = request
    growth = usage.memory_growth_per_hour
    if growth is not None and (oom or near):
        reasons.append(f"memory grows steadily (~{format_memory(growth)}/h) until the kill: "
                       "likely a leak; a higher limit only delays the next OOM kill")
    if limit is None:
        return Advice("memory", request, None, rec, None, action, "none", reasons)
    if oom or near:
        new_limit = _ceil(max(1.5 * p.max, rec), MIB)
        reasons.append("raise the limit: the container was OOM-killed or came within 10% of it"
                       if oom else "raise the limit: usage came within 10% of it")
        return Advice("memory", request, limit, rec, new_limit, action, "raise", reasons)
    if rec > limit:
        return Advice("memory", request, limit, rec, rec, action, "raise",
                      [*reasons, "the recommended request exceeds the limit"])
    reasons.append("limit kept: never approached and no OOM kill")
    return Advice("memory", request, limit, rec, limit, action, "keep", reasons)
