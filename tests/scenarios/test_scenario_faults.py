"""Each fault shows in the written files as an SRE would measure it, and propagates upstream.

Every number here is computed from the bundle's files with the independent
reader in scenario_data (buckets -> histogram_quantile, counters -> ratios,
Kubernetes JSON, OTLP spans, log lines), before and after the truth's onset.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable
from pathlib import Path

from scenario_data import (
    attr,
    error_ratio,
    hist_quantile,
    increase,
    jsonl,
    k8s_items,
    manifest,
    parse_om,
    rfc,
    select,
    spans,
)

MIN = 60


def _onset(out: Path) -> tuple[int, int, int]:
    m = manifest(out)
    return rfc(m["window"]["start"]), rfc(m["truth"]["onset"]), rfc(m["window"]["end"])


def _p95(buckets: list, lo: int, hi: int) -> float:
    return hist_quantile(0.95, buckets, lo, hi)


def test_a_bad_deploy_latency_and_errors(bundle_dir: Callable[..., Path]) -> None:
    out = bundle_dir("bad-deploy-db-pool")
    _start, onset, end = _onset(out)
    s = parse_om(out / "metrics" / "user-api.om")
    route = {"http_route": "/v1/users/{id}"}
    buckets = select(s, "http_server_request_duration_seconds_bucket", **route)
    before = _p95(buckets, onset - 40 * MIN, onset - 5 * MIN)
    after = _p95(buckets, onset + 15 * MIN, end)
    assert 0.07 < before < 0.14, before  # ~100 ms
    assert 1.6 < after < 3.0, after  # ~2 s
    counts = select(s, "http_server_request_duration_seconds_count", **route)
    e_before = error_ratio(counts, "http_response_status_code", onset - 60 * MIN, onset - 5 * MIN)
    e_after = error_ratio(counts, "http_response_status_code", onset + 15 * MIN, end)
    assert e_before < 0.003, e_before  # ~0.1%
    assert 0.035 < e_after < 0.075, e_after  # ~5%
    # The pool is what runs out: used connections at the max, requests pending.
    pend = select(s, "db_client_connection_pending_requests")
    assert max(v for _, p in pend for t, v in p if t > onset + 10 * MIN) >= 5
    assert max(v for _, p in pend for t, v in p if t < onset) <= 1
    # The rollout of 2.3.1 is in the ReplicaSet history at the onset.
    rs = [r for r in k8s_items(out, "replicasets") if r["metadata"]["name"].startswith("user-api-")]
    new = max(rs, key=lambda r: r["metadata"]["creationTimestamp"])
    assert new["metadata"]["annotations"]["kubernetes.io/change-cause"].startswith("deploy 2.3.1")
    assert rfc(new["metadata"]["creationTimestamp"]) == onset
    # N+1: traces after the deploy carry ~24 preference queries per user lookup.
    per_trace: dict[str, int] = {}
    for svc, sp in spans(out):
        if svc == "user-api" and sp["name"] == "SELECT user_preferences" and \
                int(sp["startTimeUnixNano"]) > (onset + 5 * MIN) * 10**9:
            per_trace[sp["parentSpanId"]] = per_trace.get(sp["parentSpanId"], 0) + 1
    assert per_trace and statistics.median(per_trace.values()) >= 20


def test_a_propagates_upstream_after_the_onset(bundle_dir: Callable[..., Path]) -> None:
    """Callers' latency rises after the cause's onset, not before, and not before the cause."""
    out = bundle_dir("bad-deploy-db-pool")
    start, onset, end = _onset(out)
    first = {}
    for svc, labels in (("user-api", {"http_route": "/v1/users/{id}"}),
                        ("frontend", {"http_route": "/product/{id}"})):
        b = select(parse_om(out / "metrics" / f"{svc}.om"),
                   "http_server_request_duration_seconds_bucket", **labels)
        base = _p95(b, start + 30 * MIN, onset - 10 * MIN)
        t = start + 30 * MIN
        while t < end:
            if _p95(b, t - 5 * MIN, t) > 3 * base:
                first[svc] = t
                break
            t += MIN
    gw = select(parse_om(out / "metrics" / "api-gateway.om"),
                "istio_request_duration_milliseconds_bucket")
    base = _p95(gw, start + 30 * MIN, onset - 10 * MIN)
    t = start + 30 * MIN
    while t < end and _p95(gw, t - 5 * MIN, t) < 3 * base:
        t += MIN
    first["api-gateway"] = t
    assert onset <= first["user-api"] <= first["frontend"] <= first["api-gateway"] < end
    assert first["api-gateway"] - onset < 20 * MIN


def test_b_external_dependency_no_deploy(bundle_dir: Callable[..., Path]) -> None:
    out = bundle_dir("external-dependency-slowdown")
    start, onset, end = _onset(out)
    pay = parse_om(out / "metrics" / "payment.om")
    psp = select(pay, "http_client_requests_seconds_bucket", client_name="api.paygw.example.com")
    assert _p95(psp, onset + 10 * MIN, end) > 4 * _p95(psp, onset - 60 * MIN, onset - 5 * MIN)
    chk = select(parse_om(out / "metrics" / "checkout.om"), "http_request_duration_seconds_bucket",
                 handler="/v1/checkout")
    b, a = _p95(chk, onset - 60 * MIN, onset - 5 * MIN), _p95(chk, onset + 10 * MIN, end)
    assert a > 3 * b, (b, a)
    # Caller timeline: the PSP client slows first, checkout not before it.
    def first_rise(buckets: list, base: float) -> int:
        t = onset - 30 * MIN
        while _p95(buckets, t - 5 * MIN, t) < 2.5 * base:
            t += MIN
        return t
    t_psp = first_rise(psp, _p95(psp, start, onset - 10 * MIN))
    t_chk = first_rise(chk, b)
    assert onset <= t_psp <= t_chk
    # No rollout at all in the checkout path inside the window.
    path = ("frontend-", "checkout-", "payment-", "orders-", "inventory-")
    inside = [r["metadata"]["name"] for r in k8s_items(out, "replicasets")
              if r["metadata"]["name"].startswith(path)
              and start <= rfc(r["metadata"]["creationTimestamp"]) <= end]
    assert inside == []
    # The PSP itself has no telemetry of its own: no spans from it, only payment's client spans.
    services = {svc for svc, _ in spans(out)}
    assert "payment-gateway" not in services
    clients = [sp for svc, sp in spans(out) if svc == "payment" and
               attr(sp, "peer.service") == "payment-gateway"]
    assert clients


def test_c_capacity_p95_is_800m_of_2000m(bundle_dir: Callable[..., Path]) -> None:
    out = bundle_dir("capacity-rightsizing")
    start, _, end = _onset(out)
    assert end - start >= 30 * 86400 - 60
    files = [*sorted((out / "metrics").glob("history-api-gateway-*.om")),
             out / "metrics" / "kubelet.om"]
    assert len(files) >= 30
    rates = []
    throttled = 0.0
    for f in files:
        s = parse_om(f, {"container_cpu_usage_seconds_total",
                         "container_cpu_cfs_throttled_periods_total"})
        for lab, pts in select(s, "container_cpu_usage_seconds_total", container="envoy"):
            assert lab["namespace"] == "edge"
            for (t0, v0), (t1, v1) in itertools.pairwise(pts):
                rates.append((v1 - v0) / (t1 - t0) if v1 >= v0 else v1 / (t1 - t0))
        throttled += sum(increase(p, start, end) for _, p in
                         select(s, "container_cpu_cfs_throttled_periods_total", container="envoy"))
    rates.sort()
    p95 = rates[int(0.95 * (len(rates) - 1))]
    assert abs(p95 - 0.8) < 0.04, p95
    assert throttled == 0
    deps = {d["metadata"]["name"]: d for d in k8s_items(out, "deployments")}
    res = deps["api-gateway"]["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert res["requests"]["cpu"] == "2000m" and res["limits"]["cpu"] == "4000m"
    ksm = parse_om(out / "metrics" / "kube-state-metrics.om",
                   {"kube_pod_container_resource_requests"})
    reqs = {v for _, p in select(ksm, "kube_pod_container_resource_requests", container="envoy",
                                 resource="cpu") for _, v in p}
    assert reqs == {2.0}
    # A P95 x 1.25 recommendation lands within 10% of 1000m.
    assert abs(p95 * 1.25 - 1.0) <= 0.1


def test_d_table_lock_for_two_and_a_half_hours(bundle_dir: Callable[..., Path]) -> None:
    out = bundle_dir("batch-table-lock")
    start, onset, _end = _onset(out)
    pg = parse_om(out / "metrics" / "postgres-exporter.om")
    ((_, lock),) = select(pg, "pg_locks_count", mode="sharerowexclusivelock")
    held = [t for t, v in lock if v >= 1]
    assert onset <= held[0] <= onset + 3 * MIN
    assert 2.3 * 3600 <= held[-1] - held[0] <= 2.7 * 3600
    ((_, tx),) = select(pg, "pg_stat_activity_max_tx_duration", state="active")
    assert max(v for _, v in tx) > 8500
    waits = [r for r in jsonl(out / "logs" / "postgres.jsonl")
             if "still waiting for RowExclusiveLock" in r["message"]]
    assert waits and all(onset <= rfc(r["ts"][:19] + "Z") <= held[-1] + MIN for r in waits)
    assert any("statement timeout" in r["message"] for r in jsonl(out / "logs" / "postgres.jsonl"))
    orders = select(parse_om(out / "metrics" / "orders.om"), "http_server_requests_seconds_count",
                    uri="/v1/orders", method="POST")
    assert error_ratio(orders, "status", onset + 10 * MIN, held[-1] - 10 * MIN) > 0.8
    assert error_ratio(orders, "status", start, onset - 5 * MIN) < 0.01
    (job,) = k8s_items(out, "jobs")
    assert job["status"]["failed"] == 1
    cron = k8s_items(out, "cronjobs")[0]
    assert cron["spec"]["schedule"] == "0 2 * * *"


def test_e_memory_leak_ends_in_oomkilled_crash_loop(bundle_dir: Callable[..., Path]) -> None:
    out = bundle_dir("memory-leak-oom")
    _start, onset, _end = _onset(out)
    pods = [p for p in k8s_items(out, "pods") if p["metadata"]["name"].startswith("inventory-")]
    statuses = [p["status"]["containerStatuses"][0] for p in pods]
    assert all(s["lastState"]["terminated"]["reason"] == "OOMKilled" for s in statuses)
    assert all(s["lastState"]["terminated"]["exitCode"] == 137 for s in statuses)
    assert all(s["restartCount"] >= 3 for s in statuses)
    assert any(s["state"].get("waiting", {}).get("reason") == "CrashLoopBackOff" for s in statuses)
    mem = select(parse_om(out / "metrics" / "kubelet.om", {"container_memory_working_set_bytes"}),
                 "container_memory_working_set_bytes", container="inventory")
    limit = 512 * 1024 * 1024
    assert max(v for _, p in mem for _, v in p) > 0.95 * limit
    assert max(v for _, p in mem for t, v in p if t < onset) < 0.3 * limit
    events = k8s_items(out, "events")
    assert any(e["reason"] == "OOMKilling" for e in events)
    assert any(e["reason"] == "BackOff" and e["involvedObject"]["name"].startswith("inventory-")
               for e in events)


def test_f_throttling_after_limits_change(bundle_dir: Callable[..., Path]) -> None:
    out = bundle_dir("cpu-throttling")
    _start, onset, end = _onset(out)
    s = parse_om(out / "metrics" / "kubelet.om", {"container_cpu_cfs_throttled_periods_total",
                                                  "container_cpu_cfs_periods_total"})

    def ratio(lo: int, hi: int) -> float:
        thr = sum(increase(p, lo, hi) for _, p in
                  select(s, "container_cpu_cfs_throttled_periods_total", container="checkout"))
        per = sum(increase(p, lo, hi) for _, p in
                  select(s, "container_cpu_cfs_periods_total", container="checkout"))
        return thr / per
    assert ratio(onset - 60 * MIN, onset - 5 * MIN) < 0.05
    assert ratio(onset + 10 * MIN, end) > 0.5
    rs = sorted((r for r in k8s_items(out, "replicasets")
                 if r["metadata"]["name"].startswith("checkout-")),
                key=lambda r: r["metadata"]["creationTimestamp"])
    new, old = rs[-1], rs[-2]
    limits = lambda r: r["spec"]["template"]["spec"]["containers"][0]["resources"]  # noqa: E731
    assert limits(old)["limits"]["cpu"] == "1000m" and limits(new)["limits"]["cpu"] == "200m"
    assert rfc(new["metadata"]["creationTimestamp"]) == onset
    b = select(parse_om(out / "metrics" / "checkout.om"), "http_request_duration_seconds_bucket")
    assert _p95(b, onset + 10 * MIN, end) > 3 * _p95(b, onset - 60 * MIN, onset - 5 * MIN)


def test_g_feature_flag_config_change(bundle_dir: Callable[..., Path]) -> None:
    out = bundle_dir("feature-flag-config")
    _start, onset, _end = _onset(out)
    (cm,) = [c for c in k8s_items(out, "configmaps") if c["metadata"]["name"] == "orders-flags"]
    assert "pricing.v2.enabled: true" in cm["data"]["flags.yaml"]
    rs = sorted((r for r in k8s_items(out, "replicasets")
                 if r["metadata"]["name"].startswith("orders-")),
                key=lambda r: r["metadata"]["creationTimestamp"])
    new, old = rs[-1], rs[-2]
    tmpl = lambda r: r["spec"]["template"]  # noqa: E731
    image = lambda r: tmpl(r)["spec"]["containers"][0]["image"]  # noqa: E731
    assert image(new) == image(old)
    assert tmpl(new)["metadata"]["annotations"]["checksum/config"] != \
        tmpl(old)["metadata"]["annotations"]["checksum/config"]
    npe = [r for r in jsonl(out / "logs" / "orders.jsonl")
           if "NullPointerException" in r["message"]]
    assert npe and min(rfc(r["ts"][:19] + "Z") for r in npe) >= onset
    assert all("\n\tat com.shop.orders.pricing.PricingV2" in r["message"] for r in npe)


def test_h_cache_eviction_storm(bundle_dir: Callable[..., Path]) -> None:
    out = bundle_dir("cache-eviction-storm")
    start, onset, end = _onset(out)
    r = parse_om(out / "metrics" / "redis-exporter.om")
    ((_, ev),) = select(r, "redis_evicted_keys_total")
    assert increase(ev, start, onset - MIN) == 0
    assert increase(ev, onset + 5 * MIN, end) / (end - onset - 5 * MIN) > 1000
    ((_, hits),) = select(r, "redis_keyspace_hits_total")
    ((_, miss),) = select(r, "redis_keyspace_misses_total")

    def hit_ratio(lo: int, hi: int) -> float:
        h, m = increase(hits, lo, hi), increase(miss, lo, hi)
        return h / (h + m)
    assert hit_ratio(onset - 60 * MIN, onset - 5 * MIN) > 0.9
    assert hit_ratio(onset + 10 * MIN, end) < 0.65
    ((_, used),) = select(r, "redis_memory_used_bytes")
    ((_, mx),) = select(r, "redis_memory_max_bytes")
    assert max(v for t, v in used if t >= onset) / mx[0][1] > 0.99


def test_i_certificate_expiry(bundle_dir: Callable[..., Path]) -> None:
    out = bundle_dir("certificate-expiry")
    _start, onset, _end = _onset(out)
    bb = parse_om(out / "metrics" / "blackbox.om")
    shop = {"instance": "https://api.shop.example.com/healthz"}
    ((_, exp),) = select(bb, "probe_ssl_earliest_cert_expiry", **shop)
    assert {v for _, v in exp} == {float(onset)}
    ((_, ok),) = select(bb, "probe_success", **shop)
    assert all(v == 1 for t, v in ok if t < onset) and all(v == 0 for t, v in ok if t > onset + MIN)
    gw = select(parse_om(out / "metrics" / "api-gateway.om"), "istio_requests_total",
                reporter="destination")
    before = sum(increase(p, onset - 30 * MIN, onset - MIN) for _, p in gw)
    after = sum(increase(p, onset + 5 * MIN, onset + 34 * MIN) for _, p in gw)
    assert after < 0.1 * before
    (cert,) = k8s_items(out, "certificates")
    assert cert["status"]["conditions"][0]["reason"] == "Expired"


def test_j_disk_full(bundle_dir: Callable[..., Path]) -> None:
    out = bundle_dir("disk-full")
    start, onset, _end = _onset(out)
    v = parse_om(out / "metrics" / "kubelet.om", {"kubelet_volume_stats_available_bytes"})
    ((_, avail),) = select(v, "kubelet_volume_stats_available_bytes",
                           persistentvolumeclaim="data-postgres-0")
    first_full = min(t for t, x in avail if x < 0.001 * 100 * 1024**3)
    assert abs(first_full - onset) <= 2 * MIN
    assert all(x > 10 * 1024**3 for t, x in avail if t < start + 10 * MIN)
    panics = [r for r in jsonl(out / "logs" / "postgres.jsonl")
              if "No space left on device" in r["message"]]
    assert panics and min(rfc(r["ts"][:19] + "Z") for r in panics) >= onset
    slot = select(parse_om(out / "metrics" / "postgres-exporter.om"),
                  "pg_replication_slot_slot_is_active", slot_name="analytics_cdc")
    assert {x for _, p in slot for _, x in p} == {0.0}


def test_k_traffic_surge_hpa_at_max(bundle_dir: Callable[..., Path]) -> None:
    out = bundle_dir("traffic-surge-hpa-max")
    _start, onset, _end = _onset(out)
    ksm = parse_om(out / "metrics" / "kube-state-metrics.om")
    ((_, cur),) = select(ksm, "kube_horizontalpodautoscaler_status_current_replicas",
                         horizontalpodautoscaler="frontend")
    ((_, mx),) = select(ksm, "kube_horizontalpodautoscaler_spec_max_replicas",
                        horizontalpodautoscaler="frontend")
    assert all(c < mx[0][1] for t, c in cur if t < onset)
    assert all(c == mx[0][1] for t, c in cur if t > onset + 15 * MIN)
    gw = select(parse_om(out / "metrics" / "api-gateway.om"), "istio_requests_total",
                reporter="destination")
    before = sum(increase(p, onset - 30 * MIN, onset - MIN) for _, p in gw)
    after = sum(increase(p, onset + 15 * MIN, onset + 44 * MIN) for _, p in gw)
    assert after > 2.5 * before
    (hpa,) = [h for h in k8s_items(out, "horizontalpodautoscalers")
              if h["metadata"]["name"] == "frontend"]
    limited = [c for c in hpa["status"]["conditions"] if c["type"] == "ScalingLimited"]
    assert limited[0]["status"] == "True" and limited[0]["reason"] == "TooManyReplicas"
    lag = select(parse_om(out / "metrics" / "frontend.om"), "nodejs_eventloop_lag_p99_seconds")
    assert max(v for _, p in lag for t, v in p if t > onset) > \
        5 * max(v for _, p in lag for t, v in p if t < onset)
    assert any(e["reason"] == "FailedScheduling" for e in k8s_items(out, "events"))


def test_l_network_delay_is_client_side_only(bundle_dir: Callable[..., Path]) -> None:
    out = bundle_dir("network-delay")
    start, onset, end = _onset(out)
    by_id = {}
    client = []
    for svc, sp in spans(out):
        by_id[sp["spanId"]] = (svc, sp)
        if svc == "checkout" and sp["kind"] == 3 and str(attr(sp, "server.address")).startswith(
                "payment."):
            client.append(sp)
    server = {sp["parentSpanId"]: sp for _, (svc, sp) in by_id.items() if svc == "payment"
              and sp["kind"] == 2}

    def dur(sp: dict) -> float:
        return (int(sp["endTimeUnixNano"]) - int(sp["startTimeUnixNano"])) / 1e6

    gaps_b, gaps_a, srv_b, srv_a = [], [], [], []
    for c in client:
        s = server.get(c["spanId"])
        if s is None:
            continue
        t = int(c["startTimeUnixNano"]) / 1e9
        if t < onset - 5 * MIN:
            gaps_b.append(dur(c) - dur(s))
            srv_b.append(dur(s))
        elif t > onset + 5 * MIN:
            gaps_a.append(dur(c) - dur(s))
            srv_a.append(dur(s))
    assert len(gaps_b) > 20 and len(gaps_a) > 20
    assert statistics.median(gaps_b) < 20
    assert statistics.median(gaps_a) > 200
    assert 0.75 < statistics.median(srv_a) / statistics.median(srv_b) < 1.3
    node = parse_om(out / "metrics" / "node-exporter.om", {"node_netstat_Tcp_RetransSegs"})
    (payment_node,) = {p["spec"]["nodeName"] for p in k8s_items(out, "pods")
                       if p["metadata"]["name"].startswith("payment-")}
    series = {lab["node"]: pts for lab, pts in select(node, "node_netstat_Tcp_RetransSegs")}
    rise = {n: increase(p, onset + 5 * MIN, end) / max(1.0, increase(p, start, onset - 5 * MIN))
            for n, p in series.items()}
    assert max(rise, key=rise.get) == payment_node  # type: ignore[arg-type]


def test_error_spans_have_their_error_logs(bundle_dir: Callable[..., Path]) -> None:
    """An error span's trace and span id appear on the error log line of that failure."""
    out = bundle_dir("feature-flag-config")
    _start, onset, _end = _onset(out)
    err_spans = {(sp["traceId"], sp["spanId"]): (svc, sp) for svc, sp in spans(out)
                 if svc in ("orders", "checkout") and sp["kind"] == 2
                 and sp["status"].get("code") == 2 and int(sp["startTimeUnixNano"]) > onset * 10**9}
    logs = {}
    for svc in ("orders", "checkout"):
        for r in jsonl(out / "logs" / f"{svc}.jsonl"):
            if r.get("level") == "error" and r.get("trace_id"):
                logs[(r["trace_id"], r["span_id"])] = r
    linked = [k for k in err_spans if k in logs]
    assert len(err_spans) >= 10
    assert len(linked) / len(err_spans) > 0.6
    for k in linked:
        svc, sp = err_spans[k]
        assert logs[k]["service"] == svc
        if svc == "orders":
            exc = attr(sp["events"][0], "exception.type")
            assert exc in logs[k]["message"], "span event and log line name the same exception"
