"""Which series deviate most from their baseline, across services, and since when.

One query per signal answers for every service at once (grouped by the label
that names the service, see ``conventions.group_by``). Each result series is
attributed to a service, then scored against its own baseline with a robust
z-score: ``(level - median(baseline)) / scale``, where the scale is the
baseline's MAD, floored at 5% of its level so a flat baseline does not turn
noise into infinity. The onset is where the episode that contains the peak
deviation began: walking back from the peak while the deviation stays large.
"Which anomaly starts first" is what an investigator asks next.

A second pass compares CPU use with requests and limits ("resource fit"):
capacity questions are not anomalies in time, but they are unusual values.
"""

from __future__ import annotations

import math
import re
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from obsbench_servers.common.errors import ObsbenchError
from obsbench_servers.common.timeutil import NS_PER_S, ns_to_rfc3339
from obsbench_servers.metrics import conventions as cv
from obsbench_servers.metrics.backend import MetricsBackend, SeriesData, after_warmup
from obsbench_servers.metrics.summaries import hhmm, sparkline
from obsbench_servers.metrics.units import fmt_unit

Z_CAP = 50.0
TRANSIENT_S = 15 * 60  # shorter episodes that are over by the end are blips


@dataclass
class Probe:
    """A batch query and how to attribute its series."""

    signal: cv.Signal
    service_of: Any  # Callable[[dict[str, str]], tuple[str, str]] -> (service, via)
    combine: str = "max"  # max | sum | mean | min
    absent_is_zero: bool = False  # no series yet means 0 (jobs, restarts, OOM kills)


@dataclass
class Anomaly:
    service: str
    signal: cv.Signal
    labels: dict[str, str]
    baseline: float
    current: float
    peak: float
    z: float
    onset: float | None
    score: float
    via: str = ""
    ts: np.ndarray = field(default_factory=lambda: np.zeros(0))
    values: np.ndarray = field(default_factory=lambda: np.zeros(0))
    duration_s: float = 0.0

    @property
    def sustained(self) -> bool:
        """Not a blip: long, or still deviating at the end of the window."""
        return self.duration_s >= TRANSIENT_S or abs(self.current - self.baseline) >= 0.5 * abs(
            self.peak - self.baseline)

    @property
    def counts_for_onset(self) -> bool:
        """Strong, sustained, and (for traffic) more than a daily swing."""
        if not (self.onset and self.score >= 6 and self.sustained):
            return False
        lo, hi = sorted((abs(self.baseline), abs(self.current)))
        # a daily swing of traffic, or a modest shift in use, is not where an incident starts
        return hi >= (2.0 if self.signal.group == "traffic" else 1.5) * lo

    @property
    def direction(self) -> str:
        return "up" if self.z > 0 else "down"

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.service, "signal": self.signal.key, "title": self.signal.title,
            "group": self.signal.group, "unit": self.signal.unit, "labels": self.labels,
            "via": self.via, "baseline": _num(self.baseline), "current": _num(self.current),
            "peak": _num(self.peak), "z": round(self.z, 2), "direction": self.direction,
            "score": round(self.score, 2), "sustained": self.sustained,
            "episode_s": round(self.duration_s),
            "onset": ns_to_rfc3339(int(self.onset * NS_PER_S)) if self.onset else None,
            "promql": self.signal.promql,
            "points": [[float(t), _num(float(v))] for t, v in zip(self.ts, self.values,
                                                                   strict=True)],
        }


@dataclass
class Fit:
    service: str
    usage_p95: float
    request: float
    limit: float

    def to_dict(self) -> dict[str, Any]:
        return {"service": self.service, "cpu_usage_p95_cores": self.usage_p95,
                "cpu_request_cores": self.request, "cpu_limit_cores": _num(self.limit),
                "usage_vs_request": self.usage_p95 / self.request if self.request else None}


def _num(v: float) -> float | None:
    return v if v is not None and math.isfinite(v) else None


# --------------------------------------------------------------------------- the catalogue


