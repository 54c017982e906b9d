"""Golden signals of one service: detect its naming convention, then query each signal.

``detect`` asks the backend which conventions have series for the service (label
value look-ups, cheap on every backend) and returns the signals to query;
``golden_signals`` evaluates them over the window and the window before it (so a
change inside the window shows against what was normal), summarises each, and
ranks the symptoms by how far "now" moved from "before".
"""

from __future__ import annotations

import difflib
import math
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from obsbench_servers.common.errors import NotFoundError, ObsbenchError
from obsbench_servers.common.timeutil import NS_PER_S
from obsbench_servers.metrics import conventions as cv
from obsbench_servers.metrics.backend import MetricsBackend, SeriesData, after_warmup
from obsbench_servers.metrics.summaries import Summary, hhmm, sparkline, summarize
from obsbench_servers.metrics.units import fmt_unit

_GENERIC_JOBS = frozenset({"kubelet", "kube-state-metrics", "node-exporter", "blackbox",
                           "envoy-stats", "apiserver", "prometheus", "alertmanager", "cadvisor"})


# --------------------------------------------------------------------------- discovery


def discover_services(backend: MetricsBackend, start_ns: int, end_ns: int) -> dict[str, list[str]]:
    """Service names seen in the metrics, with where each was seen."""
    found: dict[str, list[str]] = {}

    def add(name: str, where: str) -> None:
        if name and where not in found.setdefault(name, []):
            found[name].append(where)

    probes = [
        ("service", None, "service label"),
        ("destination_workload", ["istio_requests_total"], "istio destination"),
        ("application", None, "micrometer application"),
        ("deployment", ["kube_deployment_spec_replicas"], "deployment"),
        ("statefulset", ["kube_statefulset_status_replicas_ready"], "statefulset"),
        ("horizontalpodautoscaler", ["kube_horizontalpodautoscaler_spec_max_replicas"], "hpa"),
    ]
    for label, match, where in probes:
        try:
            values = backend.label_values(label, match, start_ns, end_ns)
        except ObsbenchError:
            continue
        for v in values:
            if label == "service" and v in _GENERIC_JOBS:
                continue
            name = re.sub(r"-(master|primary)$", "", v) if label == "statefulset" else v
            if name not in ("unknown", "kubelet"):
                add(name, where)
    for label, match, where, conv in (
        ("job_name", ["kube_job_status_active"], "kubernetes job", cv.service_of_job_name),
        ("pod", ["kube_pod_container_status_restarts_total"], "pod", cv.service_of_pod),
    ):
        try:
            for v in backend.label_values(label, match, start_ns, end_ns):
                add(conv(v), where)
        except ObsbenchError:
            continue
    try:
        for job in backend.label_values("job", None, start_ns, end_ns):
            if job not in _GENERIC_JOBS and not job.endswith("-exporter") and "/" not in job:
                add(job, "job label")
    except ObsbenchError:
        pass
    return found


def close_names(name: str, candidates: list[str], n: int = 5) -> list[str]:
    """Names close to ``name``: similar spelling first, then shared words."""
    close = difflib.get_close_matches(name, candidates, n=n, cutoff=0.55)
    words = {w for w in re.split(r"[^a-z0-9]+", name.lower()) if len(w) > 2}
    for c in candidates:
        if len(close) >= n:
            break
        if c not in close and words & set(re.split(r"[^a-z0-9]+", c.lower())):
            close.append(c)
    return close


# --------------------------------------------------------------------------- detection


def _values(backend: MetricsBackend, label: str, match: str, start_ns: int, end_ns: int
            ) -> list[str]:
    try:
        return backend.label_values(label, [match], start_ns, end_ns)
    except ObsbenchError:
        return []


