"""PromQL expressions for the differential test: a curated list plus ones generated from the
grammar (selectors x range functions x aggregations x operators), and the comparison rule.

Two data sets: ``EDGE`` (tests/metrics/data/edge.om: resets, gaps, NaN, +Inf, irregular
scrapes) and ``SCENARIO`` (a simulator bundle: real exporter naming, histograms).
"""

from __future__ import annotations

import json
import math
import random
from typing import Any

EDGE_START = 1767225600  # 2026-01-01T00:00:00Z; edge.om covers two hours
EDGE_SELECTORS = [
    "edge_requests_total",
    'edge_requests_total{code="500"}',
    'edge_requests_total{instance=~"a|c"}',
    'edge_requests_total{instance!="b"}',
    'edge_requests_total{code!~"2.."}',
    "edge_temperature",
    'edge_temperature{room=~"r[ab]"}',
    "edge_latency_seconds_count",
    "edge_latency_seconds_sum",
]
SCENARIO_SELECTORS = [
    "http_requests_total",
    'http_requests_total{code=~"5.."}',
    'container_cpu_usage_seconds_total{namespace="shop"}',
    "go_goroutines",
    'pg_locks_count{mode!="accesssharelock"}',
    "kube_pod_container_status_restarts_total",
    'hikaricp_connections_pending{service="payment"}',
    "redis_memory_used_bytes",
]
RANGES = ["1m", "2m", "5m", "7m30s", "15m"]
RANGE_FUNCS = ["rate", "irate", "increase", "delta", "idelta", "deriv", "changes", "resets",
               "avg_over_time", "min_over_time", "max_over_time", "sum_over_time",
               "count_over_time", "stddev_over_time", "stdvar_over_time", "last_over_time",
               "present_over_time"]
AGGS = ["sum", "avg", "min", "max", "count", "stddev", "stdvar", "group"]
GROUPINGS = ["", " by (instance)", " without (code)", " by (job, code)", " by ()",
             " without (instance)"]
OPS = ["+", "-", "*", "/", "%", "^", "==", "!=", ">", "<", ">=", "<=", "> bool", "< bool",
       "atan2"]

