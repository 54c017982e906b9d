"""Runtime and client-library metrics of the application pods.

Connection pools (HikariCP for Spring, SQLAlchemy through OpenTelemetry's
``db.client.connection.*``, pgxpool for Go), JVM memory and GC, Go heap and
goroutines, Node.js event-loop lag: the gauges an SRE opens after the golden
signals, each in the spelling its library really exports.
"""

from __future__ import annotations

import math

from obsbench.scenarios.load import scraped_steps
from obsbench.scenarios.metrics_apps import target_labels
from obsbench.scenarios.openmetrics import OMWriter
from obsbench.scenarios.resources import MIB, PodUsage, pool_state
from obsbench.scenarios.topology import Service
from obsbench.scenarios.world import Pod, World

PodRows = list[tuple[Pod, list[int], list[bool]]]


def _pods(w: World, svc: Service) -> PodRows:
    out = []
    for pod in w.pods.get(svc.name, []):
        steps, starts = scraped_steps(w, pod)
        if steps:
            out.append((pod, steps, starts))
    return out


def _counter(values: list[float], starts: list[bool]) -> list[float]:
    out = []
    acc = 0.0
    for v, fresh in zip(values, starts, strict=True):
        if fresh:
            acc = 0.0
        acc += v
        out.append(acc)
    return out


def write_sqlalchemy_pool(om: OMWriter, w: World, svc: Service) -> None:
    """OpenTelemetry semantic conventions for DB client connection pools (user-api)."""
    pool = "postgresql://postgres.data.svc.cluster.local:5432/shop"
    rows = _pods(w, svc)
    states = {(pod.name, i): pool_state(w, svc, i) for pod, steps, _ in rows for i in steps}
    rng = w.rng(f"pool:{svc.name}")
    om.family("db_client_connection_count", "gauge", "The number of connections that are "
              "currently in state described by the state attribute")
    for pod, steps, _ in rows:
        base = {**target_labels(svc, pod), "db_client_connection_pool_name": pool}
        times = [w.frame.t(i) for i in steps]
        used = [min(svc.pool_size, max(0, round(states[(pod.name, i)][0]
                                               + rng.gauss(0, 0.6)))) for i in steps]
        idle = [max(0, min(10, svc.pool_size - u) if u < 10 else 0) for u in used]
        om.series("db_client_connection_count", {**base, "db_client_connection_state": "idle"},
                  times, idle)
        om.series("db_client_connection_count", {**base, "db_client_connection_state": "used"},
                  times, used)
    om.family("db_client_connection_max", "gauge", "The maximum number of open connections "
              "allowed")
    for pod, steps, _ in rows:
        om.series("db_client_connection_max", {**target_labels(svc, pod),
                                               "db_client_connection_pool_name": pool},
                  [w.frame.t(i) for i in steps], [svc.pool_size] * len(steps))
    om.family("db_client_connection_pending_requests", "gauge", "The number of current pending "
              "requests for an open connection")
    for pod, steps, _ in rows:
        om.series("db_client_connection_pending_requests",
                  {**target_labels(svc, pod), "db_client_connection_pool_name": pool},
                  [w.frame.t(i) for i in steps],
                  [max(0, round(states[(pod.name, i)][1] + rng.gauss(0, 0.4))) for i in steps])
    om.family("db_client_connection_timeouts", "counter", "The number of connection timeouts "
              "that have occurred trying to obtain a connection from the pool")
    for pod, steps, starts in rows:
        incs = [float(round(states[(pod.name, i)][2] * w.frame.step)) for i in steps]
        om.series("db_client_connection_timeouts_total",
                  {**target_labels(svc, pod), "db_client_connection_pool_name": pool},
                  [w.frame.t(i) for i in steps], [int(v) for v in _counter(incs, starts)])


def write_hikari(om: OMWriter, w: World, svc: Service) -> None:
    rows = _pods(w, svc)
    states = {(pod.name, i): pool_state(w, svc, i) for pod, steps, _ in rows for i in steps}
    rng = w.rng(f"hikari:{svc.name}")
    labels = {p.name: {**target_labels(svc, p), "application": svc.name, "pool": "HikariPool-1"}
              for p, _, _ in rows}
    active: dict[str, list[int]] = {}
    for pod, steps, _ in rows:
        active[pod.name] = [min(svc.pool_size, max(0, round(states[(pod.name, i)][0]
                                                             + rng.gauss(0, 0.5))))
                            for i in steps]
    gauges = (
        ("hikaricp_connections_active", "Active connections",
         lambda pod, steps: active[pod.name]),
        ("hikaricp_connections_idle", "Idle connections",
         lambda pod, steps: [max(0, svc.pool_size - a) for a in active[pod.name]]),
        ("hikaricp_connections_pending", "Pending threads",
         lambda pod, steps: [max(0, round(states[(pod.name, i)][1])) for i in steps]),
        ("hikaricp_connections_max", "Max connections",
         lambda pod, steps: [svc.pool_size] * len(steps)),
        ("hikaricp_connections_min", "Min connections",
         lambda pod, steps: [svc.pool_size] * len(steps)),
    )
    for name, help_, fn in gauges:
        om.family(name, "gauge", help_)
        for pod, steps, _ in rows:
            om.series(name, labels[pod.name], [w.frame.t(i) for i in steps], fn(pod, steps))
    om.family("hikaricp_connections_timeout", "counter", "Connection timeout total count")
    for pod, steps, starts in rows:
        incs = [float(round(states[(pod.name, i)][2] * w.frame.step)) for i in steps]
        om.series("hikaricp_connections_timeout_total", labels[pod.name],
                  [w.frame.t(i) for i in steps], [int(v) for v in _counter(incs, starts)])


