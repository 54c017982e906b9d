"""The post-mortem: summary, duration, impact, timeline, root cause, resolution, lessons.

Built from an investigation's result and its evidence, and nothing else: the timeline
is read from the timestamps the tools returned (``timeline.py``), the key moments are
chosen from it by rule, and every line cites the evidence it comes from.

- **trigger**: the earliest line about the top root-cause service (its CronJob starting,
  its rollout, its anomaly);
- **impact start**: the earliest symptom (alert firing, new error pattern, anomaly onset,
  metric change point) at or after the trigger;
- **detection**: the first alert that fired (not suppressed) inside the window, else the
  first incident log entry;
- **resolution**: when every *impact alert* (the critical ones that fired in the window, or
  all that did when none was critical) has resolved, with the incident's own resolution
  and the recovery signals just before it (a job ending, a lock released). If any is
  still firing at the window's end the incident is "not resolved in the window".

The prevention checklist is the standard one for the root cause's kind plus the
investigation's own actions; the lessons are drawn from the timeline (time to detect,
alerts on symptoms rather than the cause, a change ruled out, standing noise).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from obsbench.agent.model import InvestigationResult
from obsbench.evidence import Evidence, EvidenceStore
from obsbench.reports.common import Cited, cite, cited, duration, evidence_index_markdown
from obsbench.reports.investigation import InvestigationReport, build_investigation_report
from obsbench.reports.timeline import SYMPTOMS, Timeline, TimelineEntry, build_timeline
from obsbench_servers.common.timeutil import TimeParseError, parse_rfc3339_ns

NOT_RESOLVED = "not resolved in the window"
RECOVERY_LOOKBACK_NS = 15 * 60 * 10**9
TRIGGER_PRIORITY = {"job-start": 0, "change": 1, "anomaly": 2, "metric-change": 3}
CAUSE_CATEGORIES = frozenset({"change", "job-start", "job-failed", "event", "anomaly",
                              "metric-change", "error-pattern", "alert-firing"})

# The standard prevention items per root-cause kind (bundle vocabulary).
PREVENTION: dict[str, list[str]] = {
    "deploy": ["Progressive rollout (canary) gated on the error-rate and latency SLOs, with "
               "automatic rollback", "Load-test changes to query patterns and pool usage "
               "before release", "Alert on the leading signal (pool saturation, queueing) as "
               "well as on errors"],
    "config": ["Review and stage config and feature-flag changes like code (canary, "
               "percentage rollout)", "Tie config changes to automatic rollback on SLO "
               "burn", "Record who changed what (change-cause on every rollout)"],
    "cpu": ["Right-size requests and limits from observed P95/P99 with headroom",
            "Alert on CFS throttling of latency-sensitive services", "Review platform "
            "defaults (LimitRanges) before they apply to running workloads"],
    "memory": ["Bound in-process caches (size or TTL) and alert on memory growth rate",
               "Alert on OOMKilled and restart loops per workload", "Set memory limits "
               "from observed peaks with headroom"],
    "network": ["Alert on TCP retransmits and interface drops per node", "Spread replicas "
                "across nodes (topology spread, anti-affinity)", "Measure latency on the "
                "client side as well as the server side"],
    "dependency": ["Timeouts, retries with budgets and circuit breakers on external calls",
                   "Alert on the dependency's latency as the client sees it", "A fallback "
                   "or degraded mode when the provider is slow"],
    "database": ["Batch jobs work in bounded batches (LIMIT / chunked commits) and never "
                 "hold table locks on hot OLTP tables", "Set lock_timeout and "
                 "statement_timeout for batch roles; run heavy jobs off-peak or on a replica",
                 "Alert on lock waits and long-running transactions before user-facing "
                 "errors", "A runbook step to find and terminate the blocking session"],
    "code": ["Tests for the failing path (the input that broke)", "Canary releases with "
             "error-budget gates", "Alert on new exception types after a release"],
    "traffic": ["Capacity for the expected peak (HPA max, node headroom)", "Load-shedding "
                "and rate limits at the edge", "Coordinate marketing pushes with on-call"],
    "disk": ["Alert on volume fill rate (time to full), not only on a threshold",
             "Clean up or alert on inactive replication slots retaining WAL",
             "Expand volumes before they are needed (auto-expansion where possible)"],
    "certificate": ["Alert on certificate renewal failures, not only on expiry",
                    "Never leave certificate-expiry alerts silenced", "Test renewals "
                    "(DNS-01 / HTTP-01) in staging regularly"],
}
GENERIC_PREVENTION = ["Alert on the cause's leading signal, not only on symptoms",
                      "A runbook for this failure mode, linked from the alert"]


@dataclass
class KeyMoment:
    """A time the post-mortem names (trigger, impact start, detection, resolution)."""

    name: str
    time: str | None
    text: str
    evidence: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class PostMortem:
    """The post-mortem document; ``to_markdown`` and ``to_dict`` render the same content."""

    title: str
    question: str
    window: dict[str, str]
    agent: str
    summary: Cited
    status: str
    moments: dict[str, KeyMoment]
    duration: str
    time_to_detect: str
    impact: list[Cited]
    timeline: Timeline
    root_causes: list[dict[str, Any]]
    contributing: list[Cited]
    ruled_out: list[Cited]
    resolution: list[Cited]
    prevention: list[Cited]
    lessons: list[Cited]
    not_checked: list[str]
    unresolved_citations: list[str]
    evidence: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "report": "postmortem",
            "title": self.title,
            "question": self.question,
            "window": self.window,
            "agent": self.agent,
            "summary": self.summary.to_dict(),
            "status": self.status,
            "moments": {k: m.to_dict() for k, m in self.moments.items()},
            "duration": self.duration,
            "time_to_detect": self.time_to_detect,
            "impact": [c.to_dict() for c in self.impact],
            "timeline": self.timeline.to_dict(),
            "root_causes": self.root_causes,
            "contributing": [c.to_dict() for c in self.contributing],
            "ruled_out": [c.to_dict() for c in self.ruled_out],
            "resolution": [c.to_dict() for c in self.resolution],
            "prevention": [c.to_dict() for c in self.prevention],
            "lessons": [c.to_dict() for c in self.lessons],
            "not_checked": self.not_checked,
            "unresolved_citations": self.unresolved_citations,
            "evidence": self.evidence,
        }

    def to_markdown(self) -> str:
        m = self.moments
        out = [f"# Post-mortem: {self.title}", "",
               f"Window investigated: {self.window.get('start', '?')} .. "
               f"{self.window.get('end', '?')} · investigator: {self.agent} · status: "
               f"**{self.status}**", ""]
        if self.unresolved_citations:
            out += [f"> **Unresolved citations:** {', '.join(self.unresolved_citations)} do not "
                    "resolve to evidence; claims citing them are not supported.", ""]
        out += ["## Summary", "", self.summary.markdown(), ""]
        out += ["## Duration", ""]
        for key in ("trigger", "impact_start", "detection", "resolution"):
            km = m.get(key)
            if km is not None:
                out.append(f"- **{km.name}**: {km.time or 'unknown'} — {km.text} "
                           f"{cite(km.evidence)}".rstrip())
        out += [f"- **Duration of impact**: {self.duration}",
                f"- **Time to detect**: {self.time_to_detect}", ""]
        out += ["## Impact", ""]
        out += [f"- {c.markdown()}" for c in self.impact] or ["_No impact evidence found._"]
        out += ["", "## Timeline (UTC)", ""]
        if self.timeline.entries:
            out += ["| time | what | evidence |", "|---|---|---|"]
            for e in self.timeline.entries:
                note = f" **({e.note})**" if e.note else ""
                out.append(f"| {e.time} | {_cell(e.text)}{note} | {cite(e.evidence)} |")
        else:
            out.append("_No timestamped evidence was collected._")
        if self.timeline.before_window:
            out += ["", "Already firing before the window opened (context, not part of the "
                        "incident):", ""]
            out += [f"- since {e.time}: {e.text} {cite(e.evidence)}"
                    for e in self.timeline.before_window]
        out += ["", "## Root cause", ""]
        if not self.root_causes:
            out.append("_The investigation named no root cause._")
        for rc in self.root_causes:
            out.append(f"{rc['rank']}. **{rc['service']}** ({rc['kind']}, confidence "
                       f"{rc['confidence']:.2f}): {rc['summary']} "
                       f"{cite(rc['evidence'], rc['unresolved'])}".rstrip())
        for title, items in (("Contributing factors", self.contributing),
                             ("Ruled out", self.ruled_out), ("Resolution", self.resolution)):
            out += ["", f"## {title}", ""]
            out += [f"- {c.markdown()}" for c in items] or ["_None._"]
        out += ["", "## Prevention checklist", ""]
        out += [f"- [ ] {c.markdown()}" for c in self.prevention]
        out += ["", "## Lessons learned", ""]
        out += [f"- {c.markdown()}" for c in self.lessons] or ["_None drawn from the data._"]
        if self.not_checked:
            out += ["", "## Not checked", ""] + [f"- {x}" for x in self.not_checked]
        out += ["", "## Evidence", "", *evidence_index_markdown(self.evidence)]
        return "\n".join(out).rstrip() + "\n"


def _cell(text: str) -> str:
    return text.replace("\n", " ").replace("|", "\\|")


def _window_ns(window: dict[str, str]) -> tuple[int, int] | None:
    try:
        return parse_rfc3339_ns(window["start"]), parse_rfc3339_ns(window["end"])
    except (KeyError, TypeError, TimeParseError):
        return None


def _matches(service: str | None, target: str) -> bool:
    if not service or not target:
        return False
    s, t = service.lower(), target.lower()
    return s == t or s.startswith(t + "-") or t.startswith(s + "-")


def _moment(name: str, entry: TimelineEntry | None, fallback: str = "not found in the evidence"
            ) -> KeyMoment:
    if entry is None:
        return KeyMoment(name, None, fallback)
    return KeyMoment(name, entry.time, entry.text, list(entry.evidence))


def _impact_alerts(entries: Sequence[TimelineEntry]) -> list[TimelineEntry]:
    firing = [e for e in entries if e.category == "alert-firing"
              and not e.detail.get("suppressed")]
    critical = [e for e in firing if (e.severity or "").lower() in ("critical", "page")]
    return critical or firing


def _resolution(entries: list[TimelineEntry], impact: list[TimelineEntry], focus: set[str],
                store: EvidenceStore) -> tuple[TimelineEntry | None, list[Cited]]:
    """The resolution moment and its lines, or (None, why not)."""
    if not impact:
        return None, [Cited("No alert fired in the window, so no resolution time can be read "
                            "from alert data.")]
    resolved = {e.detail.get("fingerprint"): e for e in entries if e.category == "alert-resolved"}
    open_ = [a for a in impact if a.detail.get("fingerprint") not in resolved]
    if open_:
        ids = sorted({i for a in open_ for i in a.evidence}, key=lambda s: int(s[1:]))
        names = ", ".join(sorted({a.text.split(" started firing")[0] for a in open_}))
        return None, [cited(f"{NOT_RESOLVED}: still firing at the window's end: {names}", ids,
                            store)]
    last = max((resolved[a.detail.get("fingerprint")] for a in impact), key=lambda e: e.time_ns)
    lines = [Cited(f"{last.time}: the last impact alert resolved ({last.text})",
                   list(last.evidence))]
    inc = [e for e in entries if e.category == "incident" and e.detail.get("type") == "resolve"]
    lines += [Cited(f"{e.time}: {e.text}", list(e.evidence)) for e in inc]
    # What changed just before the alerts cleared: a job ending, a metric stepping back, a
    # rollout of the cause (changes and events only when about the cause or a contributor).
    recovery = [e for e in entries
                if last.time_ns - RECOVERY_LOOKBACK_NS <= e.time_ns <= last.time_ns
                and (e.category in ("job-failed", "metric-change")
                     or (e.category in ("change", "event")
                         and any(_matches(e.service, s) for s in focus)))]
    lines = [Cited(f"{e.time}: recovery signal: {e.text}", list(e.evidence))
             for e in recovery] + lines
    return last, lines


def build_postmortem(result: InvestigationResult, store: EvidenceStore, *,
                     title: str | None = None,
                     report: InvestigationReport | None = None) -> PostMortem:
    """Assemble the post-mortem of ``result`` from the evidence in ``store``."""
    report = report or build_investigation_report(result, store)
    window = _window_ns(result.window)
    timeline = build_timeline(list(store), window)
    entries = timeline.entries
    top = report.root_causes[0] if report.root_causes else None
    focus = {top.service} if top else set()
    focus |= {f.service for f in result.contributing if f.service}

    # Annotate: the root cause's own lines, and changes that were ruled out.
    ruled = [f for f in result.ruled_out if f.service]
    for e in entries:
        if top and _matches(e.service, top.service) and e.category in CAUSE_CATEGORIES:
            e.note = e.note or "root-cause service"
        if e.category == "change":
            for f in ruled:
                if _matches(e.service, f.service or ""):
                    e.note = f"ruled out: {f.summary}"

    trigger = None
    if top:
        own = [e for e in entries if _matches(e.service, top.service)
               and e.category in CAUSE_CATEGORIES]
        # A change days before the window is history, not the trigger (unless it is all
        # there is about the cause).
        own = [e for e in own if window is None or e.time_ns >= window[0]] or own
        # At one instant, prefer what started something (a job, a rollout) to its echoes.
        trigger = min(own, key=lambda e: (e.time_ns, TRIGGER_PRIORITY.get(e.category, 9)),
                      default=None)
    symptoms = [e for e in entries if e.category in SYMPTOMS
                and not e.detail.get("suppressed")
                and (trigger is None or e.time_ns >= trigger.time_ns)]
    impact_start = symptoms[0] if symptoms else None
    firing = [e for e in entries if e.category == "alert-firing" and not e.detail.get("suppressed")
              and (impact_start is None or e.time_ns >= impact_start.time_ns)]
    detection = firing[0] if firing else next((e for e in entries if e.category == "incident"),
                                              None)
    impact_alerts = _impact_alerts([e for e in entries if impact_start is None
                                    or e.time_ns >= impact_start.time_ns])
    resolved_at, resolution = _resolution(entries, impact_alerts, focus, store)

    moments = {
        "trigger": _moment("Trigger", trigger, "no line about the root-cause service"),
        "impact_start": _moment("Impact started", impact_start),
        "detection": _moment("Detected", detection, "no alert fired"),
        "resolution": _moment("Resolved", resolved_at, NOT_RESOLVED),
    }
    status = "resolved" if resolved_at else NOT_RESOLVED
    if impact_start and resolved_at:
        dur = duration(resolved_at.time_ns - impact_start.time_ns)
    elif impact_start and window:
        dur = f"{NOT_RESOLVED} ({duration(window[1] - impact_start.time_ns)} until its end)"
    else:
        dur = "unknown (no symptom found in the evidence)"
    ttd = (duration(detection.time_ns - impact_start.time_ns)
           if detection and impact_start else "unknown")

    impact = _impact_lines(entries, impact_alerts, store)
    causes = [rc.to_dict() for rc in report.root_causes]
    summary = _summary(report, moments, dur=dur, status=status, impact=impact, store=store)
    lessons = _lessons(timeline, moments, impact_alerts=impact_alerts,
                       cause=top.service if top else None, report=report, store=store)
    prevention = [Cited(p) for p in PREVENTION.get(top.kind if top else "", GENERIC_PREVENTION)]
    prevention += [Cited(f"Action from the investigation: {c.text}", c.evidence, c.unresolved)
                   for c in report.actions]
    return PostMortem(
        title=title or _title(report, moments), question=report.question, window=report.window,
        agent=report.agent, summary=summary, status=status, moments=moments, duration=dur,
        time_to_detect=ttd, impact=impact, timeline=timeline, root_causes=causes,
        contributing=report.contributing, ruled_out=report.ruled_out, resolution=resolution,
        prevention=prevention, lessons=lessons, not_checked=report.not_checked,
        unresolved_citations=report.unresolved_citations, evidence=report.evidence)


def _title(report: InvestigationReport, moments: dict[str, KeyMoment]) -> str:
    when = moments["impact_start"].time or report.window.get("start", "")
    if report.root_causes:
        rc = report.root_causes[0]
        return f"{rc.service} ({rc.kind}) incident, {when[:16].replace('T', ' ')} UTC"
    return f"incident, {when[:16].replace('T', ' ')} UTC"


def _impact_lines(entries: list[TimelineEntry], impact_alerts: list[TimelineEntry],
                  store: EvidenceStore) -> list[Cited]:
    lines: list[Cited] = []
    by_service: dict[str, list[TimelineEntry]] = {}
    for a in impact_alerts:
        by_service.setdefault(a.service or "?", []).append(a)
    if by_service:
        sev = {a.severity for a in impact_alerts if a.severity}
        ids = sorted({i for a in impact_alerts for i in a.evidence}, key=lambda s: int(s[1:]))
        n = len(by_service)
        lines.append(Cited(f"Alerts ({'/'.join(sorted(sev)) or 'any severity'}) fired on "
                           f"{n} service{'s' if n != 1 else ''}: "
                           f"{', '.join(sorted(by_service))}", ids))
        for a in impact_alerts:
            if ": " in a.text:
                lines.append(Cited(a.text.split(" started firing: ", 1)[-1], list(a.evidence)))
    errors: dict[str, list[TimelineEntry]] = {}
    for e in entries:
        if e.category == "error-pattern" and e.service:
            errors.setdefault(e.service, []).append(e)
    for svc, items in sorted(errors.items(), key=lambda kv: -sum(int(e.detail.get("count") or 0)
                                                                    for e in kv[1])):
        total = sum(int(e.detail.get("count") or 0) for e in items)
        ids = sorted({i for e in items for i in e.evidence}, key=lambda s: int(s[1:]))
        lines.append(Cited(f"{svc}: {total:,} warn/error log lines in {len(items)} patterns that "
                           "did not occur before", ids))
    incidents = [e for e in store if e.tool == "get_incident_timeline" and not e.is_error]
    for ev in incidents:
        inc = ev.payload.get("incident") or {}
        if inc:
            lines.append(Cited(f"incident {inc.get('id')} \"{inc.get('title')}\" "
                               f"({inc.get('urgency') or '?'} urgency, {inc.get('status')}): "
                               f"{inc.get('description') or ''}".rstrip(": "), [ev.id]))
    return lines


def _summary(report: InvestigationReport, moments: dict[str, KeyMoment], *, dur: str,
             status: str, impact: list[Cited], store: EvidenceStore) -> Cited:
    """One paragraph: when, what it hit, why, and whether it is over."""
    ids: list[str] = []
    parts: list[str] = []
    start, res = moments["impact_start"], moments["resolution"]
    if start.time and res.time:
        parts.append(f"Impact from {start.time} to {res.time} ({dur}).")
        ids += start.evidence + res.evidence
    elif start.time:
        parts.append(f"Impact from {start.time}, {status} ({report.window.get('end', '?')}).")
        ids += start.evidence
    if impact:
        parts.append(impact[0].text + ".")
        ids += impact[0].evidence
    if report.root_causes:
        rc = report.root_causes[0]
        head = f"{rc.service} ({rc.kind})"
        what = rc.summary.removeprefix(head).lstrip(": ").rstrip(".")
        parts.append(f"Root cause: {head}: {what}.")
        ids += rc.evidence
    else:
        parts.append("The investigation named no root cause.")
    return cited(" ".join(parts), ids, store)


def _lessons(timeline: Timeline, moments: dict[str, KeyMoment], *,
             impact_alerts: list[TimelineEntry], cause: str | None,
             report: InvestigationReport, store: EvidenceStore) -> list[Cited]:
    lessons: list[Cited] = []
    start, det, res = moments["impact_start"], moments["detection"], moments["resolution"]
    entries = timeline.entries
    if start.time and det.time:
        delay = parse_rfc3339_ns(det.time) - parse_rfc3339_ns(start.time)
        lessons.append(cited(f"Detection took {duration(delay)}: the first symptom was at "
                             f"{start.time}, the first alert at {det.time}.",
                             start.evidence + det.evidence, store))
    if cause and impact_alerts:
        on_cause = [a for a in impact_alerts if _matches(a.service, cause)]
        if not on_cause:
            svcs = ", ".join(sorted({a.service or "?" for a in impact_alerts}))
            since_txt = moments["trigger"].time or start.time
            since = parse_rfc3339_ns(since_txt) if since_txt else 0
            signals = [e for e in entries if e.category in ("metric-change", "anomaly")
                       and e.time_ns >= since]
            hint = next((e for e in signals if _matches(e.service, cause)), None) or \
                next(iter(signals), None)
            lessons.append(cited(
                f"The paging alerts fired on symptoms ({svcs}); none named {cause}. "
                + (f"An alert on the cause's own signal ({hint.text}) would have pointed at it."
                   if hint else "No alert watches the cause's own signal."),
                [i for a in impact_alerts[:1] for i in a.evidence] + (hint.evidence if hint
                                                                        else []), store))
    for e in entries:
        if e.category == "change" and e.note and e.note.startswith("ruled out"):
            gap = (f" {duration(parse_rfc3339_ns(start.time) - e.time_ns)} before the impact "
                   "started" if start.time and e.time_ns < parse_rfc3339_ns(start.time) else "")
            lessons.append(cited(f"A change close to the incident was not its cause: {e.text} "
                                 f"({e.time},{gap}). Proximity is a lead, not a conclusion; "
                                 "it was ruled out with evidence.", e.evidence, store))
    if timeline.before_window:
        names = sorted({e.text.split(" started firing")[0] for e in timeline.before_window})
        ids = sorted({i for e in timeline.before_window for i in e.evidence},
                     key=lambda s: int(s[1:]))
        lessons.append(cited(f"{len(timeline.before_window)} alerts were already firing before "
                             f"the incident ({', '.join(names)}): standing noise on every page; "
                             "fix or retune them.", ids, store))
    if det.time and res.time:
        took = duration(parse_rfc3339_ns(res.time) - parse_rfc3339_ns(det.time))
        lessons.append(cited(f"From detection to resolution took {took}.",
                             det.evidence + res.evidence, store))
    if report.unresolved_citations:
        lessons.append(Cited(f"The investigation cited evidence that does not exist "
                             f"({', '.join(report.unresolved_citations)}); those claims are "
                             "not supported and were not used here."))
    return lessons


def evidence_of(store: EvidenceStore, tool: str) -> list[Evidence]:
    """The successful evidence items of one tool (``server_tool`` or just ``tool``)."""
    return [e for e in store if not e.is_error and tool in (e.tool, f"{e.server}_{e.tool}")]
