"""Infrastructure exporters: cAdvisor and kubelet volumes, kube-state-metrics, node
exporter, postgres_exporter, redis_exporter, blackbox probes and the Pushgateway.

Label sets are the ones these exporters emit behind the kube-prometheus stack
(``job``, ``instance``, ``namespace``, ``pod``, ``container``, ``node`` ...), and
counters that the exporter itself names without ``_total`` (postgres_exporter,
node_exporter, Envoy) keep their real names with the OpenMetrics ``unknown`` type.
"""

from __future__ import annotations

import math

from obsbench.scenarios.openmetrics import OMWriter
from obsbench.scenarios.resources import MIB, PodUsage, pool_state
from obsbench.scenarios.timeline import diurnal
from obsbench.scenarios.topology import DOMAIN, NODES, SERVICES, Service, service
from obsbench.scenarios.world import PEAK_RPS, Pod, World

GIB = 1024 * MIB
KSM_INSTANCE = "10.42.21.8:8080"


def _alive_steps(w: World, pod: Pod) -> list[int]:
    return [i for i, t in enumerate(w.frame.times) if pod.alive(t)]


def all_pods(w: World) -> list[tuple[Service, Pod]]:
    out = []
    for s in SERVICES:
        for p in w.pods.get(s.name, []):
            out.append((s, p))
    return out


# -- kubelet: cAdvisor and volume stats -------------------------------------------------------


def cadvisor_labels(w: World, s: Service, pod: Pod) -> dict[str, str]:
    rev = next((r for r in w.revisions[s.name] if r.number == pod.revision),
               w.revisions[s.name][-1])
    return {"container": s.container_name, "image": s.image_ref(rev.version),
            "instance": f"{pod.node_ip}:10250", "job": "kubelet",
            "metrics_path": "/metrics/cadvisor", "namespace": s.namespace, "node": pod.node,
            "pod": pod.name, "service": "kubelet"}


def write_cadvisor(om: OMWriter, w: World, usage: dict[str, PodUsage],
                   cpu_prior: dict[str, float]) -> None:
    """Container CPU, memory and CFS throttling; counters restart with each container."""
    pods = all_pods(w)
    step = w.frame.step

    def rows(pod: Pod) -> tuple[list[int], list[int], list[bool]]:
        u = usage[pod.name]
        idx = [i for i in range(w.frame.n) if u.cpu_cores[i] is not None]
        times = [w.frame.t(i) for i in idx]
        starts = []
        last = None
        for i in idx:
            cs = pod.container_start(w.frame.t(i))
            starts.append(cs != last)
            last = cs
        return idx, times, starts

    om.family("container_cpu_usage_seconds", "counter", "Cumulative cpu time consumed in "
              "seconds.", "seconds")
    for s, pod in pods:
        idx, times, starts = rows(pod)
        if not idx:
            continue
        u = usage[pod.name]
        vals: list[float | int | None] = []
        acc = 0.0
        first = True
        for i, fresh in zip(idx, starts, strict=True):
            if fresh:
                acc = 0.0
                if first:
                    t0 = w.frame.t(i)
                    acc = cpu_prior.get(pod.name, max(0.0, t0 - pod.container_start(t0))
                                        * (u.cpu_cores[i] or 0.0) * 0.85)
            first = False
            acc += (u.cpu_cores[i] or 0.0) * step
            vals.append(round(acc, 3))
        om.series("container_cpu_usage_seconds_total",
                  {**cadvisor_labels(w, s, pod), "cpu": "total"}, times, vals)
    om.family("container_memory_working_set_bytes", "gauge", "Current working set of the "
              "container in bytes.", "bytes")
    for s, pod in pods:
        idx, times, _ = rows(pod)
        if idx:
            mem = usage[pod.name].mem_mib
            om.series("container_memory_working_set_bytes", cadvisor_labels(w, s, pod), times,
                      [int((mem[i] or 0.0) * MIB) for i in idx])
    periods: dict[str, tuple[list[int], list[float], list[float], list[bool]]] = {}
    for _, pod in pods:
        idx, times, starts = rows(pod)
        u = usage[pod.name]
        per = [step * 10.0 * min(1.0, 0.25 + 1.6 * (u.cpu_cores[i] or 0.0)) for i in idx]
        thr = [p * (u.throttled[i] or 0.0) for p, i in zip(per, idx, strict=True)]
        periods[pod.name] = (times, per, thr, starts)
    for fam, pos, help_ in (
        ("container_cpu_cfs_periods", 1, "Number of elapsed enforcement period intervals."),
        ("container_cpu_cfs_throttled_periods", 2, "Number of throttled period intervals."),
    ):
        om.family(fam, "counter", help_)
        for s, pod in pods:
            times, per, thr, starts = periods[pod.name]
            if not times:
                continue
            incs = per if pos == 1 else thr
            vals, acc = [], 0.0
            for inc, fresh in zip(incs, starts, strict=True):
                acc = 0.0 if fresh else acc
                acc += inc
                vals.append(int(acc))
            om.series(f"{fam}_total", cadvisor_labels(w, s, pod), times, vals)


