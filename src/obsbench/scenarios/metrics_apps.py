"""Application metrics, each service in the naming convention its stack really uses.

- OpenTelemetry semantic conventions (frontend, user-api):
  ``http_server_request_duration_seconds`` with ``http_request_method``,
  ``http_response_status_code``, ``http_route``; ``db_client_connection_*``.
- Prometheus client_golang defaults (checkout, inventory): ``http_requests_total{code,
  method,handler}`` and ``http_request_duration_seconds{handler,method}``; ``go_*``.
- Spring Boot Micrometer (payment, orders): ``http_server_requests_seconds{uri,status,
  outcome,method,exception}``, ``http_client_requests_seconds``, ``hikaricp_*``, ``jvm_*``.
- Istio/Envoy (api-gateway): ``istio_requests_total`` and
  ``istio_request_duration_milliseconds`` with source/destination workload labels.

Scrape target labels are those a kube-prometheus ServiceMonitor attaches
(``namespace``, ``pod``, ``container``, ``service``, ``job``, ``instance``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from obsbench.scenarios.load import PodLoad, cumulative, scraped_steps
from obsbench.scenarios.openmetrics import OMWriter
from obsbench.scenarios.topology import Service
from obsbench.scenarios.world import Pod, RouteKey, World, default_exception

OTEL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
PROM_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MICROMETER_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ISTIO_BUCKETS_MS = (0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0,
                    5000.0, 10000.0, 30000.0, 60000.0, 300000.0, 600000.0, 1800000.0,
                    3600000.0)


def target_labels(svc: Service, pod: Pod) -> dict[str, str]:
    return {"container": svc.container_name, "instance": f"{pod.ip}:{svc.port}",
            "job": svc.name, "namespace": svc.namespace, "pod": pod.name,
            "service": svc.name}


class CdfCache:
    """Bucket CDF rows per route and step (the same row feeds every pod's histogram)."""

    def __init__(self, w: World) -> None:
        self.w = w
        self._rows: dict[tuple[RouteKey, tuple[float, ...], float], list[list[float]]] = {}
        self._slowest: dict[tuple[RouteKey, int], float] = {}

    def slowest(self, key: RouteKey, i: int) -> float:
        """The slowest request of a step (seconds), approximated by the 99.5th percentile."""
        v = self._slowest.get((key, i))
        if v is None:
            v = self._slowest[(key, i)] = self.w.quantile(key, i, 0.995) / 1000.0
        return v

    def rows(self, key: RouteKey, bounds: tuple[float, ...], unit_ms: float) -> list[list[float]]:
        ck = (key, bounds, unit_ms)
        hit = self._rows.get(ck)
        if hit is None:
            w = self.w
            hit = [[w.cdf(key, i, b * unit_ms) for b in bounds] for i in range(w.frame.n)]
            self._rows[ck] = hit
        return hit


def _age_factor(w: World, load: PodLoad) -> float:
    """Seconds of traffic a counter had seen before the window (0 for pods born inside it)."""
    if not load.steps:
        return 0.0
    t0 = w.frame.t(load.steps[0])
    return max(0.0, t0 - load.pod.container_start(t0)) * 0.55


def write_histogram(  # noqa: PLR0917
        om: OMWriter, name: str, labels: dict[str, str], times: Sequence[int],
                    counts: list[int], rows: list[list[float]], means_s: list[float],
                    starts: list[bool], bounds: tuple[float, ...], prior_s: float,
                    step: int, rng_mu: float) -> None:
    """One histogram series set: every bucket, ``+Inf``, ``_sum`` and ``_count``."""
    prior_n = 0
    if prior_s > 0 and counts:
        prior_n = int(sum(counts) / max(1, len(counts)) / step * prior_s)
    first_row = rows[0] if rows else [1.0] * len(bounds)
    for b_i, b in enumerate(bounds):
        incs = [round(c * row[b_i]) for c, row in zip(counts, rows, strict=True)]
        vals = cumulative(incs, starts)
        base = round(prior_n * first_row[b_i])
        if base:
            vals = _offset_first_run(vals, starts, base)
        om.series(f"{name}_bucket", {**labels, "le": repr(float(b))}, times, vals)
    vals = cumulative(list(counts), starts)
    if prior_n:
        vals = _offset_first_run(vals, starts, prior_n)
    om.series(f"{name}_bucket", {**labels, "le": "+Inf"}, times, vals)
    sums = [c * m * rng_mu for c, m in zip(counts, means_s, strict=True)]
    svals = cumulative(sums, starts)
    if prior_n:
        svals = _offset_first_run(svals, starts, prior_n * (means_s[0] if means_s else 0.0))
    om.series(f"{name}_sum", labels, times, svals)
    om.series(f"{name}_count", labels, times, vals)


def _offset_first_run(vals: list[int | float], starts: list[bool],
                      base: float) -> list[int | float]:
    """Add a pre-window total to the values up to the first container restart."""
    out = list(vals)
    for k in range(len(out)):
        if k > 0 and starts[k]:
            break
        out[k] = out[k] + (int(base) if isinstance(out[k], int) else base)
    return out


def _code_series(load: PodLoad, op: str) -> dict[str, list[int]]:
    """Per status code, the per-step counts (codes appear from their first occurrence)."""
    codes = sorted({c for step in load.counts[op] for c in step})
    return {code: [step.get(code, 0) for step in load.counts[op]] for code in codes}


def _trim(counts: list[int], times: list[int], rows: list[list[float]], means: list[float],
          starts: list[bool]) -> tuple[list[int], list[int], list[list[float]], list[float],
                                       list[bool]]:
    """Drop the steps before a label set's first observation (the series did not exist)."""
    for k, c in enumerate(counts):
        if c > 0:
            st = list(starts[k:])
            st[0] = True
            return counts[k:], times[k:], rows[k:], means[k:], st
    return [], [], [], [], []


def _means(w: World, key: RouteKey, steps: list[int]) -> list[float]:
    return [w.mean_ms(key, i) / 1000.0 for i in steps]


def _times(w: World, steps: list[int]) -> list[int]:
    return [w.frame.t(i) for i in steps]


# -- conventions -----------------------------------------------------------------------------


def write_otel(om: OMWriter, w: World, svc: Service, loads: list[PodLoad],
               cache: CdfCache) -> None:
    name = "http_server_request_duration_seconds"
    om.family(name, "histogram", "Duration of HTTP server requests.", "seconds")
    for load in loads:
        times_all = _times(w, load.steps)
        base = target_labels(svc, load.pod)
        prior = _age_factor(w, load)
        for r in svc.routes:
            key = (svc.name, r.op)
            rows_all = [cache.rows(key, OTEL_BUCKETS, 1000.0)[i] for i in load.steps]
            means_all = _means(w, key, load.steps)
            for code, counts in _code_series(load, r.op).items():
                c, t, rows, means, st = _trim(counts, times_all, rows_all, means_all,
                                              load.starts)
                if not c:
                    continue
                labels = {**base, "http_request_method": r.method,
                          "http_response_status_code": code, "http_route": r.path}
                write_histogram(om, name, labels, t, c, rows, means, st, OTEL_BUCKETS,
                                prior if code.startswith("2") else 0.0, w.frame.step, 1.0)
    om.family("target_info", "gauge", "Target metadata")
    for load in loads:
        rev = w.revisions[svc.name]
        version = next((r.version for r in rev if r.number == load.pod.revision), svc.version)
        labels = {**target_labels(svc, load.pod), "service_name": svc.name,
                  "service_namespace": "shop", "service_version": version,
                  "telemetry_sdk_language": "nodejs" if svc.language == "node" else svc.language,
                  "telemetry_sdk_name": "opentelemetry"}
        om.series("target_info", labels, _times(w, load.steps), [1] * len(load.steps))


def write_prometheus_client(om: OMWriter, w: World, svc: Service, loads: list[PodLoad],
                            cache: CdfCache) -> None:
    om.family("http_requests", "counter", "Total number of HTTP requests by status code, "
              "method and handler.")
    for load in loads:
        times = _times(w, load.steps)
        base = target_labels(svc, load.pod)
        prior = _age_factor(w, load)
        for r in svc.routes:
            for code, counts in _code_series(load, r.op).items():
                c, t, _, _, st = _trim(counts, times, [[]] * len(times), [0.0] * len(times),
                                       load.starts)
                if not c:
                    continue
                vals = cumulative(list(c), st)
                if prior and code.startswith("2"):
                    vals = _offset_first_run(vals, st, int(sum(c) / len(c) / w.frame.step
                                                           * prior))
                om.series("http_requests_total", {**base, "code": code, "handler": r.path,
                                                  "method": r.method.lower()}, t, vals)
    name = "http_request_duration_seconds"
    om.family(name, "histogram", "Latency of HTTP requests by handler and method.", "seconds")
    for load in loads:
        times = _times(w, load.steps)
        base = target_labels(svc, load.pod)
        prior = _age_factor(w, load)
        for r in svc.routes:
            key = (svc.name, r.op)
            totals = [sum(step.values()) for step in load.counts[r.op]]
            rows = [cache.rows(key, PROM_BUCKETS, 1000.0)[i] for i in load.steps]
            write_histogram(om, name, {**base, "handler": r.path, "method": r.method.lower()},
                            times, totals, rows, _means(w, key, load.steps), load.starts,
                            PROM_BUCKETS, prior, w.frame.step, 1.0)


def write_micrometer_server(om: OMWriter, w: World, svc: Service, loads: list[PodLoad],
                            cache: CdfCache) -> None:
    name = "http_server_requests_seconds"
    om.family(name, "histogram", "HTTP server request processing time", "seconds")
    maxes: list[tuple[dict[str, str], list[int], list[float]]] = []
    for load in loads:
        times_all = _times(w, load.steps)
        base = {**target_labels(svc, load.pod), "application": svc.name}
        prior = _age_factor(w, load)
        for r in svc.routes:
            key = (svc.name, r.op)
            rows_all = [cache.rows(key, MICROMETER_BUCKETS, 1000.0)[i] for i in load.steps]
            means_all = _means(w, key, load.steps)
            for code, counts in _code_series(load, r.op).items():
                for exc, part in _by_exception(w, svc, r.op, code, counts, load.steps):
                    c, t, rows, means, st = _trim(part, times_all, rows_all, means_all,
                                                  load.starts)
                    if not c:
                        continue
                    labels = {**base, "exception": exc, "method": r.method,
                              "outcome": _outcome(code), "status": code, "uri": r.path}
                    write_histogram(om, name, labels, t, c, rows, means, st, MICROMETER_BUCKETS,
                                    prior if code.startswith("2") else 0.0, w.frame.step, 1.0)
                    q99 = [cache.slowest(key, i) for i in load.steps]
                    maxes.append((labels, t, q99[len(q99) - len(t):]))
    om.family(f"{name}_max", "gauge", "HTTP server request processing time (max over the "
              "last step)", "seconds")
    for labels, t, vals in maxes:
        om.series(f"{name}_max", labels, t, vals)




def _outcome(code: str) -> str:
    if code.startswith("2"):
        return "SUCCESS"
    if code.startswith("4"):
        return "CLIENT_ERROR"
    return "SERVER_ERROR"


def _by_exception(w: World, svc: Service, op: str, code: str, counts: list[int],  # noqa: PLR0917
                  steps: list[int]) -> list[tuple[str, list[int]]]:
    """Micrometer's ``exception`` tag splits a status into one series per exception type:
    the everyday failures and the ones the fault throws."""
    if code.startswith("2"):
        return [("none", counts)]
    fault_exc = w.exception_for(svc.name, op, code)
    everyday_exc = default_exception(svc.name, code)
    if fault_exc == everyday_exc:
        return [(fault_exc, counts)]
    fault = [round(c * w.fault_share((svc.name, op), i, code)) for c, i in
             zip(counts, steps, strict=True)]
    everyday = [c - f for c, f in zip(counts, fault, strict=True)]
    return sorted([(everyday_exc, everyday), (fault_exc, fault)])


def write_micrometer_client(om: OMWriter, w: World, svc: Service, cache: CdfCache) -> None:
    """payment's RestClient calls to the external PSP (the PSP has no metrics of its own)."""
    name = "http_client_requests_seconds"
    om.family(name, "histogram", "HTTP client request processing time", "seconds")
    key = ("payment-gateway", "POST /v1/charges")
    rng = w.rng("psp-client")
    for pod in w.pods[svc.name]:
        steps, starts = scraped_steps(w, pod)
        if not steps:
            continue
        times = _times(w, steps)
        running = [max(1, w.n_ready[svc.name][i]) for i in steps]
        totals = [max(0, round(w.rps[key][i] * w.frame.step / n * math.exp(rng.gauss(0, 0.05))))
                  for i, n in zip(steps, running, strict=True)]
        errs = [w.error_ratio(key, i) for i in steps]
        base = {**target_labels(svc, pod), "application": svc.name,
                "client_name": "api.paygw.example.com", "method": "POST", "uri": "/v1/charges"}
        rows = [cache.rows(key, MICROMETER_BUCKETS, 1000.0)[i] for i in steps]
        means = _means(w, key, steps)
        for status, share in (("200", None), ("503", "err")):
            if share is None:
                counts = [round(tot * (1 - e)) for tot, e in zip(totals, errs, strict=True)]
            else:
                counts = [round(tot * e) for tot, e in zip(totals, errs, strict=True)]
            c, t, r_, m_, st = _trim(counts, times, rows, means, starts)
            if not c:
                continue
            exc = "none" if status == "200" else "HttpServerErrorException"
            labels = {**base, "exception": exc, "outcome": _outcome(status), "status": status}
            write_histogram(om, name, labels, t, c, r_, m_, st, MICROMETER_BUCKETS, 0.0,
                            w.frame.step, 1.0)


def write_istio(om: OMWriter, w: World, svc: Service, loads: list[PodLoad],
                cache: CdfCache) -> None:
    """The gateway's Envoy: inbound (reporter=destination) and towards frontend (source)."""
    inbound = {"connection_security_policy": "none", "destination_app": svc.name,
               "destination_service": f"{svc.name}.{svc.namespace}.svc.cluster.local",
               "destination_service_name": svc.name,
               "destination_workload": svc.name, "destination_workload_namespace": svc.namespace,
               "reporter": "destination", "request_protocol": "http", "response_flags": "-",
               "source_workload": "unknown", "source_workload_namespace": "unknown"}
    outbound = {"connection_security_policy": "mutual_tls", "destination_app": "frontend",
                "destination_service": "frontend.shop.svc.cluster.local",
                "destination_service_name": "frontend", "destination_workload": "frontend",
                "destination_workload_namespace": "shop", "reporter": "source",
                "request_protocol": "http", "response_flags": "-",
                "source_workload": svc.name, "source_workload_namespace": svc.namespace}

    def merged(load: PodLoad) -> dict[str, list[int]]:
        per: dict[str, list[int]] = {}
        for r in svc.routes:
            for code, counts in _code_series(load, r.op).items():
                acc = per.setdefault(code, [0] * len(counts))
                for k, v in enumerate(counts):
                    acc[k] += v
        return per

    def labels_for(load: PodLoad, fixed: dict[str, str], code: str) -> dict[str, str]:
        lab = {**fixed, "response_code": code}
        if code == "503":
            lab["response_flags"] = "UO" if fixed["reporter"] == "destination" else "UF"
        elif code == "504":
            lab["response_flags"] = "UT"
        return {"instance": f"{load.pod.ip}:15090", "job": "envoy-stats",
                "namespace": svc.namespace, "pod": load.pod.name, **lab}

    om.family("istio_requests", "counter", "Total requests handled by an Istio proxy")
    for fixed in (inbound, outbound):
        for load in loads:
            times = _times(w, load.steps)
            for code, counts in merged(load).items():
                c, t, _, _, st = _trim(counts, times, [[]] * len(times), [0.0] * len(times),
                                       load.starts)
                if c:
                    om.series("istio_requests_total", labels_for(load, fixed, code), t,
                              cumulative(list(c), st))
    name = "istio_request_duration_milliseconds"
    om.family(name, "histogram", "Istio request duration (ms) at the destination proxy")
    for load in loads:
        times = _times(w, load.steps)
        # All routes into one distribution per code: weight each route's CDF by its traffic.
        per = merged(load)
        rows, means = [], []
        for k, i in enumerate(load.steps):
            tot = 0.0
            acc = [0.0] * len(ISTIO_BUCKETS_MS)
            mean = 0.0
            for r in svc.routes:
                key = (svc.name, r.op)
                n = sum(load.counts[r.op][k].values())
                if not n:
                    continue
                tot += n
                row = cache.rows(key, ISTIO_BUCKETS_MS, 1.0)[i]
                for b in range(len(acc)):
                    acc[b] += n * row[b]
                mean += n * w.mean_ms(key, i)
            rows.append([a / tot for a in acc] if tot else [1.0] * len(acc))
            means.append(mean / tot if tot else 0.0)
        for code, counts in per.items():
            c, t, rr, mm, st = _trim(counts, times, rows, means, load.starts)
            if c:
                write_histogram(om, name, labels_for(load, inbound, code), t, c, rr, mm, st,
                                ISTIO_BUCKETS_MS, 0.0, w.frame.step, 1.0)