def detect(backend: MetricsBackend, service: str, start_ns: int, end_ns: int
           ) -> list[cv.Detection]:
    """Every convention with series for ``service`` in the range, most specific first."""
    s = cv.esc(service)
    out: list[cv.Detection] = []
    app_sel = ""
    for conv in cv.HTTP_SERVERS:
        metric = conv.count
        extra = f"{{{conv.extra}}}" if conv.extra else ""
        for label in conv.service_labels:
            if service in _values(backend, label, f"{metric}{extra}", start_ns, end_ns):
                sel = f'{label}="{s}"'
                if conv.summary and not _values(backend, "quantile",
                                                f"{conv.summary}{{{sel}}}", start_ns, end_ns):
                    continue
                if conv.bucket and not _values(backend, "le", f"{conv.bucket}{{{conv.sel(sel)}}}",
                                               start_ns, end_ns):
                    continue
                out.append(cv.Detection(conv.name, conv.sel(sel), conv.signals(sel)))
                app_sel = app_sel or sel
                break
        if out and out[-1].convention == conv.name and conv.name != "istio":
            break  # one application convention is enough; istio may still add a mesh view
    if app_sel:
        out.append(cv.Detection("runtime", app_sel, cv.runtime_signals(app_sel),
                                "runtime and connection-pool gauges, where exposed"))
    for conv_c in cv.HTTP_CLIENTS:
        targets = _values(backend, conv_c.target_label, conv_c.count, start_ns, end_ns)
        hits = [t for t in targets if t == service or cv.host_matches_service(t, service)]
        if hits:
            rx = "|".join(cv.re_escape(h) for h in hits)
            sel = f'{conv_c.target_label}=~"{rx}"'
            callers = _values(backend, "service", f"{conv_c.count}{{{sel}}}", start_ns, end_ns)
            note = (f"{service} has no metrics of its own here: seen through "
                    f"{', '.join(callers) or 'its callers'}'s client metrics for {', '.join(hits)}")
            out.append(cv.Detection(conv_c.name, sel, conv_c.signals(sel), note))
    probes = _values(backend, "instance", "probe_success", start_ns, end_ns)
    hits = [p for p in probes if cv.host_matches_service(cv.host_of(p), service)]
    if hits:
        rx = "|".join(cv.re_escape(h) for h in hits)
        out.append(cv.Detection("blackbox", f'instance=~"{rx}"', cv.probe_signals(rx),
                                f"synthetic probes of {', '.join(hits)}"))
    for name, probe in cv.EXPORTERS.items():
        for label in ("service", "job", "instance"):
            values = _values(backend, label, probe, start_ns, end_ns)
            hit = next((v for v in values if v in (service, f"{service}-exporter")), None)
            if hit:
                sel = f'{label}="{cv.esc(hit)}"'
                sigs = (cv.postgres_signals(sel, service) if name == "postgres_exporter"
                        else cv.redis_signals(sel))
                out.append(cv.Detection(name, sel, sigs))
                break
    pod_sel = f'pod=~"{cv.pod_regex(service)}"'
    pods = _values(backend, "pod", f"container_cpu_usage_seconds_total{{{pod_sel}}}",
                   start_ns, end_ns)
    ksm = _values(backend, "pod", f"kube_pod_container_status_restarts_total{{{pod_sel}}}",
                  start_ns, end_ns)
    if pods or ksm:
        sigs = cv.kubernetes_signals(pod_sel) + cv.node_network_signals(pod_sel)
        out.append(cv.Detection("cadvisor/kube-state-metrics", pod_sel, sigs,
                                f"{len(set(pods) | set(ksm))} pods"))
    out.append(cv.Detection("kube-state-metrics workload", f'"{s}"', cv.workload_signals(service)))
    envoy = _values(backend, "pod", f"envoy_listener_ssl_handshake{{{pod_sel}}}", start_ns, end_ns)
    if envoy:
        out.append(cv.Detection("envoy", pod_sel, cv.envoy_signals(pod_sel)))
    if service not in _GENERIC_JOBS:
        names = _values(backend, "__name__", f'{{job="{s}"}}', start_ns, end_ns)
        known = {m for d in out for sig in d.signals for m in re.findall(r"[a-z_:][a-z0-9_:]*",
                                                                         sig.promql)}
        extra_names = [n for n in names if n not in known and not n.endswith(
            ("_bucket", "_count", "_sum", "_total", "_created"))]
        if extra_names and not app_sel:
            sigs = [cv.Signal(f"gauge:{n}", "other", n, "", f'max({n}{{job="{s}"}})')
                    for n in extra_names[:12]]
            out.append(cv.Detection("pushgateway/job gauges", f'job="{s}"', sigs))
    return out


# --------------------------------------------------------------------------- evaluation


@dataclass
class SignalResult:
    signal: cv.Signal
    convention: str
    series: list[SeriesData] = field(default_factory=list)
    summaries: list[Summary] = field(default_factory=list)
    now: float = math.nan
    before: float = math.nan
    change: float = 0.0  # how far now moved from before, in a unit-free score
    error: str | None = None
    query_run: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.signal.key, "group": self.signal.group, "title": self.signal.title,
            "unit": self.signal.unit, "promql": self.signal.promql,
            "convention": self.convention, "now": _num(self.now), "before": _num(self.before),
            "change_score": round(self.change, 3), "error": self.error,
            "series": [{"labels": s.labels, "summary": sm.to_dict(),
                        "points": [[float(t), _num(float(v))] for t, v in zip(
                            s.ts, s.values, strict=True)]}
                       for s, sm in zip(self.series, self.summaries, strict=True)],
        }


def _num(v: float) -> float | None:
    return v if v is not None and math.isfinite(v) else None


def change_score(before: float, now: float) -> float:
    """A symmetric, unit-free size of a move (0 = none, 1 = doubled or halved, ...)."""
    if not (math.isfinite(before) and math.isfinite(now)):
        return 0.0
    a, b = abs(before), abs(now)
    if a == b:
        return 0.0
    lo, hi = min(a, b), max(a, b)
    if lo < 1e-9:
        return 5.0 if hi > 1e-6 else 0.0
    return min(math.log2(hi / lo), 10.0)