def volumes(w: World) -> list[tuple[str, str, str, float, list[float]]]:
    """(namespace, pvc, pod, capacity bytes, used bytes per step) of the stateful volumes."""
    out: list[tuple[str, str, str, float, list[float]]] = []
    times = w.frame.times
    cap = 100 * GIB
    if w.disk_full_at is not None:
        full = w.disk_full_at
        rate = (cap * 0.999 - 84.0 * GIB) / max(1.0, full - w.frame.start)
        used = [min(cap * 0.9995, 84.0 * GIB + rate * (t - w.frame.start)) for t in times]
    else:
        used = [61.5 * GIB + 0.02 * GIB * (t - w.frame.start) / 3600.0 for t in times]
    out.append(("data", "data-postgres-0", "postgres-0", cap, used))
    rcap = 8 * GIB
    out.append(("data", "redis-data-redis-master-0", "redis-master-0", rcap,
                [2.6 * GIB + 0.01 * GIB * (t - w.frame.start) / 3600.0 for t in times]))
    return out


def write_volume_stats(om: OMWriter, w: World) -> None:
    vols = volumes(w)
    node_of = {p.name: p for _, p in all_pods(w)}
    fams = (("kubelet_volume_stats_capacity_bytes", "Capacity in bytes of the volume"),
            ("kubelet_volume_stats_available_bytes", "Number of available bytes in the volume"),
            ("kubelet_volume_stats_used_bytes", "Number of used bytes in the volume"))
    for fam, help_ in fams:
        om.family(fam, "gauge", help_, "bytes")
        for ns, pvc, pod_name, cap, used in vols:
            pod = node_of.get(pod_name)
            labels = {"instance": f"{pod.node_ip if pod else NODES[0][1]}:10250",
                      "job": "kubelet", "metrics_path": "/metrics", "namespace": ns,
                      "node": pod.node if pod else NODES[0][0], "persistentvolumeclaim": pvc,
                      "service": "kubelet"}
            if fam.endswith("capacity_bytes"):
                vals = [int(cap)] * len(used)
            elif fam.endswith("available_bytes"):
                vals = [int(max(0.0, cap - u)) for u in used]
            else:
                vals = [int(u) for u in used]
            om.series(fam, labels, w.frame.times, vals)


# -- kube-state-metrics -----------------------------------------------------------------------