def _label(name: str) -> Any:
    return lambda lb: (lb.get(name, ""), "")


def _pod_service(lb: dict[str, str]) -> tuple[str, str]:
    return cv.service_of_pod(lb.get("pod", "")), ""


def catalogue() -> list[Probe]:
    """Every batch signal the scan runs."""
    probes: list[Probe] = []
    for conv in cv.HTTP_SERVERS:
        label = "destination_workload" if conv.name == "istio" else "service"
        for sig in conv.signals("", by=label):
            if sig.key in ("latency_p95", "traffic", "error_ratio"):
                probes.append(Probe(_tag(sig, conv.name), _label(label)))
    for cl in cv.HTTP_CLIENTS:
        by = f"service, {cl.target_label}"
        for sig in cl.signals("", by=by):
            if sig.key in ("client_latency_p95", "client_traffic", "client_error_ratio"):
                probes.append(Probe(_tag(sig, cl.name), _client_of(cl.target_label)))
    for sig in cv.kubernetes_signals("", by="pod"):
        combine = {"cpu_usage": "sum", "restarts": "sum", "oom_killed": "sum",
                   "crashloop": "sum", "memory_working_set": "sum",
                   "cpu_usage_vs_request": "mean"}.get(sig.key, "max")
        if sig.key in ("cpu_request", "cpu_limit", "memory_working_set"):
            continue  # the sum over pods doubles during every rollout: per-pod ratios instead
        probes.append(Probe(sig, _pod_service, combine,
                            absent_is_zero=sig.key in ("restarts", "oom_killed", "crashloop")))
    for sig in cv.runtime_signals(""):
        probes.append(Probe(_grouped(sig, "service"), _label("service")))
    for sig in cv.postgres_signals("", "postgres"):
        if sig.key == "volume_used_ratio":
            continue
        probes.append(Probe(_grouped(sig, "service"), _label("service")))
    for sig in cv.redis_signals(""):
        probes.append(Probe(_grouped(sig, "service"), _label("service")))
    for sig in cv.envoy_signals(""):
        probes.append(Probe(_grouped(sig, "pod"), _pod_service))
    for sig in cv.probe_signals(".+"):
        probes.append(Probe(_grouped(sig, "instance"),
                            lambda lb: (cv.host_of(lb.get("instance", "")), "synthetic probe")))
    probes += [
        Probe(cv.Signal("volume_used_ratio", "saturation", "volume used / capacity", "ratio",
                        "max by (persistentvolumeclaim) (kubelet_volume_stats_used_bytes / "
                        "kubelet_volume_stats_capacity_bytes)"),
              lambda lb: (_pvc_service(lb.get("persistentvolumeclaim", "")), "volume")),
        Probe(cv.Signal("replicas_available_ratio", "availability", "available / desired replicas",
                        "ratio", "max by (deployment) (kube_deployment_status_replicas_available)"
                        " / max by (deployment) (kube_deployment_spec_replicas)",
                        higher_is_worse=False), _label("deployment")),
        Probe(cv.Signal("hpa_current_vs_max", "saturation", "HPA replicas / max", "ratio",
                        "max by (horizontalpodautoscaler) "
                        "(kube_horizontalpodautoscaler_status_current_replicas) / max by "
                        "(horizontalpodautoscaler) "
                        "(kube_horizontalpodautoscaler_spec_max_replicas)"),
              _label("horizontalpodautoscaler")),
        Probe(cv.Signal("job_active", "availability", "Job pods running", "count",
                        "max by (job_name) (kube_job_status_active)"),
              lambda lb: (cv.service_of_job_name(lb.get("job_name", "")), "kubernetes job"),
              "sum", absent_is_zero=True),
        Probe(cv.Signal("job_failed", "availability", "Job pods failed", "count",
                        "max by (job_name) (kube_job_status_failed)"),
              lambda lb: (cv.service_of_job_name(lb.get("job_name", "")), "kubernetes job"),
              "sum", absent_is_zero=True),
        Probe(cv.Signal("node_tcp_retransmits", "network", "TCP retransmits/s of node", "per_s",
                        "sum by (node) (rate(node_netstat_Tcp_RetransSegs[5m]))"),
              lambda lb: ("node/" + lb.get("node", ""), "node")),
    ]
    unique: dict[str, Probe] = {}
    for p in probes:
        unique.setdefault(p.signal.promql, p)
    return list(unique.values())


