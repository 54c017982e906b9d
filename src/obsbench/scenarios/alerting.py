"""Alert rules evaluated on the generated series, and the alerts Alertmanager would hold.

The rules are the PromQL a team writes (kube-prometheus style, one per
convention where the metric names differ); each also has an evaluator that
reads the very samples written to the ``.om`` files (kept by the
``Recorder``), computes the same ratio or quantile over the same 5-minute
windows, and applies ``for:`` at every evaluation step. What fires, and when,
therefore follows from the data, not from the scenario script. The output is
the Alertmanager API v2 ``GET /api/v2/alerts`` shape: one entry per alert
fingerprint seen in the window (resolved ones keep their ``endsAt``), with
receivers, silences and inhibitions applied.
"""

from __future__ import annotations

import math
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from obsbench.scenarios import rand
from obsbench.scenarios.openmetrics import Points, Recorder
from obsbench.scenarios.timeline import rfc3339_ms
from obsbench.scenarios.topology import CLUSTER, SERVICES, service
from obsbench.scenarios.world import World

WINDOW = 300  # rate windows: [5m]
PROMETHEUS = "http://prometheus-k8s.monitoring.svc:9090"
RUNBOOKS = "https://runbooks.shop.example.com"
EXTERNAL = {"cluster": CLUSTER, "prometheus": "monitoring/k8s"}

Instances = dict[tuple[tuple[str, str], ...], float]


@dataclass(frozen=True)
class Rule:
    name: str
    severity: str
    expr: str
    for_s: int
    summary: str
    description: str  # str.format with {value} and label names
    runbook: str
    evaluate: Callable[[int], Instances]
    labels: tuple[tuple[str, str], ...] = ()


@dataclass
class Firing:
    labels: dict[str, str]
    annotations: dict[str, str]
    rule: Rule
    starts: float
    ends: float | None  # None: still firing at the window's end
    updated: float
    value: float
    history: list[tuple[float, float | None]] = field(default_factory=list)


# -- evaluation primitives over recorded samples ----------------------------------------------


def increase(points: Points, t: int, width: int = WINDOW) -> float | None:
    """Counter increase inside ``(t-width, t]`` with resets handled (no extrapolation)."""
    got = points.increase(t, width)
    return None if got is None else got[0]


def rate(points: Points, t: int, width: int = WINDOW) -> float | None:
    got = points.increase(t, width)
    return None if got is None or got[1] <= 0 else got[0] / got[1]


def last(points: Points, t: int, lookback: int = WINDOW) -> float | None:
    _, vs = points.window(t, lookback)
    return vs[-1] if vs else None


def sum_rate(series: list[tuple[dict[str, str], Points]], t: int) -> float | None:
    vals = [r for _, p in series if (r := rate(p, t)) is not None]
    return sum(vals) if vals else None


def histogram_quantile(q: float, buckets: list[tuple[dict[str, str], Points]],
                       t: int) -> float | None:
    """Prometheus' histogram_quantile over ``sum by (le) (rate(bucket[5m]))``."""
    by_le: dict[float, float] = {}
    for labels, pts in buckets:
        r = rate(pts, t)
        if r is None:
            continue
        le = math.inf if labels["le"] == "+Inf" else float(labels["le"])
        by_le[le] = by_le.get(le, 0.0) + r
    if math.inf not in by_le or by_le[math.inf] <= 0:
        return None
    les = sorted(by_le)
    total = by_le[math.inf]
    rank = q * total
    prev_le, prev_c = 0.0, 0.0
    for le in les:
        c = by_le[le]
        if c >= rank:
            if math.isinf(le):
                return prev_le
            if c == prev_c:
                return le
            return prev_le + (le - prev_le) * (rank - prev_c) / (c - prev_c)
        prev_le, prev_c = le, c
    return les[-2] if len(les) > 1 else None


def _key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


# -- rules ------------------------------------------------------------------------------------

ERROR_SOURCES = {
    "otel": ("http_server_request_duration_seconds_count", "http_response_status_code"),
    "prometheus": ("http_requests_total", "code"),
    "micrometer": ("http_server_requests_seconds_count", "status"),
}
BUCKETS = {
    "otel": "http_server_request_duration_seconds_bucket",
    "prometheus": "http_request_duration_seconds_bucket",
    "micrometer": "http_server_requests_seconds_bucket",
}
P95_BUDGET_S = {"frontend": 1.0, "user-api": 0.5, "checkout": 1.0, "inventory": 0.25,
                "payment": 2.0, "orders": 1.0}