def write_kube_state(om: OMWriter, w: World) -> None:
    pods = all_pods(w)
    times = w.frame.times
    base = {"instance": KSM_INSTANCE, "job": "kube-state-metrics"}

    for fam, attr in (("kube_pod_container_resource_requests", "request"),
                      ("kube_pod_container_resource_limits", "limit")):
        om.family(fam, "gauge", f"The number of {attr}ed resource by a container.")
        for s, pod in pods:
            idx = _alive_steps(w, pod)
            if not idx:
                continue
            rev = next(r for r in w.revisions[s.name] if r.number == pod.revision)
            cpu = (rev.cpu_request_m if attr == "request" else rev.cpu_limit_m) / 1000.0
            mem = (rev.mem_request_mi if attr == "request" else rev.mem_limit_mi) * MIB
            labels = {**base, "container": s.container_name, "namespace": s.namespace,
                      "node": pod.node, "pod": pod.name}
            ts = [times[i] for i in idx]
            om.series(fam, {**labels, "resource": "cpu", "unit": "core"}, ts, [cpu] * len(ts))
            om.series(fam, {**labels, "resource": "memory", "unit": "byte"}, ts,
                      [int(mem)] * len(ts))

    om.family("kube_pod_container_status_restarts", "counter", "The number of container "
              "restarts per container.")
    for s, pod in pods:
        idx = _alive_steps(w, pod)
        if idx:
            om.series("kube_pod_container_status_restarts_total",
                      {**base, "container": s.container_name, "namespace": s.namespace,
                       "pod": pod.name}, [times[i] for i in idx],
                      [pod.restart_count(times[i]) for i in idx])
    om.family("kube_pod_container_status_last_terminated_reason", "gauge", "Describes the last "
              "reason the container was in terminated state.")
    for s, pod in pods:
        for reason in sorted({r.reason for r in pod.restarts}):
            idx = [i for i in _alive_steps(w, pod)
                   if _last_reason(pod, times[i]) == reason]
            if idx:
                om.series("kube_pod_container_status_last_terminated_reason",
                          {**base, "container": s.container_name, "namespace": s.namespace,
                           "pod": pod.name, "reason": reason}, [times[i] for i in idx],
                          [1] * len(idx))
    om.family("kube_pod_container_status_waiting_reason", "gauge", "Describes the reason the "
              "container is currently in waiting state.")
    for s, pod in pods:
        idx = [i for i in _alive_steps(w, pod) if pod.waiting(times[i])]
        if idx:
            om.series("kube_pod_container_status_waiting_reason",
                      {**base, "container": s.container_name, "namespace": s.namespace,
                       "pod": pod.name, "reason": "CrashLoopBackOff"}, [times[i] for i in idx],
                      [1] * len(idx))

    deployments = [s for s in SERVICES if s.workload == "Deployment"]
    om.family("kube_deployment_spec_replicas", "gauge", "Number of desired pods for a "
              "deployment.")
    for s in deployments:
        desired = w.hpa_desired.get(s.name, [s.replicas] * w.frame.n)
        om.series("kube_deployment_spec_replicas", {**base, "deployment": s.name,
                                                     "namespace": s.namespace}, times, desired)
    om.family("kube_deployment_status_replicas_available", "gauge", "The number of available "
              "replicas per deployment.")
    for s in deployments:
        om.series("kube_deployment_status_replicas_available",
                  {**base, "deployment": s.name, "namespace": s.namespace}, times,
                  w.n_ready[s.name])
    om.family("kube_statefulset_status_replicas_ready", "gauge", "The number of ready replicas "
              "per StatefulSet.")
    for s in SERVICES:
        if s.workload == "StatefulSet":
            name = "redis-master" if s.name == "redis" else s.name
            om.series("kube_statefulset_status_replicas_ready",
                      {**base, "namespace": s.namespace, "statefulset": name}, times,
                      w.n_ready[s.name])
    hpas = [s for s in SERVICES if s.hpa is not None]
    for fam, help_, fn in (
        ("kube_horizontalpodautoscaler_spec_min_replicas", "Lower limit for the number of pods "
         "that can be set by the autoscaler, default 1.",
         lambda s: [s.hpa.min_replicas] * w.frame.n),
        ("kube_horizontalpodautoscaler_spec_max_replicas", "Upper limit for the number of pods "
         "that can be set by the autoscaler; cannot be smaller than MinReplicas.",
         lambda s: [s.hpa.max_replicas] * w.frame.n),
        ("kube_horizontalpodautoscaler_status_current_replicas", "Current number of replicas of "
         "pods managed by this autoscaler.",
         lambda s: [max(c, 0) for c in _current(w, s)]),
        ("kube_horizontalpodautoscaler_status_desired_replicas", "Desired number of replicas of "
         "pods managed by this autoscaler.",
         lambda s: w.hpa_desired[s.name]),
    ):
        om.family(fam, "gauge", help_)
        for s in hpas:
            om.series(fam, {**base, "horizontalpodautoscaler": s.name, "namespace": s.namespace},
                      times, fn(s))
    job_pods = w.pods.get("nightly-reconcile", [])
    if job_pods:
        for fam, help_ in (("kube_job_status_active", "The number of actively running pods."),
                           ("kube_job_status_failed", "The number of pods which reached Phase "
                                                      "Failed."),
                           ("kube_job_status_succeeded", "The number of pods which reached "
                                                         "Phase Succeeded.")):
            om.family(fam, "gauge", help_)
            for pod in job_pods:
                job = pod.name.rsplit("-", 1)[0]
                idx = [i for i, t in enumerate(times) if t >= pod.created]
                vals = []
                for i in idx:
                    t = times[i]
                    done = [r for r in pod.restarts if r.terminated <= t]
                    if fam.endswith("active"):
                        vals.append(0 if done else 1)
                    elif fam.endswith("failed"):
                        vals.append(1 if done and done[0].exit_code != 0 else 0)
                    else:
                        vals.append(1 if done and done[0].exit_code == 0 else 0)
                om.series(fam, {**base, "job_name": job, "namespace": "batch"},
                          [times[i] for i in idx], vals)