def _tag(sig: cv.Signal, conv: str) -> cv.Signal:
    return cv.Signal(sig.key, sig.group, f"{sig.title} [{conv}]", sig.unit, cv.clean(sig.promql),
                     sig.higher_is_worse)


def _grouped(sig: cv.Signal, label: str) -> cv.Signal:
    return cv.Signal(sig.key, sig.group, sig.title, sig.unit,
                     cv.group_by(cv.clean(sig.promql), label), sig.higher_is_worse)


def _client_of(target_label: str) -> Any:
    def of(lb: dict[str, str]) -> tuple[str, str]:
        host = lb.get(target_label, "")
        caller = lb.get("service", "")
        return host, f"client metrics of {caller}" if caller else "client metrics"
    return of


def _pvc_service(pvc: str) -> str:
    base = re.sub(r"-[0-9]+$", "", pvc)
    parts = base.split("-")
    return "-".join(parts[1:]) if len(parts) > 1 else base


# --------------------------------------------------------------------------- scoring


def _rolling_median(v: np.ndarray, width: int) -> np.ndarray:
    """Centred rolling median (edges padded): single spikes and flapping do not count."""
    if len(v) < width:
        return v.copy()
    half = width // 2
    padded = np.concatenate([np.full(half, v[0]), v, np.full(half, v[-1])])
    windows = np.lib.stride_tricks.sliding_window_view(padded, width)
    return np.median(windows, axis=1)