def evaluate(
    backend: MetricsBackend, signals: list[tuple[str, cv.Signal]], start_ns: int, end_ns: int,
    *, split_ns: int, step_s: float,
) -> list[SignalResult]:
    """Run every signal as a range query; ``split_ns`` separates "before" from "now"."""

    def one(item: tuple[str, cv.Signal]) -> SignalResult:
        conv, sig = item
        res = SignalResult(sig, conv)
        try:
            qd = backend.query_range(sig.promql, start_ns, end_ns, step_s)
        except ObsbenchError as exc:
            res.error = exc.message
            return res
        res.query_run = qd.query
        res.series = after_warmup([s for s in qd.series() if len(s.ts)],
                                  backend.data_start_ns)
        split = split_ns / NS_PER_S
        for s in res.series:
            res.summaries.append(summarize(s.ts, s.values))
        if res.series:
            # the series that moved most represents the signal
            best = -1.0
            for s in res.series:
                b = s.values[s.ts < split]
                n = s.values[s.ts >= split]
                b = b[np.isfinite(b)]
                n = n[np.isfinite(n)]
                before = float(np.median(b)) if len(b) else math.nan
                tail = n[-max(3, len(n) // 4):] if len(n) else n
                now = float(np.median(tail)) if len(tail) else math.nan
                score = change_score(before, now)
                if score > best:
                    best, res.before, res.now, res.change = score, before, now, score
        return res

    workers = max(1, min(4, int(getattr(backend.limits, "concurrency", 4))))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, signals))


@dataclass
class GoldenReport:
    service: str
    detections: list[cv.Detection]
    results: list[SignalResult]
    overrides_used: list[str]

    @property
    def conventions(self) -> list[str]:
        return [d.convention for d in self.detections if any(
            r.convention == d.convention and r.series for r in self.results)]


def golden_signals(
    backend: MetricsBackend, service: str, start_ns: int, end_ns: int, *, step_s: float,
    overrides: dict[str, str] | None = None, known_services: list[str] | None = None,
) -> GoldenReport:
    """Detect, evaluate over ``[start - (end - start), end]``, and rank the symptoms."""
    span = end_ns - start_ns
    detections = detect(backend, service, start_ns - span, end_ns)
    overrides = overrides or {}
    signals: list[tuple[str, cv.Signal]] = []
    seen: set[str] = set()
    for d in detections:
        for sig in d.signals:
            if sig.key in seen:
                continue
            seen.add(sig.key)
            signals.append((d.convention, sig))
    used = []
    for key, template in overrides.items():
        promql = template.replace("{service}", service)
        used.append(key)
        existing = next((i for i, (_, s) in enumerate(signals) if s.key == key), None)
        base = signals[existing][1] if existing is not None else None
        sig = cv.Signal(key, base.group if base else "override", base.title if base else key,
                        base.unit if base else "", promql)
        if existing is not None:
            signals[existing] = ("profile override", sig)
        else:
            signals.append(("profile override", sig))
    has_app = any(d.convention not in ("kube-state-metrics workload",) for d in detections)
    if not has_app and not used:
        hint_names = close_names(service, known_services or [])
        raise NotFoundError(
            f"no metrics found for service {service!r} in this window",
            (f"did you mean: {', '.join(hint_names)}? " if hint_names else "")
            + "list_metrics and label_values('service') show what exists; or pass a "
            "golden_signal_overrides template for this service",
        )
    results = evaluate(backend, signals, start_ns - span, end_ns, split_ns=start_ns,
                       step_s=step_s)
    return GoldenReport(service, detections, results, used)


def render_signal(r: SignalResult, width: int = 24) -> list[str]:
    """One line per series of a signal (most signals have one)."""
    sig = r.signal
    lines = []
    for s, sm in list(zip(r.series, r.summaries, strict=True))[:4]:
        label = "" if len(r.series) == 1 else " {" + ",".join(
            f"{k}={v}" for k, v in s.labels.items() if k != "__name__") + "}"
        vals = s.values[np.isfinite(s.values)]
        last = float(vals[-1]) if len(vals) else math.nan
        text = f"- {sig.title}{label}: {fmt_unit(last, sig.unit)} now"
        if len(r.series) == 1 and math.isfinite(r.before):
            text += f", {fmt_unit(r.before, sig.unit)} before"
        text += f"; range {fmt_unit(sm.min, sig.unit)}..{fmt_unit(sm.max, sig.unit)}"
        if sm.change_points:
            cps = "; ".join(f"{hhmm(c.t)} {fmt_unit(c.before, sig.unit)}→"
                            f"{fmt_unit(c.after, sig.unit)}" for c in sm.change_points[:3])
            text += f"; changed {cps}"
        text += f" {sparkline(s.ts, s.values, width)}"
        lines.append(text)
    if len(r.series) > 4:
        lines.append(f"  … {len(r.series) - 4} more series of {sig.title}")
    return lines
