"""What the tools compute from log records: error patterns vs a baseline, volume anomalies.

``error_patterns`` mines the window's and the baseline's events with ONE miner,
so that a template means the same thing in both, then calls a pattern NEW when
the baseline never had it and SURGING when its rate grew ``SURGE_RATIO`` times
(with at least ``SURGE_MIN`` lines). ``volume_anomalies`` compares each
service/level series in the window with the same series in the baseline:
spikes, drops, and services that went silent.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from obsbench_servers.common.timeutil import TimeRange, ns_to_rfc3339
from obsbench_servers.logs.backend import LogRecord, VolumeResult
from obsbench_servers.logs.patterns import Leaf, TemplateMiner
from obsbench_servers.logs.stacktraces import Event, parse_trace, reassemble

SURGE_RATIO = 3.0
# Errors that blame a dependency (a hang-up, a deadline, a 5xx from a callee) are
# usually symptoms of a fault elsewhere: they rank below a service's own failures
# of similar size (weight), never hidden. Fatal lines (a process died) rank first.
PROPAGATED = re.compile(
    r"socket hang up|request to \S+ failed|deadline exceeded|dependency unavailable|"
    r"status code 5\d\d|ECONNREFUSED|ECONNRESET|bad gateway|service unavailable|"
    r"circuit breaker", re.IGNORECASE)
PROPAGATED_WEIGHT = 0.25
SURGE_MIN = 5
EXTRA_CHARS = 240


def event_text(ev: Event) -> str:
    """The text a pattern is mined from: the head line, plus the exception of a trace."""
    rec = ev.record
    head = rec.message.split("\n", 1)[0]
    st = None
    if ev.lines or "\n" in rec.message or "exception.type" in rec.labels:
        st = parse_trace(ev.text, rec.labels)
    if st is not None and st.exc_type not in head:
        return f"{head} | {st.summary()[:EXTRA_CHARS]}"
    err = rec.labels.get("error") or rec.labels.get("err")
    if isinstance(err, str) and err and err not in head:
        return f"{head} | error={err[:EXTRA_CHARS]}"
    return head


@dataclass
class PatternStat:
    """One pattern in the window, compared with the baseline."""

    id: str
    template: str
    count: int
    baseline_count: int
    first_ns: int | None
    last_ns: int | None
    example: str
    trace_ids: list[str]
    services: dict[str, int]
    levels: dict[str, int]
    status: str  # new | surging | steady | decreasing
    ratio: float | None

    @property
    def propagated(self) -> bool:
        return bool(PROPAGATED.search(self.template))

    @property
    def score(self) -> float:
        return self.count * (PROPAGATED_WEIGHT if self.propagated else 1.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "template": self.template, "count": self.count,
            "baseline_count": self.baseline_count, "status": self.status,
            "ratio": None if self.ratio is None or math.isinf(self.ratio) else
            round(self.ratio, 2),
            "first_seen": ns_to_rfc3339(self.first_ns) if self.first_ns else None,
            "last_seen": ns_to_rfc3339(self.last_ns) if self.last_ns else None,
            "example": self.example, "trace_ids": self.trace_ids, "services": self.services,
            "levels": self.levels, "propagated": self.propagated,
        }


@dataclass
class PatternReport:
    lines: int
    events: int
    baseline_lines: int
    baseline_events: int
    patterns: list[PatternStat] = field(default_factory=list)

    @property
    def new(self) -> list[PatternStat]:
        return [p for p in self.patterns if p.status == "new"]

    @property
    def surging(self) -> list[PatternStat]:
        return [p for p in self.patterns if p.status == "surging"]


def _rank(p: PatternStat) -> tuple[Any, ...]:
    order = {"new": 0, "surging": 1, "steady": 2, "decreasing": 3}[p.status]
    return (order, "fatal" not in p.levels, -p.score, p.first_ns or 0, p.template)


def error_patterns(
    window: list[LogRecord],
    baseline: list[LogRecord] | None,
    rng: TimeRange,
    baseline_rng: TimeRange | None,
) -> PatternReport:
    """Mine ``window`` (and ``baseline``) into patterns with new/surging status."""
    miner = TemplateMiner()
    base_events = reassemble(baseline) if baseline else []
    base_leaves: Counter[int] = Counter()
    for ev in base_events:
        base_leaves[miner.add(event_text(ev))] += 1
    events = reassemble(window)
    win: dict[int, Leaf] = {}
    for ev in events:
        rec = ev.record
        text = event_text(ev)
        li = miner.add(text)
        leaf = win.get(li)
        if leaf is None:
            leaf = win[li] = Leaf(())
            leaf.example = ev.text if len(ev.text) <= 2000 else ev.text[:2000]
        leaf.count += 1
        leaf.first_ns = rec.ts_ns if leaf.first_ns is None else min(leaf.first_ns, rec.ts_ns)
        leaf.last_ns = rec.ts_ns if leaf.last_ns is None else max(leaf.last_ns, rec.ts_ns)
        if rec.trace_id and len(leaf.trace_ids) < 5 and rec.trace_id not in leaf.trace_ids:
            leaf.trace_ids.append(rec.trace_id)
        if rec.service:
            leaf.services[rec.service] += 1
        if rec.level:
            leaf.levels[rec.level] += 1
    ids = miner.leaf_pattern_ids()
    templates = {p.id: p.template for p in miner.patterns()}
    acc: dict[str, Leaf] = {}
    for li in sorted(win, key=lambda i: (-win[i].count, i)):
        pid = ids[li]
        if pid not in acc:
            acc[pid] = Leaf(())
        acc[pid].absorb(win[li])
    base_by_pid: Counter[str] = Counter()
    for li, n in base_leaves.items():
        base_by_pid[ids[li]] += n
    scale = (rng.duration_ns / baseline_rng.duration_ns) if baseline_rng and \
        baseline_rng.duration_ns else 1.0
    report = PatternReport(len(window), len(events), len(baseline or []), len(base_events))
    for pid, leaf in acc.items():
        base = base_by_pid.get(pid, 0)
        if baseline is None:
            status, ratio = "steady", None
        elif base == 0:
            status, ratio = "new", math.inf
        else:
            ratio = leaf.count / (base * scale)
            if ratio >= SURGE_RATIO and leaf.count >= SURGE_MIN:
                status = "surging"
            elif ratio <= 1 / SURGE_RATIO:
                status = "decreasing"
            else:
                status = "steady"
        report.patterns.append(PatternStat(
            pid, templates.get(pid, ""), leaf.count, base, leaf.first_ns, leaf.last_ns,
            leaf.example, list(leaf.trace_ids), dict(leaf.services.most_common()),
            dict(leaf.levels.most_common()), status, ratio))
    report.patterns.sort(key=_rank)
    return report


@dataclass
class VolumeAnomaly:
    service: str
    level: str
    kind: str  # spike | drop | silent | appeared
    at_ns: int
    value: int
    baseline_mean: float
    window_total: int
    baseline_total: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.service, "level": self.level, "kind": self.kind,
            "at": ns_to_rfc3339(self.at_ns), "value": self.value,
            "baseline_mean_per_bucket": round(self.baseline_mean, 2),
            "window_total": self.window_total, "baseline_total": self.baseline_total,
        }


def volume_anomalies(vol: VolumeResult, window_start_ns: int) -> list[VolumeAnomaly]:
    """Spikes and new levels per service/level, drops and silences per service.

    Buckets before ``window_start_ns`` are the baseline. Silence and drops are
    judged on a service's total volume (one quiet level is not a quiet service);
    lines without a level (stack-trace continuations) only count in totals.
    """
    split = max(0, min(vol.buckets, (window_start_ns - vol.start_ns) // vol.step_ns))
    out: list[VolumeAnomaly] = []
    totals: dict[str, list[int]] = {}
    for (svc, _lvl), counts in vol.series.items():
        acc = totals.setdefault(svc, [0] * len(counts))
        for i, c in enumerate(counts):
            acc[i] += c

    def stats(counts: list[int]) -> tuple[list[int], list[int], float, float]:
        base, win = counts[:split], counts[split:]
        mean = sum(base) / len(base) if base else 0.0
        sd = math.sqrt(sum((c - mean) ** 2 for c in base) / len(base)) if base else 0.0
        return base, win, mean, sd

    def at(i: int) -> int:
        return vol.start_ns + (split + i) * vol.step_ns

    for svc, counts in sorted(totals.items()):
        base, win, mean, sd = stats(counts)
        if not base or not win or mean < 3:
            continue
        # (nearly) silent: two buckets in a row below a tenth of the usual volume
        quiet = 0.1 * mean
        silent = next((i for i in range(len(win) - 1)
                       if win[i] <= quiet and win[i + 1] <= quiet), None)
        if silent is not None:
            out.append(VolumeAnomaly(svc, "all", "silent", at(silent), 0, mean, sum(win),
                                     sum(base)))
            continue
        low = mean - max(3 * sd, 0.5 * mean)
        drops = [i for i in range(len(win) - 1) if win[i] < low and win[i + 1] < low]
        if drops:
            out.append(VolumeAnomaly(svc, "all", "drop", at(drops[0]), win[drops[0]], mean,
                                     sum(win), sum(base)))
    for (svc, lvl), counts in sorted(vol.series.items()):
        if lvl == "none":
            continue
        base, win, mean, sd = stats(counts)
        if not base or not win:
            continue
        wt, bt = sum(win), sum(base)
        if bt == 0 and wt >= SURGE_MIN:
            i = next(i for i, c in enumerate(win) if c)
            out.append(VolumeAnomaly(svc, lvl, "appeared", at(i), win[i], mean, wt, bt))
            continue
        high = mean + max(3 * sd, mean, 5.0)
        peaks = [i for i, c in enumerate(win) if c > high]
        if peaks:
            out.append(VolumeAnomaly(svc, lvl, "spike", at(peaks[0]), max(win), mean, wt, bt))
    rank = {"silent": 0, "appeared": 1, "spike": 2, "drop": 3}
    level_rank = {"fatal": 0, "error": 1, "warn": 2}
    out.sort(key=lambda a: (rank[a.kind], level_rank.get(a.level, 3), a.at_ns, a.service))
    return out