def _current(w: World, s: Service) -> list[int]:
    """HPA status.currentReplicas: pods that exist (ready or not) of the target."""
    out = []
    for t in w.frame.times:
        out.append(sum(1 for p in w.pods[s.name] if p.alive(t)))
    return out


def _last_reason(pod: Pod, ts: float) -> str | None:
    last = None
    for r in pod.restarts:
        if r.terminated <= ts:
            last = r.reason
    return last


# -- node exporter ----------------------------------------------------------------------------


def write_node_exporter(om: OMWriter, w: World) -> None:
    bad = None
    if w.delays and "payment" in w.pinned_node:
        bad = NODES[w.pinned_node["payment"] % len(NODES)][0]
    shape = w.delays[0].shape if w.delays else None
    rng = w.rng("node-exporter")
    for fam, help_, base_rate, bad_rate in (
        ("node_netstat_Tcp_RetransSegs", "Statistic TcpRetransSegs.", 4.0, 420.0),
        ("node_network_receive_drop_total", "Network device statistic receive_drop.", 0.02,
         85.0),
    ):
        om.family(fam if not fam.endswith("_total") else fam[:-6],
                  "unknown" if not fam.endswith("_total") else "counter", help_)
        for name, ip, _ in NODES:
            labels = {"instance": f"{ip}:9100", "job": "node-exporter", "node": name}
            if fam.startswith("node_network"):
                labels["device"] = "ens5"
            acc = 1_000_000.0 * (1 + rng.random()) if fam.startswith("node_netstat") else 120.0
            vals = []
            for t in w.frame.times:
                rate = base_rate * (0.6 + 0.8 * diurnal(t)) * math.exp(rng.gauss(0, 0.15))
                if name == bad and shape is not None:
                    rate += bad_rate * shape.at(t) * math.exp(rng.gauss(0, 0.1))
                acc += rate * w.frame.step
                vals.append(int(acc))
            om.series(fam, labels, w.frame.times, vals)


# -- postgres_exporter ------------------------------------------------------------------------


def postgres_state(w: World, i: int) -> dict[str, float]:
    """Connections, locks and throughput of the database at step i."""
    pg = service("postgres")
    t = w.frame.t(i)
    q = 0.0
    active = 0.0
    writes_active = 0.0
    for r in pg.routes:
        key = ("postgres", r.op)
        rate = w.rps[key][i]
        q += rate
        busy = rate * w.mean_ms(key, i) / 1000.0
        active += busy
        if r.op.startswith(("INSERT", "UPDATE")):
            writes_active += busy
    pools = 0.0
    for s in SERVICES:
        if s.pool_size:
            pools += w.n_ready[s.name][i] * min(s.pool_size, 10)
    pressure = sum(pool_state(w, s, i)[0] for s in SERVICES if s.pool_size)
    lock = w.lock is not None and w.lock[0] <= t < w.lock[1]
    blocked = min(writes_active, 30.0) if lock else 0.0
    active = min(190.0, active + (1.0 if lock else 0.0))
    idle = max(0.0, pools + pressure * 0.2 - active)
    return {"qps": q, "active": active, "idle": idle, "blocked": blocked,
            "writes": writes_active - blocked, "lock": 1.0 if lock else 0.0}


