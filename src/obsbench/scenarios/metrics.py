"""Which metrics go into which file: one file per scrape job, as an export would group them.

``metrics/<service>.om`` for each application (its own convention and
runtime metrics), ``kubelet.om`` (cAdvisor and volume stats),
``kube-state-metrics.om``, ``node-exporter.om``, ``postgres-exporter.om``,
``redis-exporter.om``, ``blackbox.om``, ``pushgateway.om``; notification pushes
OTLP, so its metrics are ``metrics/notification.otlp.json``; the capacity
scenario adds daily history files.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from obsbench.scenarios import history, metrics_apps, metrics_infra, metrics_runtime
from obsbench.scenarios.load import pod_loads, scraped_steps
from obsbench.scenarios.metrics_apps import OTEL_BUCKETS, CdfCache
from obsbench.scenarios.openmetrics import OMWriter, Recorder
from obsbench.scenarios.otlp import resource
from obsbench.scenarios.resources import PodUsage, pod_usage
from obsbench.scenarios.sink import FileInfo, Sink
from obsbench.scenarios.timeline import diurnal
from obsbench.scenarios.topology import SERVICES, service
from obsbench.scenarios.world import PEAK_RPS, World


def write_metrics(w: World, root: Path, gz: bool, rec: Recorder) -> list[FileInfo]:
    files: list[FileInfo] = []
    usage: dict[str, PodUsage] = {}
    for s in SERVICES:
        for p in w.pods.get(s.name, []):
            usage[p.name] = pod_usage(w, s, p)
    cache = CdfCache(w)
    cpu_prior: dict[str, float] = {}
    if w.history_start is not None:
        hist_files, cpu_prior = history.write_history(w, root, gz)
        files.extend(hist_files)

    def om_file(name: str) -> tuple[Sink, OMWriter]:
        sink = Sink(root, f"metrics/{name}.om", "metrics", "openmetrics", gz=gz, unit="samples")
        return sink, OMWriter(sink, rec)

    for name in ("api-gateway", "frontend", "checkout", "payment", "user-api", "orders",
                 "inventory"):
        s = service(name)
        sink, om = om_file(name)
        loads = pod_loads(w, s)
        if s.convention == "istio":
            metrics_apps.write_istio(om, w, s, loads, cache)
            _write_envoy(om, w)
        elif s.convention == "otel":
            metrics_apps.write_otel(om, w, s, loads, cache)
            if s.language == "node":
                metrics_runtime.write_node_runtime(om, w, s, usage)
            if s.uses_pool == "sqlalchemy":
                metrics_runtime.write_sqlalchemy_pool(om, w, s)
        elif s.convention == "prometheus":
            metrics_apps.write_prometheus_client(om, w, s, loads, cache)
            metrics_runtime.write_go_runtime(om, w, s, usage)
        elif s.convention == "micrometer":
            metrics_apps.write_micrometer_server(om, w, s, loads, cache)
            if s.name == "payment":
                metrics_apps.write_micrometer_client(om, w, s, cache)
            metrics_runtime.write_hikari(om, w, s)
            metrics_runtime.write_jvm(om, w, s, usage)
        om.close()
        files.append(sink.close())

    sink, om = om_file("kubelet")
    metrics_infra.write_cadvisor(om, w, usage, cpu_prior)
    metrics_infra.write_volume_stats(om, w)
    om.close()
    files.append(sink.close())
    for name, fn in (("kube-state-metrics", metrics_infra.write_kube_state),
                     ("node-exporter", metrics_infra.write_node_exporter),
                     ("postgres-exporter", metrics_infra.write_postgres_exporter),
                     ("redis-exporter", metrics_infra.write_redis_exporter),
                     ("blackbox", metrics_infra.write_blackbox),
                     ("pushgateway", metrics_infra.write_pushgateway)):
        sink, om = om_file(name)
        fn(om, w)
        om.close()
        files.append(sink.close())
    files.append(_write_notification_otlp(w, root, gz, cache))
    return files


def _write_envoy(om: OMWriter, w: World) -> None:
    """Envoy's own stats on the gateway: TLS handshakes and errors, overflow, cert expiry."""
    s = service("api-gateway")
    rng = w.rng("envoy")
    loads = [(p, *scraped_steps(w, p)) for p in w.pods[s.name]]
    listener = {"envoy_listener_address": "0.0.0.0_8443"}

    def base(pod_ip: str, pod_name: str) -> dict[str, str]:
        return {"instance": f"{pod_ip}:15090", "job": "envoy-stats", "namespace": s.namespace,
                "pod": pod_name}

    for fam, help_, fn in (
        ("envoy_listener_ssl_handshake", "Total successful TLS connection handshakes",
         lambda i, n: w.entry_rps[i] * w.frame.step / 6.0 / n),
        ("envoy_listener_ssl_connection_error", "Total TLS connection errors not including "
         "failed certificate verifications",
         lambda i, n: (PEAK_RPS * diurnal(w.frame.t(i)) * w.frame.step * 0.45 / n
                       if w.frame.t(i) >= w.cert_expiry else rng.random() * 0.8)),
        ("envoy_cluster_upstream_rq_pending_overflow", "Total requests that overflowed "
         "connection pool or requests (mainly for HTTP/2 and above) circuit breaking and were "
         "cancelled", lambda i, n: sum(
             w.rps[("api-gateway", r.op)][i] * w.errs[("api-gateway", r.op)][i].get("503", 0.0)
             for r in s.routes) * w.frame.step / n),
    ):
        om.family(fam, "unknown", help_)
        for pod, steps, starts in loads:
            if not steps:
                continue
            labels = base(pod.ip, pod.name)
            labels.update(listener if "listener" in fam else
                          {"envoy_cluster_name": "outbound|3000||frontend.shop.svc.cluster.local"})
            vals, acc = [], 0.0
            for i, fresh in zip(steps, starts, strict=True):
                acc = 0.0 if fresh else acc
                acc += fn(i, max(1, w.n_ready[s.name][i])) * math.exp(rng.gauss(0, 0.05))
                vals.append(int(acc))
            om.series(fam, labels, [w.frame.t(i) for i in steps], vals)
    om.family("envoy_server_days_until_first_cert_expiring", "gauge", "Number of days until the "
              "next certificate being managed will expire")
    for pod, steps, _ in loads:
        if steps:
            om.series("envoy_server_days_until_first_cert_expiring", base(pod.ip, pod.name),
                      [w.frame.t(i) for i in steps],
                      [max(0, int((w.cert_expiry - w.frame.t(i)) // 86400)) for i in steps])


def _write_notification_otlp(w: World, root: Path, gz: bool, cache: CdfCache) -> FileInfo:
    """The .NET worker exports OTLP metrics: one ExportMetricsServiceRequest per interval."""
    s = service("notification")
    sink = Sink(root, "metrics/notification.otlp.json", "metrics", "otlp-metrics", gz=gz,
                unit="data points")
    key = (s.name, s.routes[0].op)
    rng = w.rng("otlp-metrics")
    pods = [(p, *scraped_steps(w, p)) for p in w.pods[s.name]]
    position = {p.name: {i: k for k, i in enumerate(steps)} for p, steps, _ in pods}
    state: dict[str, dict[str, Any]] = {}
    bounds = list(OTEL_BUCKETS)
    for i in range(w.frame.n):
        t = w.frame.t(i)
        resource_metrics = []
        points = 0
        for pod, _, starts in pods:
            k_at = position[pod.name].get(i)
            if k_at is None:
                continue
            k = k_at
            st = state.setdefault(pod.name, {"count": 0, "sum": 0.0, "buckets": [0] * (len(
                bounds) + 1), "consumed": 0, "start": t})
            if starts[k]:
                st.update(count=0, sum=0.0, buckets=[0] * (len(bounds) + 1), consumed=0,
                          start=pod.container_start(t))
            n = max(1, w.n_ready[s.name][i])
            c = max(0, round(w.rps[key][i] * w.frame.step / n * math.exp(rng.gauss(0, 0.05))))
            row = cache.rows(key, tuple(bounds), 1000.0)[i]
            prev = 0
            for b, f in enumerate(row):
                cum = round(c * f)
                st["buckets"][b] += cum - prev
                prev = cum
            st["buckets"][-1] += c - prev
            st["count"] += c
            st["sum"] += c * w.mean_ms(key, i) / 1000.0
            st["consumed"] += c
            start_ns = str(int(st["start"] * 1e9))
            now_ns = str(t * 1_000_000_000)
            common = [{"key": "messaging.system", "value": {"stringValue": "kafka"}},
                      {"key": "messaging.destination.name", "value": {"stringValue":
                                                                      "order-events"}}]
            lag = max(0, int(6 + rng.gauss(0, 3) + 4000 * (1 - w.avail[s.name][i])))
            metrics = [
                {"name": "messaging.process.duration", "unit": "s",
                 "description": "Duration of processing operation.",
                 "histogram": {"aggregationTemporality": 2, "dataPoints": [{
                     "attributes": common, "startTimeUnixNano": start_ns, "timeUnixNano": now_ns,
                     "count": str(st["count"]), "sum": round(st["sum"], 6),
                     "bucketCounts": [str(x) for x in st["buckets"]],
                     "explicitBounds": bounds}]}},
                {"name": "messaging.client.consumed.messages", "unit": "{message}",
                 "description": "Number of messages that were delivered to the application.",
                 "sum": {"aggregationTemporality": 2, "isMonotonic": True, "dataPoints": [{
                     "attributes": common, "startTimeUnixNano": start_ns, "timeUnixNano": now_ns,
                     "asInt": str(st["consumed"])}]}},
                {"name": "messaging.kafka.consumer.lag", "unit": "{message}",
                 "description": "Consumer group lag of the partitions assigned to this instance.",
                 "gauge": {"dataPoints": [{"attributes": common, "timeUnixNano": now_ns,
                                           "asInt": str(lag)}]}},
            ]
            points += 3
            version = next((r.version for r in w.revisions[s.name] if r.number == pod.revision),
                           s.version)
            resource_metrics.append({
                "resource": resource(s, pod, version),
                "scopeMetrics": [{"scope": {"name": "Shop.Notification", "version": "1.4.3"},
                                  "metrics": metrics}]})
        if resource_metrics:
            sink.json_line({"resourceMetrics": resource_metrics}, points)
    return sink.close()
