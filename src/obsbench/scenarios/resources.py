"""Per-pod resource usage: CPU, memory and connection pools, shared by every exporter.

cAdvisor's counters, the JVM's heap gauges, Go's heap and the HikariCP /
SQLAlchemy pool gauges all describe the same pod, so they are computed here
once per pod and step and read by the metric writers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from obsbench.scenarios.topology import Service
from obsbench.scenarios.world import Pod, World

MIB = 1024 * 1024


@dataclass(slots=True)
class PodUsage:
    """A pod's usage at each grid step where the pod exists (None where it does not)."""

    cpu_cores: list[float | None]
    mem_mib: list[float | None]
    throttled: list[float | None]  # share of CFS periods throttled


def pod_usage(w: World, s: Service, pod: Pod) -> PodUsage:
    rng = w.rng(f"usage:{pod.name}")
    weight = math.exp(rng.gauss(0.0, 0.06))
    base_mem = w.baseline_mem(s, pod)
    phase = rng.uniform(0, 2 * math.pi)
    cpu: list[float | None] = []
    mem: list[float | None] = []
    thr: list[float | None] = []
    demand = w.cpu_demand.get(s.name)
    for i, t in enumerate(w.frame.times):
        if not pod.alive(t) or (not pod.running(t) and pod.waiting(t)):
            cpu.append(None)
            mem.append(None)
            thr.append(None)
            continue
        if demand is None:
            cpu.append(None)
            mem.append(None)
            thr.append(None)
            continue
        cores = w.cpu_usage(s.name, i) * weight * math.exp(rng.gauss(0.0, 0.05))
        if t < pod.ready:
            cores = max(cores, 0.6 if s.language == "java" else 0.2)  # start-up burst
        cpu.append(cores)
        leaked = w.pod_memory(s, pod, t)
        if leaked is not None:
            m = leaked + rng.gauss(0.0, 1.5)
        else:
            m = base_mem * (1.0 + 0.03 * math.sin(t / 1700.0 + phase)) + rng.gauss(0.0, 2.0)
            if s.language == "java":
                m += 25.0 * ((t / 600.0 + phase) % 1.0)  # heap sawtooth between GCs
        mem.append(max(8.0, m))
        thr.append(w.throttle[s.name][i] * math.exp(rng.gauss(0.0, 0.08)))
    return PodUsage(cpu, mem, thr)


def pool_state(w: World, s: Service, i: int) -> tuple[float, float, float]:
    """(in use, pending, timeouts per second) of one pod's DB pool at step i."""
    if not s.pool_size:
        return 0.0, 0.0, 0.0
    t = w.frame.t(i)
    ready = max(1, w.n_ready[s.name][i])
    in_use = 0.0
    errors = 0.0
    for r in s.routes:
        if not any(c.kind == "db" for c in r.calls):
            continue
        key = (s.name, r.op)
        lam = w.rps[key][i] / ready
        in_use += lam * w.mean_ms(key, i) / 1000.0 * 0.6
        errors += lam * w.error_ratio(key, i)
    for shape, conns in w.pool_pressure.get(s.name, []):
        in_use += conns * shape.at(t)
    used = min(float(s.pool_size), in_use)
    pending = max(0.0, in_use - s.pool_size)
    timeouts = errors if pending > 0.5 else 0.0
    return used, pending, timeouts