def score_series(
    ts: np.ndarray, v: np.ndarray, split: float, sig: cv.Signal,
    zero_before: tuple[float, float] | None = None,
) -> tuple[float, float, float, float, float | None, float, float] | None:
    """(baseline, current, peak, z, onset, score, episode seconds) of one series, or None
    without a baseline.

    ``zero_before = (start, step)``: a series that did not exist yet counts as 0 from
    ``start`` (a Job that had not started, a container that had not restarted), so a series
    that appears during the window is scored against zero instead of skipped.
    """
    ok = np.isfinite(v)
    ts, v = ts[ok], v[ok]
    if zero_before is not None and len(ts):
        start, step = zero_before
        fill = np.arange(start, float(ts[0]) - step / 2, step)
        if len(fill):
            ts = np.concatenate([fill, ts])
            v = np.concatenate([np.zeros(len(fill)), v])
    base = v[ts < split]
    win_mask = ts >= split
    win = v[win_mask]
    if len(base) < 5 or len(win) < 3:
        return None
    med = float(np.median(base))
    mad = 1.4826 * float(np.median(np.abs(base - med)))
    spread = float(np.max(v) - np.min(v))
    # How far the baseline itself strayed: a window that strays no further is not unusual.
    strayed = (float(np.percentile(base, 98)) - float(np.percentile(base, 2))) / 4
    floor = 0.001 if sig.unit in ("ratio", "bool") else 0.0
    scale = max(mad, 0.05 * abs(med), strayed, 0.01 * spread, floor, 1e-9)
    smooth = _rolling_median(v, 5)
    z_all = (smooth - med) / scale
    z_win = z_all[win_mask]
    i_peak = int(np.argmax(np.abs(z_win)))
    peak_z = float(z_win[i_peak])
    peak = float(smooth[win_mask][i_peak])
    tail = win[-max(3, len(win) // 3):]
    current = float(np.median(tail))
    z_cur = (current - med) / scale
    z = max(-Z_CAP, min(Z_CAP, peak_z))
    # onset: walk back from the peak while the deviation (same sign) stays large
    thr = max(4.0, 0.2 * min(abs(peak_z), Z_CAP))
    idx_peak = int(np.nonzero(win_mask)[0][i_peak])
    sign = 1.0 if peak_z > 0 else -1.0
    i = idx_peak
    gap = 0
    start = idx_peak
    while i >= 0:
        if sign * z_all[i] > thr:
            start = i
            gap = 0
        else:
            gap += 1
            if gap > 2:
                break
        i -= 1
    onset = float(ts[start]) if abs(peak_z) > thr else None
    i, gap, stop = idx_peak, 0, idx_peak
    while i < len(v):
        if sign * z_all[i] > thr:
            stop, gap = i, 0
        else:
            gap += 1
            if gap > 2:
                break
        i += 1
    duration = float(ts[stop] - ts[start])
    worse = (z > 0) == sig.higher_is_worse
    weight = 1.0 if (worse or sig.group == "traffic") else 0.4
    score = max(min(abs(z_cur), Z_CAP), 0.5 * abs(z)) * weight
    if duration < TRANSIENT_S and abs(z_cur) < 0.5 * abs(z):
        score *= 0.5  # a blip (a rollout, one slow scrape) that is over
    return med, current, peak, z, onset, score, duration


# --------------------------------------------------------------------------- the scan


@dataclass
class Scan:
    anomalies: list[Anomaly]
    fits: list[Fit]
    queries: int
    failed: list[str]
    node_hosts: dict[str, list[str]]


def _combine(series: list[SeriesData], how: str) -> tuple[np.ndarray, np.ndarray]:
    ts = np.unique(np.concatenate([s.ts for s in series]))
    mat = np.full((len(series), len(ts)), np.nan)
    for i, s in enumerate(series):
        mat[i, np.searchsorted(ts, s.ts)] = s.values
    # All-NaN columns (no series has a point there) are expected; numpy warns about them.
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if how == "sum":
            vals = np.nansum(mat, axis=0)
            vals[np.all(np.isnan(mat), axis=0)] = np.nan
        elif how == "mean":
            vals = np.nanmean(mat, axis=0) if mat.size else mat
        elif how == "min":
            vals = np.nanmin(mat, axis=0)
        else:
            vals = np.nanmax(mat, axis=0)
    return ts, vals


def node_hosts(backend: MetricsBackend, start_ns: int, end_ns: int) -> dict[str, list[str]]:
    """node -> services with pods on it (from cAdvisor's node and pod labels)."""
    try:
        series = backend.series(['container_memory_working_set_bytes{container!="",'
                                 'container!="POD"}'], start_ns, end_ns)
    except ObsbenchError:
        return {}
    out: dict[str, list[str]] = {}
    for lb in series:
        node, pod = lb.get("node", ""), lb.get("pod", "")
        if node and pod:
            svc = cv.service_of_pod(pod)
            if svc not in out.setdefault(node, []):
                out[node].append(svc)
    return out


def scan(
    backend: MetricsBackend, baseline_start_ns: int, window_start_ns: int, end_ns: int,
    *, step_s: float, service: str | None = None,
) -> Scan:
    probes = catalogue()
    split = window_start_ns / NS_PER_S
    failed: list[str] = []

    def run(p: Probe) -> tuple[Probe, list[SeriesData]]:
        try:
            qd = backend.query_range(p.signal.promql, baseline_start_ns, end_ns, step_s)
        except ObsbenchError as exc:
            failed.append(f"{p.signal.key}: {exc.message}")
            return p, []
        return p, after_warmup([s for s in qd.series() if len(s.ts)], backend.data_start_ns)

    workers = max(1, min(4, int(getattr(backend.limits, "concurrency", 4))))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(run, probes))
    hosts = node_hosts(backend, baseline_start_ns, end_ns)
    anomalies: list[Anomaly] = []
    usage: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for probe, series in results:
        grouped: dict[tuple[str, str], list[SeriesData]] = {}
        for s in series:
            svc, via = probe.service_of(s.labels)
            if not svc:
                continue
            extra = {k: v for k, v in s.labels.items() if k in ("mode",)}
            key = (svc, via + (f" mode={extra['mode']}" if extra else ""))
            grouped.setdefault(key, []).append(s)
        for (svc, via), group in grouped.items():
            ts, vals = _combine(group, probe.combine)
            if probe.signal.key == "cpu_usage":
                usage[svc] = (ts, vals)
            if service and not _relevant(service, svc, via, hosts):
                continue
            scored = score_series(ts, vals, split, probe.signal,
                                  (baseline_start_ns / NS_PER_S, step_s)
                                  if probe.absent_is_zero else None)
            if scored is None:
                continue
            med, cur, peak, z, onset, score, duration = scored
            note = via
            if svc.startswith("node/") and hosts.get(svc[5:]):
                note = "hosts " + ", ".join(hosts[svc[5:]])
            labels = group[0].labels if len(group) == 1 else {}
            anomalies.append(Anomaly(svc, probe.signal, labels, med, cur, peak, z, onset,
                                     score, note, ts, vals, duration))
    anomalies.sort(key=lambda a: (-a.score, a.onset or math.inf))
    fits = resource_fit(backend, usage, window_start_ns, end_ns, service)
    return Scan(anomalies, fits, len(probes), failed, hosts)


def _relevant(service: str, svc: str, via: str, hosts: dict[str, list[str]]) -> bool:
    if svc == service or cv.host_matches_service(svc, service):
        return True
    if svc.startswith("node/"):
        return service in hosts.get(svc[5:], [])
    return service in via


def resource_fit(
    backend: MetricsBackend, usage: dict[str, tuple[np.ndarray, np.ndarray]],
    window_start_ns: int, end_ns: int, service: str | None,
) -> list[Fit]:
    """CPU p95 use against requests and limits per service (over- and under-provisioning)."""
    fits: list[Fit] = []
    try:
        req = backend.query('sum by (pod) (kube_pod_container_resource_requests{resource="cpu",'
                            'container!="",container!="POD"})', end_ns).series()
        lim = backend.query('sum by (pod) (kube_pod_container_resource_limits{resource="cpu",'
                            'container!="",container!="POD"})', end_ns).series()
    except ObsbenchError:
        return fits
    reqs: dict[str, float] = {}
    lims: dict[str, float] = {}
    for target, series in ((reqs, req), (lims, lim)):
        for s in series:
            svc = cv.service_of_pod(s.labels.get("pod", ""))
            target[svc] = target.get(svc, 0.0) + float(s.values[-1])
    split = window_start_ns / NS_PER_S
    for svc, (ts, vals) in usage.items():
        if service and svc != service:
            continue
        win = vals[(ts >= split) & np.isfinite(vals)]
        if len(win) < 3 or svc not in reqs or reqs[svc] <= 0:
            continue
        fits.append(Fit(svc, float(np.percentile(win, 95)), reqs[svc], lims.get(svc, math.nan)))
    fits.sort(key=lambda f: f.usage_p95 - f.request)
    return fits


def render(result: Scan, limit: int) -> tuple[list[str], list[Anomaly]]:
    """Text lines: the top anomalies, services by earliest onset, and resource fit."""
    lines = []
    top = [a for a in result.anomalies if a.score >= 3.0][:limit]
    for i, a in enumerate(top, 1):
        onset = f", onset {hhmm(a.onset)}" if a.onset else ""
        ratio = ""
        if a.baseline and math.isfinite(a.baseline) and a.baseline != 0:
            ratio = f" (x{a.current / a.baseline:.3g})"
        via = f" [{a.via}]" if a.via else ""
        lines.append(
            f"{i}. {a.service}{via} {a.signal.title}: {fmt_unit(a.current, a.signal.unit)} now vs "
            f"{fmt_unit(a.baseline, a.signal.unit)} baseline{ratio}, peak "
            f"{fmt_unit(a.peak, a.signal.unit)}, z={a.z:+.1f}{onset} "
            f"{sparkline(a.ts, a.values, 20)}")
    return lines, top