RECORDED = (
    "http_server_request_duration_seconds_count", "http_requests_total",
    "http_server_requests_seconds_count", "istio_requests_total",
    "http_server_request_duration_seconds_bucket", "http_request_duration_seconds_bucket",
    "http_server_requests_seconds_bucket", "http_client_requests_seconds_bucket",
    "kube_pod_container_status_waiting_reason", "kube_pod_container_status_restarts_total",
    "kube_pod_container_status_last_terminated_reason", "container_cpu_cfs_throttled_periods_total",
    "container_cpu_cfs_periods_total", "kube_horizontalpodautoscaler_status_current_replicas",
    "kube_horizontalpodautoscaler_spec_max_replicas", "pg_stat_activity_max_tx_duration",
    "pg_stat_activity_count", "pg_settings_max_connections", "pg_up", "redis_memory_used_bytes",
    "redis_memory_max_bytes", "redis_evicted_keys_total", "probe_ssl_earliest_cert_expiry",
    "probe_success", "kubelet_volume_stats_available_bytes",
    "kubelet_volume_stats_capacity_bytes", "hikaricp_connections_pending",
    "db_client_connection_pending_requests", "nightly_reconcile_backlog_rows",
    "kube_job_status_failed",
)


def build_rules(w: World, rec: Recorder) -> list[Rule]:
    times = w.frame.times
    rules: list[Rule] = []

    def t_of(i: int) -> int:
        return times[i]

    for s in SERVICES:
        if s.convention in ERROR_SOURCES:
            metric, code_label = ERROR_SOURCES[s.convention]
            sel = rec.select(metric, service=s.name)
            bad = [x for x in sel if x[0].get(code_label, "").startswith("5")]
            expr = (f'sum(rate({metric}{{service="{s.name}",{code_label}=~"5.."}}[5m])) / '
                    f'sum(rate({metric}{{service="{s.name}"}}[5m])) > 0.02')
        elif s.convention == "istio":
            sel = [x for x in rec.select("istio_requests_total", reporter="destination",
                                         destination_workload=s.name)]
            bad = [x for x in sel if x[0].get("response_code", "").startswith("5")]
            expr = ('sum(rate(istio_requests_total{reporter="destination",destination_workload='
                    f'"{s.name}",response_code=~"5.."}}[5m])) / sum(rate(istio_requests_total{{'
                    f'reporter="destination",destination_workload="{s.name}"}}[5m])) > 0.02')
        else:
            continue

        def ratio(i: int, sel: list = sel, bad: list = bad, s_name: str = s.name,
                  ns: str = s.namespace) -> Instances:
            total = sum_rate(sel, t_of(i))
            errs = sum_rate(bad, t_of(i)) or 0.0
            if not total:
                return {}
            v = errs / total
            return {_key({"service": s_name, "namespace": ns}): v} if v > 0.02 else {}

        rules.append(Rule("HighErrorRate", "critical", expr, 300,
                          "{service} is failing more than 2% of requests",
                          "{service} error ratio is {value:.1%} over the last 5 minutes.",
                          "high-error-rate", ratio))
        if s.convention in BUCKETS and s.name in P95_BUDGET_S:
            bucket = BUCKETS[s.convention]
            bsel = rec.select(bucket, service=s.name)
            limit = P95_BUDGET_S[s.name]

            def p95(i: int, bsel: list = bsel, limit: float = limit, s_name: str = s.name,
                    ns: str = s.namespace) -> Instances:
                v = histogram_quantile(0.95, bsel, t_of(i))
                return {_key({"service": s_name, "namespace": ns}): v} if v and v > limit else {}

            rules.append(Rule(
                "HighLatencyP95", "warning",
                f'histogram_quantile(0.95, sum by (le) (rate({bucket}{{service="{s.name}"}}[5m]))) '
                f"> {limit}", 600, "{service} p95 latency above its objective",
                "{service} p95 latency is {value:.2f}s (objective " + f"{limit}s).",
                "high-latency", p95))

    def per_series(metric: str, keep: tuple[str, ...], pred: Callable[[float], bool],
                   fn: Callable[[Points, int], float | None] = last,
                   **match: str) -> Callable[[int], Instances]:
        sel = rec.select(metric, **match)

        def ev(i: int) -> Instances:
            out: Instances = {}
            for labels, pts in sel:
                v = fn(pts, t_of(i))
                if v is not None and pred(v):
                    out[_key({k: labels[k] for k in keep if k in labels})] = v
            return out
        return ev

    pod_keys = ("namespace", "pod", "container")
    rules.append(Rule(
        "KubePodCrashLooping", "warning",
        'max_over_time(kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff",'
        'job="kube-state-metrics"}[5m]) >= 1', 900,
        "Pod is crash looping.",
        'Pod {namespace}/{pod} ({container}) is in waiting state (reason: "CrashLoopBackOff").',
        "kube-pod-crash-looping",
        per_series("kube_pod_container_status_waiting_reason", pod_keys, lambda v: v >= 1,
                   reason="CrashLoopBackOff")))

    restarts = rec.select("kube_pod_container_status_restarts_total")
    oom = {(lab["namespace"], lab["pod"]): pts for lab, pts in
           rec.select("kube_pod_container_status_last_terminated_reason", reason="OOMKilled")}

    def oom_ev(i: int) -> Instances:
        out: Instances = {}
        t = t_of(i)
        for labels, pts in restarts:
            inc = increase(pts, t, 600)
            k = (labels["namespace"], labels["pod"])
            if inc and inc >= 1 and k in oom and last(oom[k], t, 600):
                out[_key({x: labels[x] for x in pod_keys})] = inc
        return out

    rules.append(Rule(
        "KubeContainerOOMKilled", "warning",
        "increase(kube_pod_container_status_restarts_total[10m]) >= 1 and ignoring (reason) "
        'min_over_time(kube_pod_container_status_last_terminated_reason{reason="OOMKilled"}'
        "[10m]) == 1", 0, "Container was OOMKilled.",
        "Container {container} in pod {namespace}/{pod} was OOMKilled {value:.0f} times in the "
        "last 10 minutes.", "kube-container-oomkilled", oom_ev))

    thr = {(lab["namespace"], lab["pod"], lab["container"]): pts for lab, pts in
           rec.select("container_cpu_cfs_throttled_periods_total")}
    per = {(lab["namespace"], lab["pod"], lab["container"]): pts for lab, pts in
           rec.select("container_cpu_cfs_periods_total")}

    def throttling(i: int) -> Instances:
        out: Instances = {}
        t = t_of(i)
        for k, pts in per.items():
            a, b = increase(thr.get(k, Points([], [])), t), increase(pts, t)
            if a is not None and b:
                v = a / b
                if v > 0.25:
                    out[_key(dict(zip(("namespace", "pod", "container"), k, strict=True)))] = v
        return out

    rules.append(Rule(
        "CPUThrottlingHigh", "warning",
        'sum(increase(container_cpu_cfs_throttled_periods_total{container!=""}[5m])) by '
        "(container, pod, namespace) / sum(increase(container_cpu_cfs_periods_total[5m])) by "
        "(container, pod, namespace) > 0.25", 900, "Processes experience elevated CPU "
        "throttling.", "{value:.0%} throttling of CPU in namespace {namespace} for container "
        "{container} in pod {pod}.", "cpu-throttling-high", throttling))

    cur = {lab["horizontalpodautoscaler"]: pts for lab, pts in
           rec.select("kube_horizontalpodautoscaler_status_current_replicas")}
    mx = {lab["horizontalpodautoscaler"]: (lab["namespace"], pts) for lab, pts in
          rec.select("kube_horizontalpodautoscaler_spec_max_replicas")}

    def hpa_max(i: int) -> Instances:
        out: Instances = {}
        t = t_of(i)
        for name, pts in cur.items():
            ns, mpts = mx[name]
            c, m = last(pts, t), last(mpts, t)
            if c is not None and m is not None and c >= m:
                out[_key({"horizontalpodautoscaler": name, "namespace": ns})] = c
        return out

    rules.append(Rule(
        "KubeHpaMaxedOut", "warning",
        "kube_horizontalpodautoscaler_status_current_replicas == "
        "kube_horizontalpodautoscaler_spec_max_replicas", 900,
        "HPA is running at max replicas", "HPA {namespace}/{horizontalpodautoscaler} has been "
        "running at max replicas for longer than 15 minutes.", "kube-hpa-maxed-out", hpa_max))

    pg_keys = ("namespace", "service", "datname")
    rules.append(Rule(
        "PostgresLongRunningTransaction", "warning",
        'pg_stat_activity_max_tx_duration{state="active"} > 600', 300,
        "A transaction has been running for more than 10 minutes",
        "A transaction on {datname} has been active for {value:.0f}s.",
        "postgres-long-running-transaction",
        per_series("pg_stat_activity_max_tx_duration", pg_keys, lambda v: v > 600,
                   state="active")))
    rules.append(Rule(
        "PostgresDown", "critical", "pg_up == 0", 60, "PostgreSQL is down",
        "postgres_exporter cannot connect to PostgreSQL on {service}.", "postgres-down",
        per_series("pg_up", ("namespace", "service"), lambda v: v == 0)))
    conn = rec.select("pg_stat_activity_count")
    maxc = rec.select("pg_settings_max_connections")

    def too_many(i: int) -> Instances:
        t = t_of(i)
        vals = [v for _, p in conn if (v := last(p, t)) is not None]
        m = last(maxc[0][1], t) if maxc else None
        if vals and m and sum(vals) > 0.8 * m:
            return {_key({"namespace": "data", "service": "postgres"}): sum(vals)}
        return {}

    rules.append(Rule(
        "PostgresTooManyConnections", "warning",
        "sum by (namespace, service) (pg_stat_activity_count) > 0.8 * max by (namespace, "
        "service) (pg_settings_max_connections)", 300,
        "PostgreSQL connections above 80% of max_connections",
        "{value:.0f} connections in use.", "postgres-too-many-connections", too_many))

    used = rec.select("redis_memory_used_bytes")
    maxm = rec.select("redis_memory_max_bytes")

    def redis_mem(i: int) -> Instances:
        t = t_of(i)
        if not used or not maxm:
            return {}
        u, m = last(used[0][1], t), last(maxm[0][1], t)
        if u is not None and m:
            v = u / m
            if v > 0.9:
                return {_key({"namespace": "data", "service": "redis"}): v}
        return {}

    rules.append(Rule(
        "RedisMemoryHigh", "warning", "redis_memory_used_bytes / redis_memory_max_bytes > 0.9",
        300, "Redis is running out of memory",
        "Redis memory usage is {value:.0%} of maxmemory.", "redis-memory-high", redis_mem))
    rules.append(Rule(
        "RedisEvictingKeys", "warning", "increase(redis_evicted_keys_total[5m]) > 1000", 300,
        "Redis is evicting keys", "{value:.0f} keys evicted in the last 5 minutes.",
        "redis-memory-high",
        per_series("redis_evicted_keys_total", ("namespace", "service"), lambda v: v > 1000,
                   fn=increase)))

    def cert_soon(i: int) -> Instances:
        out: Instances = {}
        t = t_of(i)
        for labels, pts in rec.select("probe_ssl_earliest_cert_expiry"):
            v = last(pts, t)
            if v is not None and v - t < 14 * 86400:
                out[_key({"instance": labels["instance"], "job": labels["job"]})] = (v - t) / 86400
        return out

    rules.append(Rule(
        "SSLCertExpiringSoon", "warning", "probe_ssl_earliest_cert_expiry - time() < 86400 * 14",
        600, "TLS certificate expires soon",
        "The certificate of {instance} expires in {value:.1f} days.", "ssl-cert-expiry",
        cert_soon))
    rules.append(Rule(
        "BlackboxProbeFailed", "critical", "probe_success == 0", 120, "Synthetic probe failed",
        "Probe of {instance} is failing.", "blackbox-probe-failed",
        per_series("probe_success", ("instance", "job"), lambda v: v == 0)))
    avail = {lab["persistentvolumeclaim"]: (lab["namespace"], pts) for lab, pts in
             rec.select("kubelet_volume_stats_available_bytes")}
    capb = {lab["persistentvolumeclaim"]: pts for lab, pts in
            rec.select("kubelet_volume_stats_capacity_bytes")}

    def pv(threshold: float) -> Callable[[int], Instances]:
        def ev(i: int) -> Instances:
            out: Instances = {}
            t = t_of(i)
            for pvc, (ns, pts) in avail.items():
                a, c = last(pts, t), last(capb[pvc], t)
                if a is not None and c and a / c < threshold:
                    out[_key({"namespace": ns, "persistentvolumeclaim": pvc})] = a / c
            return out
        return ev

    rules.append(Rule(
        "KubePersistentVolumeFillingUp", "critical",
        "kubelet_volume_stats_available_bytes / kubelet_volume_stats_capacity_bytes < 0.03", 60,
        "PersistentVolume is filling up.", "The PersistentVolume claimed by "
        "{persistentvolumeclaim} in namespace {namespace} has {value:.1%} free.",
        "kube-persistent-volume-filling-up", pv(0.03)))
    rules.append(Rule(
        "KubePersistentVolumeFillingUp", "warning",
        "kubelet_volume_stats_available_bytes / kubelet_volume_stats_capacity_bytes < 0.15", 900,
        "PersistentVolume is filling up.", "The PersistentVolume claimed by "
        "{persistentvolumeclaim} in namespace {namespace} has {value:.1%} free.",
        "kube-persistent-volume-filling-up", pv(0.15)))
    for metric, expr in (("hikaricp_connections_pending", "max by (service, namespace) "
                          "(hikaricp_connections_pending) > 5"),
                         ("db_client_connection_pending_requests", "max by (service, namespace) "
                          "(db_client_connection_pending_requests) > 5")):
        sel = rec.select(metric)

        def pool(i: int, sel: list = sel) -> Instances:
            out: Instances = {}
            t = t_of(i)
            for labels, pts in sel:
                v = last(pts, t, 90)
                if v is not None and v > 5:
                    k = _key({"service": labels["service"], "namespace": labels["namespace"]})
                    out[k] = max(out.get(k, 0.0), v)
            return out

        rules.append(Rule("DBConnectionPoolExhausted", "warning", expr, 300,
                          "{service} is waiting for database connections",
                          "{value:.0f} requests are waiting for a connection from {service}'s "
                          "pool.", "db-connection-pool-exhausted", pool))
    psp = rec.select("http_client_requests_seconds_bucket", client_name="api.paygw.example.com")

    def psp_p95(i: int) -> Instances:
        v = histogram_quantile(0.95, psp, t_of(i))
        if v and v > 2.0:
            return {_key({"service": "payment", "namespace": "payments",
                          "client_name": "api.paygw.example.com"}): v}
        return {}

    rules.append(Rule(
        "PaymentProviderLatencyHigh", "warning",
        "histogram_quantile(0.95, sum by (le) (rate(http_client_requests_seconds_bucket"
        '{client_name="api.paygw.example.com"}[5m]))) > 2', 300,
        "Payment provider calls are slow", "p95 of calls to api.paygw.example.com is "
        "{value:.2f}s.", "payment-provider-latency", psp_p95))
    rules.append(Rule(
        "NightlyReconcileBacklogHigh", "warning", "nightly_reconcile_backlog_rows > 50000", 300,
        "Settlement reconciliation backlog is high",
        "{value:.0f} orders are waiting for reconciliation.", "nightly-reconcile",
        per_series("nightly_reconcile_backlog_rows", ("job",), lambda v: v > 50000)))
    rules.append(Rule(
        "KubeJobFailed", "warning", "kube_job_status_failed > 0", 900, "Job failed to complete.",
        "Job {namespace}/{job_name} failed to complete.", "kube-job-failed",
        per_series("kube_job_status_failed", ("namespace", "job_name"), lambda v: v > 0)))
    return rules