def write_postgres_exporter(om: OMWriter, w: World) -> None:
    pg = service("postgres")
    pod = w.pods["postgres"][0]
    times = w.frame.times
    running = [i for i, t in enumerate(times) if w.n_ready["postgres"][i] > 0]
    rt = [times[i] for i in running]
    st = {i: postgres_state(w, i) for i in running}
    rng = w.rng("postgres-exporter")
    base = {"instance": f"{pod.ip}:9187", "job": "postgres-exporter", "namespace": pg.namespace,
            "pod": pod.name, "service": "postgres"}
    db = {**base, "datname": "shop"}
    om.family("pg_up", "gauge", "Whether the last scrape of metrics from PostgreSQL was able to "
              "connect to the server (1 for yes, 0 for no).")
    om.series("pg_up", base, times, [1 if w.n_ready["postgres"][i] > 0 else 0
                                     for i in range(len(times))])
    om.family("pg_settings_max_connections", "gauge", "Sets the maximum number of concurrent "
              "connections.")
    om.series("pg_settings_max_connections", base, rt, [200] * len(rt))
    states = ("active", "idle", "idle in transaction", "idle in transaction (aborted)")
    om.family("pg_stat_activity_count", "gauge", "number of connections in this state")
    for state in states:
        vals: list[float | int | None] = []
        for i in running:
            s = st[i]
            if state == "active":
                v = s["active"] + 2 + rng.gauss(0, 0.8)
            elif state == "idle":
                v = s["idle"] + rng.gauss(0, 1.5)
            elif state == "idle in transaction":
                v = 1 + abs(rng.gauss(0, 0.7))
            else:
                v = 0
            vals.append(max(0, round(v)))
        om.series("pg_stat_activity_count", {**db, "state": state}, rt, vals)
    om.family("pg_stat_activity_max_tx_duration", "gauge", "max duration in seconds any active "
              "transaction has been running")
    for state in states:
        vals = []
        for i in running:
            t = times[i]
            if state == "active":
                v = 0.05 + abs(rng.gauss(0, 0.4))
                if w.lock is not None and w.lock[0] <= t < w.lock[1]:
                    v = t - w.lock[0] + 38.0
                elif rng.random() < 0.02:
                    v = rng.uniform(20, 45)  # an analytics query now and then
            elif state == "idle in transaction":
                v = abs(rng.gauss(0, 1.2))
            else:
                v = 0.0
            vals.append(round(v, 3))
        om.series("pg_stat_activity_max_tx_duration", {**db, "state": state}, rt, vals)
    modes = ("accessexclusivelock", "accesssharelock", "exclusivelock", "rowexclusivelock",
             "rowsharelock", "sharelock", "sharerowexclusivelock", "shareupdateexclusivelock")
    om.family("pg_locks_count", "gauge", "Number of locks")
    for mode in modes:
        vals = []
        for i in running:
            s = st[i]
            if mode == "accesssharelock":
                v = 3 + 2 * (s["active"] - s["writes"] - s["blocked"]) + rng.gauss(0, 1)
            elif mode == "rowexclusivelock":
                v = 2 * s["writes"] + s["blocked"] + s["lock"] + rng.gauss(0, 0.4)
            elif mode == "exclusivelock":
                v = s["writes"] + s["lock"] + rng.gauss(0, 0.3)
            elif mode == "sharerowexclusivelock":
                v = s["lock"]
            elif mode == "shareupdateexclusivelock":
                v = 1 if rng.random() < 0.15 else 0  # autovacuum
            elif mode == "rowsharelock":
                v = 1 if rng.random() < 0.05 else 0
            else:
                v = 0
            vals.append(max(0, round(v)))
        om.series("pg_locks_count", {**db, "mode": mode}, rt, vals)
    om.family("pg_stat_database_numbackends", "gauge", "Number of backends currently connected "
              "to this database.")
    om.series("pg_stat_database_numbackends", db, rt,
              [int(st[i]["active"] + st[i]["idle"] + 3) for i in running])
    for fam, help_, fn in (
        ("pg_stat_database_xact_commit", "Number of transactions in this database that have "
         "been committed", lambda i: st[i]["qps"] * 0.62),
        ("pg_stat_database_xact_rollback", "Number of transactions in this database that have "
         "been rolled back", lambda i: _pg_errors(w, i)),
    ):
        om.family(fam, "unknown", help_)
        acc = 8.4e8 if fam.endswith("commit") else 2.1e5
        vals = []
        for i in running:
            acc += fn(i) * w.frame.step
            vals.append(int(acc))
        om.series(fam, db, rt, vals)
    om.family("pg_database_size_bytes", "gauge", "Disk space used by the database", "bytes")
    om.series("pg_database_size_bytes", db, rt,
              [int(58.2 * GIB + 0.015 * GIB * (times[i] - w.frame.start) / 3600) for i in running])
    om.family("pg_wal_size_bytes", "gauge", "Total size of WAL segments", "bytes")
    vols = volumes(w)[0][4]
    om.series("pg_wal_size_bytes", base, rt,
              [int(max(1.1 * GIB, vols[i] - 61.0 * GIB)) for i in running])
    om.family("pg_replication_slot_slot_is_active", "gauge", "whether the replication slot is "
              "active")
    om.series("pg_replication_slot_slot_is_active",
              {**base, "slot_name": "analytics_cdc", "slot_type": "logical"}, rt,
              [0 if w.disk_full_at is not None else 1] * len(rt))