CURATED_EDGE = [
    "edge_requests_total",
    "edge_requests_total offset 10m",
    "edge_requests_total @ 1767229200",
    "edge_requests_total @ 1767229200 offset 5m",
    "rate(edge_requests_total[5m])",
    "rate(edge_requests_total[5m] offset 3m)",
    "rate(edge_requests_total[5m] @ end())",
    "rate(edge_requests_total[5m] @ start())",
    "increase(edge_requests_total[15m])",
    "irate(edge_requests_total[1m])",
    "delta(edge_temperature[10m])",
    "idelta(edge_temperature[2m])",
    "deriv(edge_temperature[10m])",
    "predict_linear(edge_temperature[15m], 600)",
    "resets(edge_requests_total[30m])",
    "changes(edge_temperature[10m])",
    "sum by (code) (rate(edge_requests_total[5m]))",
    "sum without (instance) (rate(edge_requests_total[5m]))",
    'sum(rate(edge_requests_total{code="500"}[5m])) / sum(rate(edge_requests_total[5m]))',
    "avg(edge_temperature)",
    "max(edge_temperature) - min(edge_temperature)",
    "count(edge_temperature)",
    "stddev(edge_temperature)",
    "stdvar by (job) (edge_temperature)",
    "quantile(0.9, edge_temperature)",
    "quantile by (room) (0.5, edge_temperature)",
    "topk(1, edge_temperature)",
    "bottomk(2, rate(edge_requests_total[5m]))",
    "topk by (code) (1, rate(edge_requests_total[5m]))",
    'count_values("value", floor(edge_temperature))',
    'count_values by (job) ("v", ceil(edge_temperature / 5))',
    "histogram_quantile(0.5, sum by (le) (rate(edge_latency_seconds_bucket[5m])))",
    "histogram_quantile(0.95, sum by (le, instance) (rate(edge_latency_seconds_bucket[5m])))",
    "histogram_quantile(0.99, rate(edge_latency_seconds_bucket[10m]))",
    "histogram_quantile(0, sum by (le) (rate(edge_latency_seconds_bucket[5m])))",
    "histogram_quantile(1, sum by (le) (rate(edge_latency_seconds_bucket[5m])))",
    "rate(edge_latency_seconds_sum[5m]) / rate(edge_latency_seconds_count[5m])",
    'edge_requests_total{code="500"} / ignoring(code) edge_requests_total{code="200"}',
    'edge_requests_total / on(instance, job) group_left sum by (instance, job) '
    "(edge_requests_total)",
    "sum by (instance, job) (edge_requests_total) / on(instance, job) group_right "
    "edge_requests_total",
    'edge_requests_total * on(instance) group_left(room) edge_temperature',
    "edge_temperature > 22",
    "edge_temperature > bool 22",
    "22 < edge_temperature",
    "22 < bool edge_temperature",
    "edge_temperature == edge_temperature",
    "edge_temperature != bool edge_temperature",
    "edge_temperature and on(instance) edge_requests_total",
    'edge_temperature unless on(instance) edge_requests_total{instance="a"}',
    'edge_temperature or on(instance) rate(edge_requests_total{code="200"}[5m])',
    'edge_requests_total{instance="a"} or edge_requests_total{instance="b"}',
    "-edge_temperature",
    "- - edge_temperature",
    "edge_temperature % 3",
    "2 ^ (edge_temperature / 10)",
    "edge_temperature ^ 2 ^ 0.5",
    "edge_temperature atan2 10",
    "abs(edge_temperature - 20)",
    "ceil(edge_temperature)",
    "floor(edge_temperature)",
    "round(edge_temperature)",
    "round(edge_temperature, 0.25)",
    "round(edge_temperature, 3)",
    "clamp(edge_temperature, 18, 23)",
    "clamp_min(edge_temperature, 21)",
    "clamp_max(edge_temperature, 21)",
    "clamp(edge_temperature, 25, 18)",
    "sqrt(edge_temperature)",
    "exp(edge_temperature / 10)",
    "ln(edge_temperature)",
    "log2(edge_temperature)",
    "log10(edge_temperature)",
    "sgn(edge_temperature - 21)",
    'label_replace(edge_temperature, "node", "node-$1", "instance", "(.*)")',
    'label_replace(edge_temperature, "instance", "", "instance", "a")',
    'label_replace(edge_temperature, "x", "$1$2", "room", "r(.)(.*)")',
    'label_replace(edge_temperature, "x", "${1}y", "room", "r(?P<first>.)")',
    'label_join(edge_temperature, "both", "/", "instance", "room")',
    'absent(edge_temperature{instance="zz", job="edge"})',
    "absent(edge_temperature)",
    'absent_over_time(edge_temperature{instance="c"}[5m])',
    "absent_over_time(nonexistent_metric{a=\"b\"}[5m])",
    "vector(1)",
    "vector(time())",
    "time()",
    "time() - 1767225600",
    "scalar(sum(edge_temperature))",
    "scalar(edge_temperature)",
    "edge_temperature * scalar(count(edge_temperature))",
    "1 + 2 * 3",
    "2 > bool 1",
    "timestamp(edge_temperature)",
    "timestamp(edge_temperature offset 1m)",
    "minute(vector(time()))",
    "hour()",
    "day_of_week()",
    "days_in_month()",
    "month(vector(1767225600))",
    "year()",
    "max_over_time(rate(edge_requests_total[5m])[30m:1m])",
    "avg_over_time(edge_temperature[20m:2m])",
    "rate(edge_requests_total[10m:30s])",
    "min_over_time(sum(edge_temperature)[15m:45s] offset 5m)",
    "max_over_time(deriv(edge_temperature[5m])[10m:])",
    "sum_over_time(edge_temperature[10m:1m] @ 1767229200)",
    "quantile_over_time(0.75, edge_temperature[15m])",
    "quantile_over_time(0.25, rate(edge_requests_total[2m])[10m:1m])",
    "last_over_time(edge_requests_total[10m])",
    "count_over_time(edge_requests_total[10m])",
    "sort(edge_temperature)",
    "sort_desc(rate(edge_requests_total[5m]))",
    "sum(edge_temperature) by (job) + on(job) group_left count(edge_temperature) by (job)",
    "(edge_temperature > 20) + 1",
    "edge_temperature > 100",
    "nonexistent_metric",
    "rate(nonexistent_metric[5m])",
    "sum(nonexistent_metric)",
]