# -- running the rules ------------------------------------------------------------------------


def evaluate(w: World, rec: Recorder) -> list[Firing]:
    """Evaluate every rule at every step: pending -> firing after ``for``, then resolved."""
    rules = build_rules(w, rec)
    times = w.frame.times
    out: list[Firing] = []
    rng = w.rng("alert-history")
    # The first step where a 5-minute window holds two samples: a condition true there was
    # most likely true before the window too (Prometheus had been evaluating it for days).
    first_eval = w.frame.index(w.frame.start + WINDOW) + 1
    for rule in rules:
        pending: dict[tuple[tuple[str, str], ...], float] = {}
        firing: dict[tuple[tuple[str, str], ...], Firing] = {}
        for i, t in enumerate(times):
            active = rule.evaluate(i)
            for key, value in active.items():
                if key not in pending and i <= first_eval:
                    pending[key] = w.frame.start - rng.uniform(1.5, 6.0) * 86400
                since = pending.setdefault(key, t)
                if key in firing:
                    f = firing[key]
                    f.value, f.updated = value, t
                elif t - since >= rule.for_s:
                    labels = {"alertname": rule.name, "severity": rule.severity, **dict(key),
                              **EXTERNAL}
                    if "service" in labels and labels["service"] in {s.name for s in SERVICES}:
                        labels.setdefault("team", service(labels["service"]).team)
                    began = since + rule.for_s if since < w.frame.start else t
                    f = Firing(labels, {}, rule, began, None, t, value)
                    firing[key] = f
            for key in list(pending):
                if key not in active:
                    del pending[key]
                    f2 = firing.pop(key, None)
                    if f2 is not None:
                        f2.ends = t
                        f2.history.append((f2.starts, t))
                        out.append(f2)
        for f in firing.values():
            f.history.append((f.starts, None))
            out.append(f)
    for f in out:
        fmt = {**f.labels, "value": f.value}
        f.annotations = {"summary": f.rule.summary.format(**fmt),
                         "description": f.rule.description.format(**fmt),
                         "runbook_url": f"{RUNBOOKS}/{f.rule.runbook}"}
    if w.cert_expiry <= w.frame.end + 14 * 86400:
        _backdate_cert(w, out)
    out.sort(key=lambda f: (f.starts, f.labels["alertname"], sorted(f.labels.items())))
    return out