def _pg_errors(w: World, i: int) -> float:
    total = 0.0
    for r in service("postgres").routes:
        total += w.rps[("postgres", r.op)][i] * w.error_ratio(("postgres", r.op), i)
    return total + 0.05


# -- redis_exporter ---------------------------------------------------------------------------


def redis_state(w: World, i: int) -> dict[str, float]:
    t = w.frame.t(i)
    reads = 0.0
    misses = 0.0
    for svc, route, db_op in (
        ("user-api", "GET /v1/session", "SELECT sessions"),
        ("inventory", "GET /v1/stock/{sku}", "SELECT stock"),
    ):
        rate = w.rps[(svc, route)][i]
        reads += rate
        misses += rate * w.call_prob[(svc, route, db_op)][i]
    cart = w.rps[("redis", "HGETALL cart")][i]
    reads += cart
    misses += cart * 0.02
    ops = sum(w.rps[("redis", r.op)][i] for r in service("redis").routes)
    maxmem = 2 * GIB
    if w.redis_full_at is not None:
        start = w.frame.start
        rate = (maxmem * 0.995 - 1.62 * GIB) / max(1.0, w.redis_full_at - start)
        used = min(maxmem * 0.997, 1.62 * GIB + rate * (t - start))
        evict = 0.0
        if t >= w.redis_full_at:
            evict = 2600.0 * min(1.0, (t - w.redis_full_at) / 240.0 + 0.3)
        expire = 2.0
    else:
        used = 1.36 * GIB + 0.004 * GIB * math.sin(t / 5000.0)
        evict = 0.0
        expire = 34.0
    return {"reads": reads, "misses": misses, "ops": ops + 40.0, "used": used,
            "max": float(maxmem), "evict": evict, "expire": expire}


def write_redis_exporter(om: OMWriter, w: World) -> None:
    pod = w.pods["redis"][0]
    times = w.frame.times
    running = [i for i, t in enumerate(times) if w.n_ready["redis"][i] > 0]
    rt = [times[i] for i in running]
    st = {i: redis_state(w, i) for i in running}
    rng = w.rng("redis-exporter")
    base = {"instance": f"{pod.ip}:9121", "job": "redis-exporter", "namespace": "data",
            "pod": pod.name, "service": "redis"}
    om.family("redis_up", "gauge", "Information about the Redis instance")
    om.series("redis_up", base, rt, [1] * len(rt))
    clients = sum(s.replicas * 8 for s in SERVICES if s.name in ("user-api", "inventory",
                                                                  "checkout")) + 6
    om.family("redis_connected_clients", "gauge", "connected_clients metric")
    om.series("redis_connected_clients", base, rt,
              [clients + rng.randint(-2, 2) for _ in running])
    for fam, unit, key in (("redis_memory_used_bytes", "bytes", "used"),
                           ("redis_memory_max_bytes", "bytes", "max")):
        om.family(fam, "gauge", f"{fam[6:]} metric", unit)
        om.series(fam, base, rt, [int(st[i][key]) for i in running])
    counters = (
        ("redis_commands_processed", "commands_processed_total metric", "ops", 9.1e9),
        ("redis_evicted_keys", "evicted_keys_total metric", "evict", 0.0),
        ("redis_expired_keys", "expired_keys_total metric", "expire", 4.2e7),
        ("redis_keyspace_hits", "keyspace_hits_total metric", "hits", 6.3e9),
        ("redis_keyspace_misses", "keyspace_misses_total metric", "misses", 3.1e8),
    )
    for fam, help_, key, start in counters:
        om.family(fam, "counter", help_)
        acc = start
        vals = []
        for i in running:
            s = st[i]
            rate = s["reads"] - s["misses"] if key == "hits" else s[key]
            acc += rate * w.frame.step * math.exp(rng.gauss(0, 0.02))
            vals.append(int(acc))
        om.series(f"{fam}_total", base, rt, vals)
    om.family("redis_db_keys", "gauge", "Total number of keys by DB")
    om.series("redis_db_keys", {**base, "db": "db0"}, rt,
              [int(st[i]["used"] / 640) for i in running])


