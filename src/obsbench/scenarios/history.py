"""Thirty days of container usage for the capacity question, at a 5-minute resolution.

Written as one OpenMetrics file per UTC day (``metrics/history-<service>-<day>.om``):
promtool backfills a file by re-reading it once per 2-hour block, so one 30-day
file would take it minutes, while daily files take seconds. Counters continue
across the files and into the window's kubelet file. The CPU level is
calibrated so that the P95 of the 5-minute usage rates is exactly the
scenario's figure (800m for api-gateway), with a short burst during the last
rollout as a red herring that does not move the P95.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from obsbench.scenarios import rand
from obsbench.scenarios.openmetrics import OMWriter
from obsbench.scenarios.resources import MIB
from obsbench.scenarios.sink import FileInfo, Sink
from obsbench.scenarios.timeline import diurnal, rfc3339
from obsbench.scenarios.topology import Service, service
from obsbench.scenarios.world import Pod, World

STEP = 300
P95_CORES = 0.8


@dataclass(slots=True)
class HistPod:
    name: str
    node: str
    node_ip: str
    image: str
    start: int
    end: int  # exclusive
    burst: bool


def _pods(w: World, s: Service, start: int, end: int) -> list[HistPod]:
    rng = w.rng(f"history-pods:{s.name}")
    revs = w.revisions[s.name]
    out: list[HistPod] = []
    for k, rev in enumerate(revs):
        nxt = revs[k + 1].ts if k + 1 < len(revs) else float("inf")
        lo, hi = max(rev.ts, start), min(nxt, end)
        if lo >= hi:
            continue
        live = [p for p in w.pods[s.name] if p.revision == rev.number]
        for j in range(s.replicas):
            if j < len(live):
                pod: Pod | HistPod = live[j]
                name, node, ip = pod.name, pod.node, pod.node_ip
            else:
                name = f"{s.name}-{rev.rs_hash}-{rand.k8s_suffix(rng)}"
                node, ip = w.pods[s.name][j % len(w.pods[s.name])].node, \
                    w.pods[s.name][j % len(w.pods[s.name])].node_ip
            begin = int(math.ceil((lo + 30 * j) / STEP) * STEP)
            out.append(HistPod(name, node, ip, s.image_ref(rev.version), begin, int(hi),
                               burst=rev.ts >= start))
    return out


def _shape(w: World, t: float, phase: float) -> float:
    weekly = 1.0 + 0.06 * math.sin(2 * math.pi * (t / 86400.0 + phase) / 7.0)
    return diurnal(t) * weekly


def write_history(w: World, root: Path, gz: bool, svc_name: str = "api-gateway"
                  ) -> tuple[list[FileInfo], dict[str, float]]:
    """Write the daily files; return them and each pod's CPU counter at the window start."""
    assert w.history_start is not None
    s = service(svc_name)
    start = int(w.history_start // STEP * STEP)
    end = w.frame.start
    pods = _pods(w, s, start, end)
    rng = w.rng(f"history:{s.name}")
    idle = s.idle_cpu_m / 1000.0
    raw: dict[str, list[tuple[int, float]]] = {}
    for hp in pods:
        phase = rng.random()
        walk = 0.0
        pts = []
        t = hp.start
        while t < hp.end:
            walk = 0.9 * walk + rng.gauss(0, 0.035)
            pts.append((t, _shape(w, t, phase) * math.exp(walk + rng.gauss(0, 0.04))))
            t += STEP
        raw[hp.name] = pts
    # Calibrate: cores = idle + a * shape, with P95 of all 5-minute rates == P95_CORES.
    shapes = sorted(v for pts in raw.values() for _, v in pts)
    q = shapes[int(0.95 * (len(shapes) - 1))]
    a = (P95_CORES - idle) / q
    files: list[FileInfo] = []
    cpu_acc: dict[str, float] = {}
    days: dict[int, list[tuple[HistPod, int, int]]] = {}
    for hp in pods:
        pts = raw[hp.name]
        for k, (t, _) in enumerate(pts):
            day = t // 86400
            days.setdefault(day, [])
            if not days[day] or days[day][-1][0] is not hp:
                days[day].append((hp, k, k))
            days[day][-1] = (hp, days[day][-1][1], k)
    for day in sorted(days):
        label = rfc3339(day * 86400)[:10]
        sink = Sink(root, f"metrics/history-{s.name}-{label}.om", "metrics", "openmetrics",
                    gz=gz, unit="samples")
        om = OMWriter(sink)
        series = days[day]
        om.family("container_cpu_usage_seconds", "counter", "Cumulative cpu time consumed in "
                  "seconds.", "seconds")
        usage_rows: dict[str, list[float]] = {}
        for hp, lo, hi in series:
            pts = raw[hp.name][lo:hi + 1]
            vals = []
            acc = cpu_acc.get(hp.name, 0.0)
            usage = []
            for t, v in pts:
                cores = idle + a * v
                if hp.burst and hp.start <= t < hp.start + 900:
                    cores = 1.55 + 0.1 * rng.random()  # start-up burst of the last rollout
                usage.append(cores)
                acc += cores * STEP
                vals.append(round(acc, 3))
            cpu_acc[hp.name] = acc
            usage_rows[hp.name] = usage
            om.series("container_cpu_usage_seconds_total", _labels(s, hp, cpu=True),
                      [t for t, _ in pts], vals)
        om.family("container_memory_working_set_bytes", "gauge", "Current working set of the "
                  "container in bytes.", "bytes")
        for hp, lo, hi in series:
            pts = raw[hp.name][lo:hi + 1]
            om.series("container_memory_working_set_bytes", _labels(s, hp), [t for t, _ in pts],
                      [int((s.mem_base_mi + 25 * v + rng.gauss(0, 3)) * MIB) for t, v in pts])
        for fam in ("container_cpu_cfs_periods", "container_cpu_cfs_throttled_periods"):
            om.family(fam, "counter", "Number of elapsed enforcement period intervals."
                      if fam.endswith("_periods") and "throttled" not in fam
                      else "Number of throttled period intervals.")
            for hp, lo, hi in series:
                pts = raw[hp.name][lo:hi + 1]
                key = f"{fam}:{hp.name}"
                acc = cpu_acc.get(key, 0.0)
                vals_i = []
                for u in usage_rows[hp.name]:
                    if "throttled" not in fam:
                        acc += STEP * 10.0 * min(1.0, 0.25 + 1.6 * u)
                    vals_i.append(int(acc))
                cpu_acc[key] = acc
                om.series(f"{fam}_total", _labels(s, hp), [t for t, _ in pts], vals_i)
        om.close()
        files.append(sink.close())
    prior = {name: v for name, v in cpu_acc.items() if ":" not in name}
    return files, prior


def _labels(s: Service, hp: HistPod, cpu: bool = False) -> dict[str, str]:
    labels = {"container": s.container_name, "image": hp.image,
              "instance": f"{hp.node_ip}:10250", "job": "kubelet",
              "metrics_path": "/metrics/cadvisor", "namespace": s.namespace, "node": hp.node,
              "pod": hp.name, "service": "kubelet"}
    if cpu:
        labels["cpu"] = "total"
    return labels