def _backdate_cert(w: World, out: list[Firing]) -> None:
    """SSLCertExpiringSoon crossed its threshold before the window: its true start."""
    for f in out:
        if f.labels["alertname"] == "SSLCertExpiringSoon" and f.starts <= w.frame.start + \
                w.frame.step * 12:
            began = w.cert_expiry - 14 * 86400 + f.rule.for_s
            f.starts = min(f.starts, began)


def fingerprint(labels: dict[str, str]) -> str:
    """Prometheus' label-set fingerprint (FNV-1a 64 over sorted name/value pairs)."""
    h = 0xCBF29CE484222325
    for k in sorted(labels):
        for part in (k, labels[k]):
            for b in part.encode():
                h ^= b
                h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
            h ^= 0xFF
            h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def receiver(severity: str) -> str:
    return {"critical": "pagerduty-sre", "warning": "slack-sre-alerts"}.get(severity, "null")


def alertmanager_payload(w: World, fired: list[Firing]) -> list[dict[str, Any]]:
    end = w.frame.end
    silence = rand.uid(w.name, w.seed, "silence", "ssl") if w.cert_silenced else None
    latest: dict[str, Firing] = {}
    for f in fired:
        fp = fingerprint(f.labels)
        if fp not in latest or f.starts >= latest[fp].starts:
            latest[fp] = f
    out = []
    for fp, f in sorted(latest.items(), key=lambda kv: (kv[1].starts, kv[0])):
        active_end = f.ends is None
        silenced = [silence] if silence and f.labels["alertname"] == "SSLCertExpiringSoon" else []
        inhibited = []
        if f.labels["alertname"] == "HighLatencyP95":
            for g in latest.values():
                if (g.labels["alertname"] == "HighErrorRate"
                        and g.labels.get("service") == f.labels.get("service")
                        and g.starts <= end and (g.ends is None or g.ends > f.starts)):
                    inhibited.append(fingerprint(g.labels))
        state = "suppressed" if (silenced or inhibited) and active_end else "active"
        ends = end + 240 if active_end else f.ends
        expr = urllib.parse.quote_plus(f.rule.expr)
        out.append({
            "annotations": f.annotations,
            "endsAt": rfc3339_ms(ends or end),
            "fingerprint": fp,
            "receivers": [{"name": receiver(f.labels["severity"])}],
            "startsAt": rfc3339_ms(f.starts),
            "status": {"inhibitedBy": inhibited, "silencedBy": silenced, "state": state},
            "updatedAt": rfc3339_ms(min(end, (f.ends or f.updated)) + 0.304),
            "generatorURL": f"{PROMETHEUS}/graph?g0.expr={expr}&g0.tab=1",
            "labels": dict(sorted(f.labels.items())),
        })
    return out