# -- blackbox and pushgateway -----------------------------------------------------------------


def write_blackbox(om: OMWriter, w: World) -> None:
    rng = w.rng("blackbox")
    times = w.frame.times
    targets = (
        (f"https://{DOMAIN}/healthz", "shop", w.cert_expiry),
        ("https://api.paygw.example.com/v1/health", "psp", w.frame.end + 213 * 86400.0),
    )
    probes: dict[str, list[tuple[float, float, int]]] = {}
    for url, kind, expiry in targets:
        rows = []
        for i, t in enumerate(times):
            if kind == "shop":
                ok = t < expiry and w.n_ready["api-gateway"][i] > 0
                dur = 0.045 * math.exp(rng.gauss(0, 0.2)) if ok else 0.012
            else:
                lat = w.sample_ms(("payment-gateway", "POST /v1/charges"), i, rng) / 1000
                dur = 0.035 + lat * 0.6
                ok = dur < 5.0 and rng.random() > w.error_ratio(
                    ("payment-gateway", "POST /v1/charges"), i)
                dur = min(dur, 5.0)
            rows.append((1.0 if ok else 0.0, dur, 200 if ok else 0))
        probes[url] = rows
    fams = (("probe_success", "Displays whether or not the probe was a success", 0),
            ("probe_duration_seconds", "Returns how long the probe took to complete in seconds",
             1), ("probe_http_status_code", "Response HTTP status code", 2))
    for fam, help_, pos in fams:
        om.family(fam, "gauge", help_, "seconds" if fam.endswith("seconds") else "")
        for url, _, _ in targets:
            om.series(fam, {"instance": url, "job": "blackbox"}, times,
                      [round(r[pos], 4) if pos == 1 else int(r[pos]) for r in probes[url]])
    om.family("probe_ssl_earliest_cert_expiry", "gauge", "Returns last SSL chain expiry in "
              "unixtime")
    for url, _, expiry in targets:
        idx = [i for i, t in enumerate(times) if t < expiry]
        om.series("probe_ssl_earliest_cert_expiry", {"instance": url, "job": "blackbox"},
                  [times[i] for i in idx], [int(expiry)] * len(idx))


def backlog_series(w: World) -> list[float]:
    """The reconcile job's backlog gauge: steady, or hovering around its alert threshold."""
    rng = w.rng("backlog")
    out = []
    for t in w.frame.times:
        if w.backlog_flap:
            v = 50_000 + 7_500 * math.sin(2 * math.pi * (t - w.frame.start) / 2700.0)
            v += rng.gauss(0, 900)
        else:
            v = 12_000 + rng.gauss(0, 400)
        if w.lock is not None and w.lock[0] - 40 <= t:
            v = 14_200_000.0  # the job counted its backlog; it stays until a run completes
        out.append(max(0.0, v))
    return out


def write_pushgateway(om: OMWriter, w: World) -> None:
    labels = {"job": "nightly-reconcile"}  # pushed with honor_labels: the job's own label
    om.family("nightly_reconcile_backlog_rows", "gauge", "Orders waiting for settlement "
              "reconciliation")
    om.series("nightly_reconcile_backlog_rows", labels, w.frame.times,
              [int(v) for v in backlog_series(w)])
    om.family("nightly_reconcile_last_success_timestamp_seconds", "gauge", "Last time the "
              "reconcile job completed successfully", "seconds")
    day = 86400
    last = (w.frame.start // day) * day + 2 * 3600 + 27 * 60
    if last > w.frame.start:
        last -= day
    om.series("nightly_reconcile_last_success_timestamp_seconds", labels, w.frame.times,
              [int(last)] * w.frame.n)


def traffic_attempts(w: World, i: int) -> float:
    """Requests clients attempt per second (before any TLS failure)."""
    return PEAK_RPS * diurnal(w.frame.t(i))