def write_jvm(om: OMWriter, w: World, svc: Service, usage: dict[str, PodUsage]) -> None:
    rows = _pods(w, svc)
    areas = (("heap", "G1 Eden Space", 0.22), ("heap", "G1 Old Gen", 0.38),
             ("heap", "G1 Survivor Space", 0.02), ("nonheap", "Metaspace", 0.13),
             ("nonheap", "CodeCache", 0.05), ("nonheap", "Compressed Class Space", 0.015))
    om.family("jvm_memory_used_bytes", "gauge", "The amount of used memory", "bytes")
    for pod, steps, _ in rows:
        mem = usage[pod.name].mem_mib
        times = [w.frame.t(i) for i in steps]
        for area, pool_id, share in areas:
            vals = []
            for i in steps:
                m = mem[i] or 0.0
                if pool_id == "G1 Eden Space":
                    m *= 0.5 + 0.5 * ((w.frame.t(i) / 97.0) % 1.0)
                vals.append(int(m * share * MIB))
            om.series("jvm_memory_used_bytes", {**target_labels(svc, pod), "application": svc.name,
                                                "area": area, "id": pool_id}, times, vals)
    om.family("jvm_gc_pause_seconds", "summary", "Time spent in GC pause", "seconds")
    for pod, steps, starts in rows:
        cpu = usage[pod.name].cpu_cores
        counts = [float(round((cpu[i] or 0.0) * w.frame.step / 6.0 + 1)) for i in steps]
        sums = [c * 0.0065 for c in counts]
        labels = {**target_labels(svc, pod), "action": "end of minor GC",
                  "application": svc.name, "cause": "G1 Evacuation Pause",
                  "gc": "G1 Young Generation"}
        times = [w.frame.t(i) for i in steps]
        om.series("jvm_gc_pause_seconds_count", labels, times,
                  [int(v) for v in _counter(counts, starts)])
        om.series("jvm_gc_pause_seconds_sum", labels, times, _counter(sums, starts))
    om.family("jvm_threads_live_threads", "gauge", "The current number of live threads")
    for pod, steps, _ in rows:
        states = [pool_state(w, svc, i) for i in steps]
        om.series("jvm_threads_live_threads", {**target_labels(svc, pod),
                                               "application": svc.name},
                  [w.frame.t(i) for i in steps],
                  [int(52 + st[0] + st[1]) for st in states])


def write_go_runtime(om: OMWriter, w: World, svc: Service, usage: dict[str, PodUsage]) -> None:
    rows = _pods(w, svc)
    om.family("go_goroutines", "gauge", "Number of goroutines that currently exist.")
    for pod, steps, _ in rows:
        ready = [max(1, w.n_ready[svc.name][i]) for i in steps]
        vals = []
        for i, n in zip(steps, ready, strict=True):
            inflight = sum(w.rps[(svc.name, r.op)][i] * w.mean_ms((svc.name, r.op), i) / 1000.0
                           for r in svc.routes) / n
            vals.append(int(18 + 2 * inflight))
        om.series("go_goroutines", target_labels(svc, pod), [w.frame.t(i) for i in steps], vals)
    om.family("go_memstats_heap_inuse_bytes", "gauge", "Number of bytes in use by the heap.",
              "bytes")
    for pod, steps, _ in rows:
        mem = usage[pod.name].mem_mib
        om.series("go_memstats_heap_inuse_bytes", target_labels(svc, pod),
                  [w.frame.t(i) for i in steps],
                  [int((mem[i] or 0.0) * 0.62 * MIB) for i in steps])
    if svc.uses_pool == "pgx":
        om.family("pgxpool_acquired_conns", "gauge", "Currently acquired connections")
        for pod, steps, _ in rows:
            om.series("pgxpool_acquired_conns", target_labels(svc, pod),
                      [w.frame.t(i) for i in steps],
                      [int(min(svc.pool_size, math.ceil(pool_state(w, svc, i)[0])))
                       for i in steps])
        om.family("pgxpool_max_conns", "gauge", "Maximum size of the pool")
        for pod, steps, _ in rows:
            om.series("pgxpool_max_conns", target_labels(svc, pod),
                      [w.frame.t(i) for i in steps], [svc.pool_size] * len(steps))


def write_node_runtime(om: OMWriter, w: World, svc: Service, usage: dict[str, PodUsage]) -> None:
    rows = _pods(w, svc)
    rng = w.rng(f"node:{svc.name}")
    om.family("nodejs_eventloop_lag_p99_seconds", "gauge", "The 99th percentile of the "
              "recorded event loop delays.", "seconds")
    for pod, steps, _ in rows:
        vals = []
        for i in steps:
            rho = w.saturation[svc.name][i]
            lag = 0.012 + 0.6 * max(0.0, rho - 0.7) ** 1.5
            vals.append(round(lag * math.exp(rng.gauss(0, 0.1)), 6))
        om.series("nodejs_eventloop_lag_p99_seconds", target_labels(svc, pod),
                  [w.frame.t(i) for i in steps], vals)
    om.family("nodejs_heap_size_used_bytes", "gauge", "Process heap size used from Node.js in "
              "bytes.", "bytes")
    for pod, steps, _ in rows:
        mem = usage[pod.name].mem_mib
        om.series("nodejs_heap_size_used_bytes", target_labels(svc, pod),
                  [w.frame.t(i) for i in steps], [int((mem[i] or 0.0) * 0.55 * MIB) for i in steps])
