"""Ranking root-cause hypotheses from facts, the way an on-call engineer weighs them.

Each rule is one piece of SRE judgement: a change that lands at the onset is the
first suspect; a saturation signal (OOM, throttling, evictions, locks, a full
disk, TLS errors, retransmits) names both a service and a kind of cause; a
service whose requests' added time sits in one downstream call points there;
a symptom (latency, errors) only says where the pain is. Every point a
hypothesis earns keeps the evidence id and the reason, so the answer can cite
them. Candidates that lose are kept with the reasons they lost: the red
herrings an engineer would otherwise chase.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from obsbench.agent.facts import Anomaly, Breakdown, Change, Facts, Pattern
from obsbench_servers.common.timeutil import ns_to_rfc3339

MIN = 60 * 1_000_000_000
# A change is "at the onset" when it lands this close before (or just after) it.
CHANGE_BEFORE = 8 * MIN
CHANGE_AFTER = 3 * MIN
# Alerts firing longer than this before the window are standing noise.
STANDING = 24 * 60 * MIN

# Saturation signals: (kind, weight, minimum peak for ratios).
CAUSE_SIGNALS: dict[str, tuple[str, float, float]] = {
    "oom_killed": ("memory", 4.0, 0.0),
    "memory_vs_limit": ("memory", 3.0, 0.85),
    "jvm_heap_used": ("memory", 1.5, 0.0),
    "redis_evictions": ("memory", 4.0, 0.0),
    "redis_memory_ratio": ("memory", 2.5, 0.9),
    "cpu_throttled_ratio": ("cpu", 3.5, 0.25),
    "tls_connection_errors": ("certificate", 4.0, 0.0),
    "cert_days_left": ("certificate", 3.0, 0.0),
    "volume_used_ratio": ("disk", 4.0, 0.9),
    "pg_wal_size": ("disk", 1.5, 0.0),
    "pg_longest_transaction": ("database", 2.5, 0.0),
    "pg_locks": ("database", 1.5, 0.0),
    "eventloop_lag_p99": ("traffic", 1.0, 0.0),
}
SYMPTOMS = {"latency_p95", "error_ratio", "client_latency_p95", "client_error_ratio",
            "db_pool_timeouts", "db_pool_pending", "hikari_timeouts", "hikari_pending"}
ERROR_WORDS: list[tuple[str, str]] = [
    ("no space left on device", "disk"), ("disk full", "disk"),
    ("certificate", "certificate"), ("ssl", "certificate"), ("x509", "certificate"),
    ("tls handshake", "certificate"),
    ("outofmemory", "memory"), ("oomkilled", "memory"), ("out of memory", "memory"),
    ("lock", "database"), ("statement timeout", "database"),
]


@dataclass
class Point:
    """One reason a hypothesis earned weight (kind may be empty: supports the service only)."""

    weight: float
    reason: str
    evidence: list[str]
    kind: str = ""


@dataclass
class Hypothesis:
    service: str
    points: list[Point] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(p.weight for p in self.points)

    @property
    def kind(self) -> str:
        """The kind the weightiest reasons point at; a generic one if none does."""
        by_kind: dict[str, float] = defaultdict(float)
        for p in self.points:
            if p.kind:
                by_kind[p.kind] += p.weight
        return max(sorted(by_kind), key=lambda k: by_kind[k]) if by_kind else "unknown"

    @property
    def evidence(self) -> list[str]:
        ids: list[str] = []
        for p in sorted(self.points, key=lambda p: -p.weight):
            for e in p.evidence:
                if e not in ids:
                    ids.append(e)
        return ids

    def add(self, weight: float, reason: str, evidence: list[str] | str | None,
            kind: str = "") -> None:
        ids = [evidence] if isinstance(evidence, str) else [e for e in evidence or [] if e]
        self.points.append(Point(weight, reason, ids, kind))


@dataclass
class Verdict:
    """Ranked hypotheses, the onset, and what was ruled out (with why)."""

    onset_ns: int | None
    onset_evidence: list[str]
    ranked: list[Hypothesis]
    ruled_out: list[tuple[str, str, list[str]]]  # (service, why, evidence)
    mode: str  # "incident" or "capacity"


def t(ns: int | None) -> str:
    return ns_to_rfc3339(ns) if ns is not None else "?"


def minutes(ns: float) -> str:
    m = abs(ns) / MIN
    return f"{m:.0f} min" if m >= 1 else f"{abs(ns) / 1e9:.0f} s"


def onset(facts: Facts) -> tuple[int | None, list[Anomaly]]:
    """When the incident started: the earliest strong step among the anomalies.

    Slow ramps (daily traffic, a leak, a filling disk) are causes or context,
    not the moment things broke, so they do not set the onset.
    """
    steps = [a for a in facts.anomalies if a.strong and a.step and a.onset_ns is not None
             and _sets_onset(a)]
    if not steps:
        return None, []
    first = min(a.onset_ns for a in steps if a.onset_ns is not None)
    near = [a for a in steps if a.onset_ns is not None and a.onset_ns - first <= 3 * MIN]
    return first, near


# Use of resources follows load and restarts; it shows where work moved, not when it broke.
NOT_ONSET = {"cpu_usage", "cpu_usage_vs_request", "tls_handshakes", "go_goroutines",
             "memory_working_set", "jvm_heap_used", "hpa_current_vs_max", "pg_commits",
             "redis_commands", "client_traffic", "job_failed"}


def _sets_onset(a: Anomaly) -> bool:
    if a.signal in NOT_ONSET:
        return False
    if a.signal == "traffic":
        return a.ratio >= 2.5 or a.ratio <= 0.4
    return True


def _near_onset(a: Anomaly, t0: int, before: int = 15 * MIN, after: int = 10 * MIN) -> bool:
    return a.onset_ns is not None and t0 - before <= a.onset_ns <= t0 + after


def rank(facts: Facts, *, focus: str | None = None) -> Verdict:
    """Score every service the facts mention; the best first."""
    t0, first = onset(facts)
    hyps: dict[str, Hypothesis] = {}

    def h(service: str) -> Hypothesis:
        if service not in hyps:
            hyps[service] = Hypothesis(service)
        return hyps[service]

    if t0 is None:
        return _capacity(facts, h, hyps)

    {c.workload for c in facts.changes} | set(facts.statuses)
    # 1. Changes at the onset.
    ruled: list[tuple[str, str, list[str]]] = []
    for c in facts.changes:
        dt = t0 - c.time_ns
        if -CHANGE_AFTER <= dt <= CHANGE_BEFORE:
            kind = _change_kind(c)
            h(c.workload).add(
                5.0 - 2.0 * max(dt, 0) / CHANGE_BEFORE,
                f"{c.workload} changed at {t(c.time_ns)} ({c.summary or c.cause}), "
                f"{minutes(dt)} {'before' if dt >= 0 else 'after'} the onset {t(t0)}",
                c.evidence_id, kind)
    # 2. Saturation signals at (or leading into) the onset; one point per signal and
    # service (several lock modes or pods of one signal are one fact).
    seen_signal: set[tuple[str, str]] = set()
    for a in sorted(facts.anomalies, key=lambda a: -a.score):
        spec = CAUSE_SIGNALS.get(a.signal)
        if spec is None or (a.z <= 0 and a.signal != "cert_days_left"):
            continue
        kind, weight, min_peak = spec
        if max(abs(a.peak), abs(a.current)) < min_peak or a.score < 4:
            continue
        if a.service.startswith("node/") or (a.service, a.signal) in seen_signal:
            continue
        if _near_onset(a, t0) or (not a.step and a.onset_ns is not None
                                   and a.onset_ns <= t0 + 10 * MIN):
            seen_signal.add((a.service, a.signal))
            h(a.service).add(weight * (1.0 if a.step or _near_onset(a, t0) else 0.6),
                             f"{a.label} rose from {a.baseline:.3g} to {a.peak:.3g} "
                             f"(onset {t(a.onset_ns)})", a.evidence_id, kind)
    # 2b. A job that starts at the onset while the database shows locks holds them.
    lock_jobs: list[tuple[str, str]] = []
    # A transaction's age climbs linearly, so its detected onset trails the lock it holds.
    lock = [a for a in facts.anomalies if a.z > 0 and (
        (a.signal == "pg_locks" and _near_onset(a, t0))
        or (a.signal == "pg_longest_transaction" and a.peak >= 600
            and _near_onset(a, t0, 15 * MIN, 40 * MIN)))]
    for a in facts.anomalies:
        if a.signal == "job_active" and a.z > 0 and _near_onset(a, t0, 10 * MIN, 10 * MIN):
            if lock:
                h(a.service).add(5.0, f"job {a.service} started at {t(a.onset_ns)} as the "
                                 f"database's locks jumped ({lock[0].label})",
                                 [a.evidence_id, lock[0].evidence_id], "database")
                lock_jobs.append((a.service, lock[0].service))
            else:
                h(a.service).add(1.5, f"job {a.service} started at {t(a.onset_ns)}",
                                 a.evidence_id, "database")
    # 2c. A sustained, step-like surge of requests on several services at once.
    surges = [a for a in facts.anomalies if a.signal == "traffic" and a.z > 0 and a.step
              and a.ratio >= 2.5 and _near_onset(a, t0)]
    if len(surges) >= 2:
        maxed = [a for a in facts.anomalies if a.signal == "hpa_current_vs_max"
                 and a.current >= 0.99 and a.z > 0]
        hpa_alerts = [al for al in facts.alerts if "hpa" in al.name.lower()
                      and "max" in al.name.lower()]
        for al in hpa_alerts:
            h(al.service).add(4.0, f"{al.name} fires for {al.service}: the surge outgrew its "
                              "autoscaler", al.evidence_id, "traffic")
        for a in maxed:
            h(a.service).add(3.0, f"{a.service} runs at its HPA maximum", a.evidence_id,
                             "traffic")
        for a in surges:
            h(a.service).add(0.5, f"{a.label} x{a.ratio:.1f} from {t(a.onset_ns)}",
                             a.evidence_id, "traffic")
    # 2d. Node network trouble: blame the callee whose calls grew on the client side only.
    retrans = [a for a in facts.anomalies if a.signal == "node_tcp_retransmits" and a.z > 0
               and _near_onset(a, t0)]
    for b in facts.breakdowns:
        callee = b.client_side_growth or (b.top_service if b.top_service in
                                          facts.not_workloads else None)
        if callee and b.top_service == callee and b.share >= 0.5:
            external = callee in facts.not_workloads
            if retrans and not external:
                h(callee).add(4.5, f"calls from {b.service} into {callee} slowed on the client "
                              f"side while {callee}'s own spans did not; "
                              f"{retrans[0].label} jumped at {t(retrans[0].onset_ns)}",
                              [b.evidence_id, retrans[0].evidence_id], "network")
            elif external:
                h(callee).add(4.5, f"{b.service}'s added time sits in calls to {callee}, an "
                              "external dependency", b.evidence_id, "dependency")
    # 3. Traces: where the added time went (the clearest breakdown counts, others confirm).
    best: dict[str, list[Breakdown]] = defaultdict(list)
    for b in facts.breakdowns:
        if b.top_service and b.share >= 0.5 and b.delta_ns > 20e6:
            best[b.top_service].append(b)
    for svc, bs in best.items():
        bs.sort(key=lambda b: -b.share)
        who = ", ".join(f"{b.service}'s" for b in bs)
        h(svc).add(2.5 * bs[0].share + 0.25 * (len(bs) - 1),
                   f"{bs[0].share:.0%} of the added latency per request of {who} requests is "
                   f"spent in {svc}", [b.evidence_id for b in bs], "")
    # 4. New error patterns where they originate (one point per service, the top pattern).
    by_svc: dict[str, list[Pattern]] = defaultdict(list)
    for p in facts.patterns:
        if p.status not in {"new", "surging"} or p.propagated or not p.service:
            continue
        if p.first_ns is not None and not (t0 - 15 * MIN <= p.first_ns <= t0 + 15 * MIN):
            continue
        by_svc[p.service].append(p)
    for svc, pats in by_svc.items():
        pats.sort(key=lambda p: -p.count)
        text = " ".join(p.template.lower() for p in pats)
        kinds = [k for w, k in ERROR_WORDS if w in text]  # in ERROR_WORDS' priority order
        top = pats[0]
        more = f" and {len(pats) - 1} more" if len(pats) > 1 else ""
        h(svc).add(1.0 + min(0.5 * (len(pats) - 1), 0.5) + (1.0 if kinds else 0.0),
                   f"new error pattern in {svc} from {t(top.first_ns)}: "
                   f"\"{top.template[:120]}\" ({top.count}x){more}", top.evidence_id,
                   kinds[0] if kinds else "")
    # 5. Symptoms: where the pain shows first (once per service).
    firsts: dict[str, list[Anomaly]] = defaultdict(list)
    for a in first:
        firsts[a.service].append(a)
    for svc, items in firsts.items():
        h(svc).add(0.75, f"{svc} is among the first to deviate ({t(items[0].onset_ns)}: "
                   f"{', '.join(x.title for x in items[:3])})", items[0].evidence_id)
    for a in facts.anomalies:
        if a.signal in SYMPTOMS and a.strong and _near_onset(a, t0):
            h(a.service).add(0.25, f"{a.label} {a.baseline:.3g} -> {a.peak:.3g}",
                             a.evidence_id)
    # 6. Alerts about the service (not standing noise).
    for al in facts.alerts:
        if al.service and al.starts_ns and abs(al.starts_ns - t0) <= 60 * MIN:
            h(al.service).add(0.5, f"{al.name} fires for {al.service} since {t(al.starts_ns)}",
                              al.evidence_id)
    # A database that callers wait on, while a job holds its locks, is the medium: the
    # time spent there is the lock holder's doing.
    for job, db in lock_jobs:
        if db in hyps:
            moved = [pt for pt in hyps[db].points if "added latency" in pt.reason]
            hyps[db].points = [pt for pt in hyps[db].points if pt not in moved]
            for pt in moved:
                h(job).add(pt.weight, f"{pt.reason}, waiting behind the locks {job} holds",
                           pt.evidence, "database")
    # Deeper services on the failing path explain more.
    for hyp in hyps.values():
        if hyp.score > 1 and facts.edges:
            hyp.add(0.15 * min(facts.depth(hyp.service), 4), "depth on the call path", [])
    if focus and focus in hyps:
        hyps[focus].add(0.3, f"{focus} is the service in question", [])

    ranked = sorted((x for x in hyps.values() if x.service and not x.service.startswith(
        "node/")), key=lambda x: (-x.score, x.service))
    ruled += _ruled_out(facts, t0, ranked)
    return Verdict(t0, [a.evidence_id for a in first], ranked, ruled, "incident")


def _change_kind(c: Change) -> str:
    kind = c.kind
    if kind == "resources":
        text = " ".join(str(r) for r in c.resources).lower()
        return "memory" if "memory" in text and "cpu" not in text else "cpu"
    return kind


def _capacity(facts: Facts, h: object, hyps: dict[str, Hypothesis]) -> Verdict:
    """No incident: the question is whether the resources fit (right-sizing)."""
    add = h  # the same accessor as in rank()
    for fit in facts.resource_fit:
        ratio = fit.get("usage_vs_request")
        svc = str(fit.get("service") or "")
        if not svc or ratio is None:
            continue
        request = float(fit.get("cpu_request_cores") or 0)
        used = float(fit.get("cpu_usage_p95_cores") or 0)
        if float(ratio) < 0.5 or float(ratio) > 1.0:
            # Cores idle (or missing) at p95: what right-sizing would win, in cores.
            hyp = add(svc)  # type: ignore[operator]
            hyp.add(1.0 + math.log1p(abs(request - used)),
                    f"{svc} uses {used:.2f} of {request:.2f} requested cores at p95 "
                    f"({float(ratio):.0%})", facts.anomaly_evidence, "cpu")
    for svc, ev in facts.utilization.items():
        for c in ev.payload.get("containers") or []:
            rec = ((c.get("recommendation") or {}).get("cpu") or {})
            if rec.get("request_action") in {"decrease", "increase"}:
                add(svc).add(2.0, f"{svc}: {rec.get('request')} -> "  # type: ignore[operator]
                             f"{rec.get('recommended_request')} recommended", ev.id, "cpu")
    ranked = sorted(hyps.values(), key=lambda x: (-x.score, x.service))
    return Verdict(None, [], ranked, [], "capacity")


def _ruled_out(facts: Facts, t0: int, ranked: list[Hypothesis]
               ) -> list[tuple[str, str, list[str]]]:
    """Changes away from the onset, and standing alerts, with the evidence against them."""
    out: list[tuple[str, str, list[str]]] = []
    top = ranked[0].service if ranked else ""
    for c in facts.changes:
        dt = t0 - c.time_ns
        if c.workload == top or -CHANGE_AFTER <= dt <= CHANGE_BEFORE:
            continue
        when = f"{minutes(dt)} {'before' if dt > 0 else 'after'} the onset {t(t0)}"
        own = [a for a in facts.anomalies if a.service == c.workload and a.strong]
        first = min((a.onset_ns for a in own if a.onset_ns), default=None)
        ev = [c.evidence_id] + ([facts.anomaly_evidence] if facts.anomaly_evidence else [])
        if first is None:
            why = (f"{c.workload} changed at {t(c.time_ns)} ({c.summary or c.cause}), {when}; "
                   "its metrics show no strong anomaly")
        elif first > c.time_ns + CHANGE_BEFORE:
            why = (f"{c.workload} changed at {t(c.time_ns)} ({c.summary or c.cause}), {when}; "
                   f"its metrics stayed normal until {t(first)}, after the incident began "
                   "elsewhere")
        else:
            why = (f"{c.workload} changed at {t(c.time_ns)} ({c.summary or c.cause}), {when}; "
                   "too far from the onset to explain it")
        out.append((c.workload, why, [e for e in ev if e]))
    seen: set[tuple[str, str]] = set()
    for al in facts.alerts:
        key = (al.name, al.service)
        if key in seen or al.starts_ns is None:
            continue
        if t0 - al.starts_ns > STANDING:
            seen.add(key)
            days = (t0 - al.starts_ns) / (STANDING)
            out.append((al.service or al.name,
                        f"{al.name} ({al.service or 'no service'}) has been firing since "
                        f"{t(al.starts_ns)}, {days:.1f} days before the incident: standing "
                        "noise, not its cause", [al.evidence_id]))
        elif al.starts_ns - t0 > 30 * MIN and al.service not in {h.service for h in ranked[:3]}:
            seen.add(key)
            out.append((al.service or al.name,
                        f"{al.name} ({al.service or 'no service'}) started at "
                        f"{t(al.starts_ns)}, {minutes(al.starts_ns - t0)} after the onset, "
                        "and its service is not on the failing path", [al.evidence_id]))
    already = {svc for svc, _, _ in out}
    for hyp in ranked[1:4]:
        if hyp.service in already:
            continue
        if hyp.score >= 2.5 and ranked and ranked[0].score - hyp.score >= 1.5:
            out.append((hyp.service,
                        f"{hyp.service} shows {hyp.points[0].reason}, but "
                        f"{ranked[0].service}'s evidence starts earlier or explains more "
                        f"(score {hyp.score:.1f} vs {ranked[0].score:.1f})",
                        hyp.evidence[:3]))
    return out