CURATED_SCENARIO = [
    "sum by (service) (rate(http_requests_total[5m]))",
    'sum by (service) (rate(http_requests_total{code=~"5.."}[5m])) / '
    "sum by (service) (rate(http_requests_total[5m]))",
    "histogram_quantile(0.95, sum by (le, service) "
    "(rate(http_server_request_duration_seconds_bucket[5m])))",
    "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket"
    '{service="checkout"}[5m])))',
    "histogram_quantile(0.5, sum by (le, destination_workload) "
    '(rate(istio_request_duration_milliseconds_bucket{reporter="destination"}[5m])))',
    'sum by (pod) (rate(container_cpu_usage_seconds_total{container!=""}[5m]))',
    "sum by (pod) (rate(container_cpu_cfs_throttled_periods_total[5m])) / "
    "sum by (pod) (rate(container_cpu_cfs_periods_total[5m]))",
    "max by (pod) (container_memory_working_set_bytes) / on(pod) max by (pod) "
    '(kube_pod_container_resource_limits{resource="memory"})',
    "increase(kube_pod_container_status_restarts_total[15m]) > 0",
    "sum(pg_stat_activity_count) / max(pg_settings_max_connections)",
    "sum by (mode) (pg_locks_count) > 0",
    "max_over_time(pg_stat_activity_max_tx_duration[10m])",
    "redis_memory_used_bytes / redis_memory_max_bytes",
    "rate(redis_keyspace_hits_total[5m]) / (rate(redis_keyspace_hits_total[5m]) + "
    "rate(redis_keyspace_misses_total[5m]))",
    "topk(3, sum by (service) (rate(http_server_requests_seconds_count[5m])))",
    'sum(rate(http_client_requests_seconds_count{client_name="api.paygw.example.com"}[5m]))',
    "avg by (service) (go_goroutines)",
    "count by (namespace) (kube_pod_container_resource_requests)",
    "sum by (horizontalpodautoscaler) (kube_horizontalpodautoscaler_status_current_replicas) / "
    "sum by (horizontalpodautoscaler) (kube_horizontalpodautoscaler_spec_max_replicas)",
    "rate(node_netstat_Tcp_RetransSegs[5m])",
    "min(probe_success) by (instance)",
    "deriv(kubelet_volume_stats_used_bytes[30m])",
    "predict_linear(kubelet_volume_stats_available_bytes[1h], 4 * 3600) < 0",
    "sum(rate(hikaricp_connections_timeout_total[5m])) by (service)",
    "max(nodejs_eventloop_lag_p99_seconds) by (service)",
    "sum without (pod, instance) (rate(http_server_request_duration_seconds_count[5m]))",
    "go_goroutines and on(pod) (go_memstats_heap_inuse_bytes > 1e7)",
    "rate(envoy_listener_ssl_connection_error[5m])",
    "label_replace(sum by (pod) (rate(container_cpu_usage_seconds_total[5m])), \"app\", "
    "\"$1\", \"pod\", \"(.*)-[a-z0-9]+-[a-z0-9]+\")",
    "quantile(0.9, sum by (pod) (rate(container_cpu_usage_seconds_total[5m])))",
]


def generated(selectors: list[str], n: int, seed: int) -> list[str]:
    """Expressions built from the grammar, deterministic for a seed."""
    rng = random.Random(seed)
    out: list[str] = []
    counters = [s for s in selectors if "total" in s or "count" in s or "sum" in s]
    while len(out) < n:
        kind = rng.choice(["range", "agg_range", "binop", "agg", "sub", "scalar_op", "set",
                           "func"])
        sel = rng.choice(selectors)
        rsel = rng.choice(counters or selectors)
        rng_ = rng.choice(RANGES)
        fn = rng.choice(RANGE_FUNCS)
        if kind == "range":
            expr = f"{fn}({sel}[{rng_}])"
        elif kind == "agg_range":
            expr = f"{rng.choice(AGGS)}{rng.choice(GROUPINGS)} (rate({rsel}[{rng_}]))"
        elif kind == "binop":
            a = f"rate({rsel}[{rng_}])"
            b = rng.choice([f"rate({rsel}[{rng.choice(RANGES)}])", sel,
                            f"{rng.choice(AGGS)}({sel})"])
            mod = rng.choice(["", " ignoring(code)", " on(instance, job)", ""])
            op = rng.choice(OPS)
            if b.startswith(tuple(AGGS)) and "(" in b:
                mod = " on() group_left"
            expr = f"{a} {op}{mod} {b}"
        elif kind == "agg":
            agg = rng.choice([*AGGS, "topk", "bottomk", "quantile"])
            inner = rng.choice([sel, f"{fn}({sel}[{rng_}])"])
            if agg in ("topk", "bottomk"):
                expr = f"{agg}{rng.choice(GROUPINGS)} ({rng.randint(1, 3)}, {inner})"
            elif agg == "quantile":
                expr = f"quantile{rng.choice(GROUPINGS)} ({rng.choice([0.1, 0.5, 0.9])}, {inner})"
            else:
                expr = f"{agg}{rng.choice(GROUPINGS)} ({inner})"
        elif kind == "sub":
            inner = rng.choice([f"rate({rsel}[{rng_}])", sel, f"sum({sel})"])
            step = rng.choice(["30s", "1m", "90s", ""])
            outer = rng.choice(["max_over_time", "min_over_time", "avg_over_time",
                                "sum_over_time", "count_over_time", "last_over_time",
                                "stddev_over_time"])
            expr = f"{outer}({inner}[{rng.choice(['5m', '10m', '20m'])}:{step}])"
        elif kind == "scalar_op":
            op = rng.choice(["+", "-", "*", "/", ">", "<", "> bool", "<= bool", "%"])
            val = rng.choice(["0", "1", "0.5", "100", "-3"])
            expr = f"{sel} {op} {val}" if rng.random() < 0.5 else f"{val} {op} {sel}"
        elif kind == "set":
            a, b = rng.choice(selectors), rng.choice(selectors)
            op = rng.choice(["and", "or", "unless"])
            mod = rng.choice(["", " on(instance)", " ignoring(code)", " on(job)"])
            expr = f"{a} {op}{mod} {b}"
        else:
            f1 = rng.choice(["abs", "ceil", "floor", "sqrt", "ln", "exp", "sgn", "round",
                             "clamp_min", "clamp_max", "timestamp"])
            if f1 in ("clamp_min", "clamp_max"):
                expr = f"{f1}({sel}, {rng.choice([0, 10, 100])})"
            else:
                expr = f"{f1}({sel})"
        if expr not in out:
            out.append(expr)
    return out


