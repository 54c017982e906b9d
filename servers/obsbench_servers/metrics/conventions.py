"""Metric naming conventions: how to find a service's latency, traffic, errors and saturation.

Every stack names the same facts differently. A convention knows one naming
scheme: which series identify a service (``detect``), the PromQL of each signal
for one service (``signals``), and the same signals for every service at once
(``batch``, grouped by the label that names the service) for anomaly scans.

Conventions here: OpenTelemetry HTTP semantic conventions, Prometheus client
defaults (``http_requests_total`` + ``http_request_duration_seconds``), classic
summaries (``quantile`` label), Spring Micrometer, Istio/Envoy, HTTP client
metrics of a caller (how an external dependency is seen), cAdvisor and
kube-state-metrics (saturation, restarts, replicas), node-exporter network,
postgres_exporter, redis_exporter, Envoy listeners, blackbox probes and
Kubernetes Jobs. Per-profile overrides replace any signal's PromQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

# --------------------------------------------------------------------------- signals


@dataclass(frozen=True)
class Signal:
    """One golden signal: a PromQL query and how to read its value."""

    key: str  # latency_p95, traffic, error_ratio, cpu_usage, ...
    group: str  # latency | traffic | errors | saturation | availability | dependency | ...
    title: str
    unit: str  # s | ratio | req/s | cores | bytes | count | per_s | bool
    promql: str
    # For batch signals: how a result series' labels name the service it belongs to.
    higher_is_worse: bool = True

    def __post_init__(self) -> None:
        # Templates join optional matcher parts; tidy them once, here.
        object.__setattr__(self, "promql", clean(self.promql))


ServiceOf = Callable[[dict[str, str]], str | None]


@dataclass(frozen=True)
class BatchSignal:
    signal: Signal
    service_of: ServiceOf
    combine: str = "max"  # how several series of one service combine: max | sum


@dataclass
class Detection:
    convention: str
    selector: str
    signals: list[Signal] = field(default_factory=list)
    note: str = ""


def esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def re_escape(value: str) -> str:
    """A literal for a PromQL regex (RE2) inside a double-quoted string."""
    return esc(re.sub(r"([.+*?()\[\]{}|^$\\])", r"\\\1", value))


# Labels that name a service on application series, most specific first.
SERVICE_LABELS = ("service", "job", "application", "app", "service_name", "container")


def pod_regex(service: str) -> str:
    """Pods of a Deployment, StatefulSet or Job named ``service``."""
    s = re_escape(service)
    return f"{s}-([a-z0-9]{{6,10}}-[a-z0-9]{{5}}|[0-9]+|[0-9]{{6,}}-[a-z0-9]{{5}}|[a-z0-9]{{5}})"


_POD_SUFFIXES = (
    re.compile(r"^(?P<svc>.+)-[a-z0-9]{6,10}-[a-z0-9]{5}$"),  # Deployment: name-<rs hash>-<id>
    re.compile(r"^(?P<svc>.+)-[0-9]{6,}-[a-z0-9]{5}$"),  # Job from a CronJob: name-<time>-<id>
    re.compile(r"^(?P<svc>.+?)(-master|-primary|-replica)?-[0-9]+$"),  # StatefulSet
    re.compile(r"^(?P<svc>.+)-[a-z0-9]{5}$"),  # DaemonSet / bare Job
)


def service_of_pod(pod: str) -> str:
    for rx in _POD_SUFFIXES:
        m = rx.match(pod)
        if m:
            return m.group("svc")
    return pod


def service_of_job_name(job_name: str) -> str:
    m = re.match(r"^(?P<svc>.+?)-[0-9]{6,}$", job_name)
    return m.group("svc") if m else job_name


# --------------------------------------------------------------------------- aliases


_GENERIC_HOST_PARTS = frozenset({"api", "www", "com", "net", "org", "io", "example", "svc",
                                 "cluster", "local", "internal", "prod", "https", "http"})


def _subsequence(short: str, long: str) -> bool:
    it = iter(long)
    return all(ch in it for ch in short)


def host_matches_service(host: str, service: str) -> bool:
    """Does a host (``api.paygw.example.com``) plausibly name ``service`` (``payment-gateway``)?

    True when a distinctive part of the host equals the service, or abbreviates it
    in order (``paygw`` = pay-ment g-ate-w-ay) starting with the same letter.
    """
    name = re.sub(r"[^a-z0-9]", "", service.lower())
    if not name:
        return False
    hostname = re.sub(r"^[a-z]+://", "", host.lower()).split("/")[0].split(":")[0]
    for part in re.split(r"[.\-_]", hostname):
        if len(part) < 3 or part in _GENERIC_HOST_PARTS:
            continue
        if part == name:
            return True
        if len(part) >= 4 and part[0] == name[0] and _subsequence(part, name):
            return True
    return False


def host_of(instance: str) -> str:
    return re.sub(r"^[a-z]+://", "", instance).split("/")[0].split(":")[0]


# --------------------------------------------------------------------------- HTTP servers


@dataclass(frozen=True)
class HttpServer:
    """A server-side HTTP convention: histogram (or summary), request counter, status label."""

    name: str
    bucket: str  # histogram _bucket series (or "" when only a summary exists)
    count: str  # request counter (rate = traffic)
    status: str  # status code label
    scale: float = 1.0  # multiply latency by this to get seconds
    extra: str = ""  # matchers every series needs (reporter="destination")
    service_labels: tuple[str, ...] = SERVICE_LABELS
    summary: str = ""  # summary metric with a quantile label (no histogram)

    def sel(self, base: str) -> str:
        return ",".join(x for x in (base, self.extra) if x)

    def latency(self, q: float, sel: str, by: str = "") -> str:
        grp = f"le, {by}" if by else "le"
        inner = (f"histogram_quantile({q}, sum by ({grp}) (rate({self.bucket}{{{sel}}}[5m])))")
        return f"{inner} * {self.scale:g}" if self.scale != 1 else inner

    def signals(self, sel: str, by: str = "") -> list[Signal]:
        s = self.sel(sel)
        agg = f"sum by ({by})" if by else "sum"
        total = f"{agg} (rate({self.count}{{{s}}}[5m]))"
        errs = f'{agg} (rate({self.count}{{{self.sel(sel)},{self.status}=~"5.."}}[5m]))'
        out = []
        if self.bucket:
            out += [Signal(f"latency_p{int(q * 100)}", "latency", f"latency p{int(q * 100)}", "s",
                           self.latency(q, s, by)) for q in (0.5, 0.95, 0.99)]
        elif self.summary:
            for q in ("0.5", "0.95", "0.99"):
                out.append(Signal(f"latency_p{int(float(q) * 100)}", "latency",
                                  f"latency p{int(float(q) * 100)} (summary)", "s",
                                  f'max{" by (" + by + ")" if by else ""} '
                                  f'({self.summary}{{{s},quantile="{q}"}}) * {self.scale:g}'))
        out.append(Signal("traffic", "traffic", "traffic", "req/s", total,
                          higher_is_worse=False))
        out.append(Signal("error_ratio", "errors", "5xx error ratio", "ratio",
                          f"({errs} or {total} * 0) / {total}"))
        return out


HTTP_SERVERS: tuple[HttpServer, ...] = (
    HttpServer("opentelemetry", "http_server_request_duration_seconds_bucket",
               "http_server_request_duration_seconds_count", "http_response_status_code"),
    HttpServer("opentelemetry (legacy ms)", "http_server_duration_milliseconds_bucket",
               "http_server_duration_milliseconds_count", "http_status_code", scale=0.001),
    HttpServer("prometheus-client", "http_request_duration_seconds_bucket",
               "http_requests_total", "code"),
    HttpServer("prometheus-client (summary)", "", "http_requests_total", "code",
               summary="http_request_duration_seconds"),
    HttpServer("micrometer", "http_server_requests_seconds_bucket",
               "http_server_requests_seconds_count", "status"),
    HttpServer("istio", "istio_request_duration_milliseconds_bucket", "istio_requests_total",
               "response_code", scale=0.001, extra='reporter="destination"',
               service_labels=("destination_workload", "destination_service_name",
                               "destination_app")),
)


# --------------------------------------------------------------------------- HTTP clients


@dataclass(frozen=True)
class HttpClient:
    """Client-side metrics of a caller: how a dependency without its own metrics is seen."""

    name: str
    bucket: str
    count: str
    target_label: str
    status: str
    scale: float = 1.0

    def signals(self, sel: str, by: str = "") -> list[Signal]:
        grp = f"le, {by}" if by else "le"
        agg = f"sum by ({by})" if by else "sum"
        total = f"{agg} (rate({self.count}{{{sel}}}[5m]))"
        errs = f'{agg} (rate({self.count}{{{sel},{self.status}=~"5.."}}[5m]))'
        out = []
        for q in (0.5, 0.95, 0.99):
            expr = f"histogram_quantile({q}, sum by ({grp}) (rate({self.bucket}{{{sel}}}[5m])))"
            if self.scale != 1:
                expr = f"{expr} * {self.scale:g}"
            out.append(Signal(f"client_latency_p{int(q * 100)}", "latency",
                              f"latency p{int(q * 100)} seen by callers", "s", expr))
        out.append(Signal("client_traffic", "traffic", "calls per second from callers", "req/s",
                          total, higher_is_worse=False))
        out.append(Signal("client_error_ratio", "errors", "5xx ratio seen by callers", "ratio",
                          f"({errs} or {total} * 0) / {total}"))
        return out


HTTP_CLIENTS: tuple[HttpClient, ...] = (
    HttpClient("micrometer http client", "http_client_requests_seconds_bucket",
               "http_client_requests_seconds_count", "client_name", "status"),
    HttpClient("opentelemetry http client", "http_client_request_duration_seconds_bucket",
               "http_client_request_duration_seconds_count", "server_address",
               "http_response_status_code"),
)


# --------------------------------------------------------------------------- Kubernetes


def kubernetes_signals(pod_sel: str, *, by: str = "") -> list[Signal]:
    """cAdvisor and kube-state-metrics saturation for pods matching ``pod_sel``."""
    c = f'{pod_sel},container!="",container!="POD"'
    agg = f"sum by ({by})" if by else "sum"
    mx = f"max by ({by})" if by else "max"
    usage = f"{agg} (rate(container_cpu_usage_seconds_total{{{c}}}[5m]))"
    req = f'{agg} (kube_pod_container_resource_requests{{{c},resource="cpu"}})'
    lim = f'{agg} (kube_pod_container_resource_limits{{{c},resource="cpu"}})'
    pod_by = f"pod, {by}" if by and by != "pod" else "pod"
    mem_ratio = (f"{mx} (max by ({pod_by}) (container_memory_working_set_bytes{{{c}}}) / "
                 f"max by ({pod_by}) (kube_pod_container_resource_limits{{{c},"
                 f'resource="memory"}}))')
    return [
        Signal("cpu_usage", "saturation", "CPU used", "cores", usage),
        Signal("cpu_request", "saturation", "CPU requested", "cores", req, higher_is_worse=False),
        Signal("cpu_limit", "saturation", "CPU limit", "cores", lim, higher_is_worse=False),
        Signal("cpu_usage_vs_request", "saturation", "CPU used / requested", "ratio",
               f"{usage} / {req}"),
        Signal("cpu_throttled_ratio", "saturation", "CFS periods throttled", "ratio",
               f"{agg} (rate(container_cpu_cfs_throttled_periods_total{{{c}}}[5m])) / "
               f"{agg} (rate(container_cpu_cfs_periods_total{{{c}}}[5m]))"),
        Signal("memory_working_set", "saturation", "memory working set", "bytes",
               f"{agg} (container_memory_working_set_bytes{{{c}}})"),
        Signal("memory_vs_limit", "saturation", "memory / limit (worst pod)", "ratio", mem_ratio),
        Signal("restarts", "availability", "container restarts (10m)", "count",
               f"{agg} (increase(kube_pod_container_status_restarts_total{{{c}}}[10m]))"),
        Signal("oom_killed", "availability", "containers last terminated by OOMKilled", "count",
               f"{agg} (kube_pod_container_status_last_terminated_reason{{{c},"
               f'reason="OOMKilled"}})'),
        Signal("crashloop", "availability", "containers in CrashLoopBackOff", "count",
               f"{agg} (kube_pod_container_status_waiting_reason{{{c},"
               f'reason="CrashLoopBackOff"}})'),
    ]


def workload_signals(service: str) -> list[Signal]:
    s = esc(service)
    return [
        Signal("replicas_available_ratio", "availability", "available / desired replicas",
               "ratio",
               f'max(kube_deployment_status_replicas_available{{deployment="{s}"}}) / '
               f'max(kube_deployment_spec_replicas{{deployment="{s}"}})', higher_is_worse=False),
        Signal("hpa_current_vs_max", "saturation", "HPA replicas / max", "ratio",
               f"max(kube_horizontalpodautoscaler_status_current_replicas"
               f'{{horizontalpodautoscaler="{s}"}}) / max('
               f'kube_horizontalpodautoscaler_spec_max_replicas{{horizontalpodautoscaler="{s}"}})'),
        Signal("statefulset_ready", "availability", "StatefulSet ready replicas", "count",
               f'max(kube_statefulset_status_replicas_ready{{statefulset=~"{re_escape(service)}'
               f'(-master|-primary)?"}})', higher_is_worse=False),
        Signal("job_active", "availability", "Job pods running", "count",
               f'sum(kube_job_status_active{{job_name=~"{re_escape(service)}(-[0-9]+)?"}})'),
        Signal("job_failed", "availability", "Job pods failed", "count",
               f'sum(kube_job_status_failed{{job_name=~"{re_escape(service)}(-[0-9]+)?"}})'),
    ]


def node_network_signals(pod_sel: str) -> list[Signal]:
    hosts = f"count by (node) (container_memory_working_set_bytes{{{pod_sel}}})"
    return [Signal(
        "node_tcp_retransmits", "network",
        "TCP retransmits/s on the nodes running its pods (worst node)", "per_s",
        f"max(sum by (node) (rate(node_netstat_Tcp_RetransSegs[5m])) and on (node) {hosts})")]


# --------------------------------------------------------------------------- exporters & runtimes


def runtime_signals(sel: str) -> list[Signal]:
    """Runtime and pool gauges an application may expose next to its HTTP metrics."""
    return [
        Signal("eventloop_lag_p99", "saturation", "Node.js event loop lag p99", "s",
               f"max(nodejs_eventloop_lag_p99_seconds{{{sel}}})"),
        Signal("db_pool_pending", "saturation", "requests waiting for a DB connection", "count",
               f"sum(db_client_connection_pending_requests{{{sel}}})"),
        Signal("db_pool_usage", "saturation", "DB connections used / max", "ratio",
               f'sum(db_client_connection_count{{{sel},db_client_connection_state="used"}}) / '
               f"sum(db_client_connection_max{{{sel}}})"),
        Signal("db_pool_timeouts", "errors", "DB pool timeouts/s", "per_s",
               f"sum(rate(db_client_connection_timeouts_total{{{sel}}}[5m]))"),
        Signal("hikari_pending", "saturation", "HikariCP threads waiting for a connection",
               "count", f"sum(hikaricp_connections_pending{{{sel}}})"),
        Signal("hikari_usage", "saturation", "HikariCP active / max", "ratio",
               f"sum(hikaricp_connections_active{{{sel}}}) / "
               f"sum(hikaricp_connections_max{{{sel}}})"),
        Signal("hikari_timeouts", "errors", "HikariCP connection timeouts/s", "per_s",
               f"sum(rate(hikaricp_connections_timeout_total{{{sel}}}[5m]))"),
        Signal("pgxpool_usage", "saturation", "pgxpool acquired / max", "ratio",
               f"sum(pgxpool_acquired_conns{{{sel}}}) / sum(pgxpool_max_conns{{{sel}}})"),
        Signal("go_goroutines", "saturation", "goroutines", "count",
               f"sum(go_goroutines{{{sel}}})"),
        Signal("jvm_heap_used", "saturation", "JVM heap used", "bytes",
               f'sum(jvm_memory_used_bytes{{{sel},area="heap"}})'),
    ]


def postgres_signals(sel: str, service: str) -> list[Signal]:
    pvc = re_escape(service)
    return [
        Signal("pg_up", "availability", "postgres up (exporter can connect)", "bool",
               f"min(pg_up{{{sel}}})", higher_is_worse=False),
        Signal("pg_connections_ratio", "saturation", "connections / max_connections", "ratio",
               f"sum(pg_stat_activity_count{{{sel}}}) / max(pg_settings_max_connections{{{sel}}})"),
        Signal("pg_longest_transaction", "saturation", "longest running transaction", "s",
               f"max(pg_stat_activity_max_tx_duration{{{sel}}})"),
        Signal("pg_locks", "saturation", "locks held, by mode", "count",
               f"sum by (mode) (pg_locks_count{{{sel}}}) > 0"),
        Signal("pg_commits", "traffic", "commits/s", "per_s",
               f"sum(rate(pg_stat_database_xact_commit{{{sel}}}[5m]))", higher_is_worse=False),
        Signal("pg_rollbacks", "errors", "rollbacks/s", "per_s",
               f"sum(rate(pg_stat_database_xact_rollback{{{sel}}}[5m]))"),
        Signal("pg_wal_size", "saturation", "WAL size", "bytes",
               f"max(pg_wal_size_bytes{{{sel}}})"),
        Signal("volume_used_ratio", "saturation", "volume used / capacity", "ratio",
               f'max(kubelet_volume_stats_used_bytes{{persistentvolumeclaim=~".*{pvc}.*"}} / '
               f'kubelet_volume_stats_capacity_bytes{{persistentvolumeclaim=~".*{pvc}.*"}})'),
    ]


def redis_signals(sel: str) -> list[Signal]:
    hits = f"sum(rate(redis_keyspace_hits_total{{{sel}}}[5m]))"
    misses = f"sum(rate(redis_keyspace_misses_total{{{sel}}}[5m]))"
    return [
        Signal("redis_up", "availability", "redis up", "bool", f"min(redis_up{{{sel}}})",
               higher_is_worse=False),
        Signal("redis_memory_ratio", "saturation", "memory used / maxmemory", "ratio",
               f"max(redis_memory_used_bytes{{{sel}}} / redis_memory_max_bytes{{{sel}}})"),
        Signal("redis_evictions", "errors", "evicted keys/s", "per_s",
               f"sum(rate(redis_evicted_keys_total{{{sel}}}[5m]))"),
        Signal("redis_hit_ratio", "errors", "keyspace hit ratio", "ratio",
               f"{hits} / ({hits} + {misses})", higher_is_worse=False),
        Signal("redis_commands", "traffic", "commands/s", "per_s",
               f"sum(rate(redis_commands_processed_total{{{sel}}}[5m]))", higher_is_worse=False),
        Signal("redis_clients", "saturation", "connected clients", "count",
               f"sum(redis_connected_clients{{{sel}}})"),
    ]


def envoy_signals(pod_sel: str) -> list[Signal]:
    return [
        Signal("tls_connection_errors", "errors", "TLS connection errors/s", "per_s",
               f"sum(rate(envoy_listener_ssl_connection_error{{{pod_sel}}}[5m]))"),
        Signal("tls_handshakes", "traffic", "TLS handshakes/s", "per_s",
               f"sum(rate(envoy_listener_ssl_handshake{{{pod_sel}}}[5m]))", higher_is_worse=False),
        Signal("cert_days_left", "saturation", "days until the first certificate expires", "days",
               f"min(envoy_server_days_until_first_cert_expiring{{{pod_sel}}})",
               higher_is_worse=False),
        Signal("upstream_pending_overflow", "errors", "upstream pending overflows/s", "per_s",
               f"sum(rate(envoy_cluster_upstream_rq_pending_overflow{{{pod_sel}}}[5m]))"),
    ]


def probe_signals(instance_regex: str) -> list[Signal]:
    sel = f'instance=~"{instance_regex}"'
    return [
        Signal("probe_success", "availability", "synthetic probe success", "bool",
               f"min(probe_success{{{sel}}})", higher_is_worse=False),
        Signal("probe_duration", "latency", "synthetic probe duration", "s",
               f"max(probe_duration_seconds{{{sel}}})"),
    ]


# Metrics whose presence (with a service-naming label) says which convention a family uses.
EXPORTERS = {
    "postgres_exporter": "pg_up",
    "redis_exporter": "redis_up",
}


def clean(promql: str) -> str:
    """Tidy matcher lists built from optional parts (``{,a="b"}`` -> ``{a="b"}``)."""
    out = promql
    while True:
        nxt = out.replace("{,", "{").replace(",}", "}").replace(",,", ",")
        if nxt == out:
            return out
        out = nxt


_AGG = re.compile(r"\b(sum|max|min|count)\s*(?:by\s*\(([^)]*)\))?\s*\(")


def group_by(promql: str, label: str) -> str:
    """Add ``label`` to every aggregation's grouping, so one query answers for every service."""

    def sub(m: re.Match[str]) -> str:
        existing = [x.strip() for x in (m.group(2) or "").split(",") if x.strip()]
        if label not in existing:
            existing.append(label)
        return f"{m.group(1)} by ({', '.join(existing)}) ("

    return _AGG.sub(sub, promql)
