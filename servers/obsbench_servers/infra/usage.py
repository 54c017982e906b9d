"""Container usage over a window: CPU and memory percentiles, throttling, restarts, OOM kills.

CPU comes from the ``container_cpu_usage_seconds_total`` counter as **5-minute rates**
(each pod's increase over each 5-minute bucket, counter resets handled), the
resolution capacity planning uses and what ``rate(...[5m])`` shows; memory from
``container_memory_working_set_bytes`` (what the kubelet compares with the limit)
as the highest value of each 5-minute bucket. Percentiles are nearest-rank over all
pods' buckets of the window, so every 5 minutes of every pod weighs the same.
Throttling is ``throttled periods / periods`` (cAdvisor CFS counters) over the window.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

from obsbench_servers.infra.metrics_source import MetricsSource, Series, selector

BUCKET_MS = 300_000
MAX_GAP_MS = 3 * BUCKET_MS  # a longer gap between samples is missing data, not one rate


@dataclass
class Percentiles:
    p50: float
    p95: float
    p99: float
    max: float
    points: int

    def to_dict(self) -> dict[str, Any]:
        return {"p50": self.p50, "p95": self.p95, "p99": self.p99, "max": self.max,
                "points": self.points}


def percentiles(values: list[float]) -> Percentiles | None:
    """Nearest-rank percentiles (index ``int(q * (n - 1))`` of the sorted values)."""
    vals = sorted(v for v in values if not math.isnan(v))
    if not vals:
        return None
    n = len(vals)

    def q(p: float) -> float:
        return vals[int(p * (n - 1))]

    return Percentiles(q(0.50), q(0.95), q(0.99), vals[-1], n)


def _increase(v0: float, v1: float) -> float:
    return v1 - v0 if v1 >= v0 else v1  # a counter reset restarts from zero


def counter_rates(series: Series, bucket_ms: int = BUCKET_MS) -> list[float]:
    """Per-second rates over each ``bucket_ms`` bucket of each series."""
    rates: list[float] = []
    for _, pts in series:
        buckets: dict[int, list[float]] = {}
        for (t0, v0), (t1, v1) in itertools.pairwise(pts):
            dt = t1 - t0
            if dt <= 0 or dt > MAX_GAP_MS:
                continue
            b = buckets.setdefault((t1 - 1) // bucket_ms, [0.0, 0.0])
            b[0] += _increase(v0, v1)
            b[1] += dt / 1000
        rates.extend(inc / secs for inc, secs in buckets.values() if secs > 0)
    return rates


def gauge_maxima(series: Series, bucket_ms: int = BUCKET_MS) -> list[float]:
    out: list[float] = []
    for _, pts in series:
        buckets: dict[int, float] = {}
        for ts, v in pts:
            b = ts // bucket_ms
            if math.isnan(v):
                continue
            buckets[b] = max(buckets.get(b, v), v)
        out.extend(buckets.values())
    return out


def counter_increase(series: Series) -> float:
    total = 0.0
    for _, pts in series:
        for (_, v0), (_, v1) in itertools.pairwise(pts):
            total += _increase(v0, v1)
    return total


def growth_per_hour(series: Series) -> float | None:
    """Median slope (units/hour) of steady climbs: a leak's sawtooth, restart after restart.

    Each series is cut into runs where no 5-minute maximum falls more than 2% below the
    one before (a restart, or noise, ends a run). A run of at least six points that rises
    by at least 20% and whose least-squares line explains >= 80% of its variance counts.
    None when nothing climbs steadily.
    """
    slopes: list[float] = []
    for _, pts in series:
        buckets: dict[int, float] = {}
        for ts, v in pts:
            if not math.isnan(v):
                buckets[ts // BUCKET_MS] = max(buckets.get(ts // BUCKET_MS, v), v)
        run: list[tuple[int, float]] = []
        for b, v in [*sorted(buckets.items()), (-1, -1.0)]:
            if b < 0 or (run and v < 0.98 * run[-1][1]):
                if len(run) >= 6 and run[-1][1] >= 1.2 * max(run[0][1], 1e-9):
                    slope, r2 = _fit(run)
                    if r2 >= 0.8 and slope > 0:
                        slopes.append(slope * 3_600_000 / BUCKET_MS)
                run = []
            if b >= 0:
                run.append((b, v))
    if not slopes:
        return None
    slopes.sort()
    return slopes[len(slopes) // 2]


def _fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    n = len(points)
    xs = [float(p[0]) for p in points]
    ys = [p[1] for p in points]
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    if sxx == 0 or syy == 0:
        return 0.0, 0.0
    slope = sxy / sxx
    return slope, (sxy * sxy) / (sxx * syy)


@dataclass
class ContainerUsage:
    """What one container of one workload used over the window, and how sure that is."""

    container: str
    cpu: Percentiles | None = None
    memory: Percentiles | None = None
    throttled_ratio: float | None = None
    throttled_periods: float = 0.0
    periods: float = 0.0
    restarts: float | None = None
    oom_killed_pods: list[str] = field(default_factory=list)
    memory_growth_per_hour: float | None = None
    pods: list[str] = field(default_factory=list)
    first_ms: int | None = None
    last_ms: int | None = None
    queries: list[str] = field(default_factory=list)

    @property
    def covered_s(self) -> float:
        if self.first_ms is None or self.last_ms is None:
            return 0.0
        return (self.last_ms - self.first_ms) / 1000

    def to_dict(self) -> dict[str, Any]:
        return {
            "container": self.container,
            "cpu_cores": self.cpu.to_dict() if self.cpu else None,
            "memory_bytes": self.memory.to_dict() if self.memory else None,
            "throttled_ratio": self.throttled_ratio,
            "throttled_periods": self.throttled_periods, "periods": self.periods,
            "restarts": self.restarts, "oom_killed_pods": self.oom_killed_pods,
            "memory_growth_bytes_per_hour": self.memory_growth_per_hour,
            "pods": self.pods, "covered_seconds": self.covered_s,
        }


def container_usage(source: MetricsSource, namespace: str, pod_pattern: str, container: str, *,
                    start_ns: int, end_ns: int) -> ContainerUsage:
    """Read the five families for one container and summarise them."""
    eq = {"namespace": namespace, "container": container}
    rx = {"pod": pod_pattern}
    usage = ContainerUsage(container)

    def read(metric: str, extra: dict[str, str] | None = None) -> Series:
        labels = {**eq, **(extra or {})}
        usage.queries.append(selector(metric, labels, rx))
        return source.series(metric, labels, rx, start_ns, end_ns)

    cpu = read("container_cpu_usage_seconds_total")
    # cAdvisor exports one series per CPU on some setups; "total" is the sum when present.
    if any(lab.get("cpu") == "total" for lab, _ in cpu):
        cpu = [(lab, pts) for lab, pts in cpu if lab.get("cpu") == "total"]
    usage.cpu = percentiles(counter_rates(cpu))
    mem = read("container_memory_working_set_bytes")
    usage.memory = percentiles(gauge_maxima(mem))
    usage.memory_growth_per_hour = growth_per_hour(mem)
    throttled = counter_increase(read("container_cpu_cfs_throttled_periods_total"))
    periods = counter_increase(read("container_cpu_cfs_periods_total"))
    usage.throttled_periods, usage.periods = throttled, periods
    usage.throttled_ratio = throttled / periods if periods > 0 else None
    restarts = read("kube_pod_container_status_restarts_total")
    usage.restarts = counter_increase(restarts) if restarts else None
    oom = read("kube_pod_container_status_last_terminated_reason", {"reason": "OOMKilled"})
    usage.oom_killed_pods = sorted({lab.get("pod", "") for lab, pts in oom
                                    if any(v >= 1 for _, v in pts)})
    times = [ts for _, pts in cpu + mem for ts, _ in pts]
    if times:
        usage.first_ms, usage.last_ms = min(times), max(times)
    usage.pods = sorted({lab.get("pod", "") for lab, _ in cpu + mem})
    return usage