def close(a: str, b: str) -> bool:
    """Values equal within 1e-9 relative (and NaN equals NaN)."""
    fa, fb = float(a), float(b)
    if math.isnan(fa) or math.isnan(fb):
        return math.isnan(fa) and math.isnan(fb)
    if fa == fb:
        return True
    return math.isclose(fa, fb, rel_tol=1e-9)


def _values_by_time(data: dict[str, Any]) -> dict[Any, list[float]]:
    out: dict[Any, list[float]] = {}
    for r in data["result"]:
        for t, v in r.get("values") or [r["value"]]:
            out.setdefault(t, []).append(float(v))
    return {t: sorted(vs, key=lambda x: (math.isnan(x), x)) for t, vs in out.items()}


def diff(prom: dict[str, Any], emb: dict[str, Any], *, ties: bool = False) -> str | None:
    """None when both data objects agree; else what differs.

    ``ties``: topk/bottomk in a range query. Prometheus feeds them series in map order
    there (its rangeEval collects steps in a Go map), so which of several equal values
    is kept is not defined; then the values selected at each step must agree.
    """
    if ties and prom["resultType"] == emb["resultType"] == "matrix":
        if diff(prom, emb) is None:
            return None
        pv, ev = _values_by_time(prom), _values_by_time(emb)
        if set(pv) != set(ev):
            return "topk/bottomk: steps differ"
        for t, vals in pv.items():
            other = ev[t]
            if len(vals) != len(other) or not all(close(repr(a), repr(b))
                                                  for a, b in zip(vals, other, strict=True)):
                return f"topk/bottomk at {t}: Prometheus kept {vals}, embedded {other}"
        return None
    if prom["resultType"] != emb["resultType"]:
        return f"resultType {prom['resultType']} vs {emb['resultType']}"
    if prom["resultType"] in ("scalar", "string"):
        pv, ev = prom["result"], emb["result"]
        if pv[0] != ev[0] or not close(pv[1], ev[1]):
            return f"{pv} vs {ev}"
        return None

    def key(r: dict[str, Any]) -> str:
        return json.dumps(r["metric"], sort_keys=True)

    pm = {key(r): r for r in prom["result"]}
    em = {key(r): r for r in emb["result"]}
    if set(pm) != set(em):
        return (f"label sets differ: only Prometheus {sorted(set(pm) - set(em))[:3]}, "
                f"only embedded {sorted(set(em) - set(pm))[:3]}")
    for k, a in pm.items():
        b = em[k]
        pa = a.get("values") or [a["value"]]
        pb = b.get("values") or [b["value"]]
        ta, tb = [p[0] for p in pa], [p[0] for p in pb]
        if ta != tb:
            missing = sorted(set(ta) ^ set(tb))[:4]
            return f"{k}: points at different times ({len(ta)} vs {len(tb)}; e.g. {missing})"
        for x, y in zip(pa, pb, strict=True):
            if not close(x[1], y[1]):
                return f"{k} at {x[0]}: Prometheus {x[1]} vs embedded {y[1]}"
    return None
