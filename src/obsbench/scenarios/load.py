"""Per-pod request counts: the one place the model's rates become integer events.

Metrics (counters, histogram buckets), and the alert rules evaluated on them,
all start from these counts, so a histogram's ``_count`` and the request
counter of the same pod agree exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from obsbench.scenarios import rand
from obsbench.scenarios.topology import Service
from obsbench.scenarios.world import Pod, World

SUCCESS_CODE = {"POST /v1/orders": "201", "POST /v1/payments": "201",
                "POST /v1/reservations": "201"}


@dataclass(slots=True)
class PodLoad:
    """Requests one pod served per scrape interval, by route and status code."""

    pod: Pod
    steps: list[int] = field(default_factory=list)  # grid indices where the pod was scraped
    starts: list[bool] = field(default_factory=list)  # first scrape of a container run
    counts: dict[str, list[dict[str, int]]] = field(default_factory=dict)


def scraped_steps(w: World, pod: Pod) -> tuple[list[int], list[bool]]:
    """Grid indices where the pod's container answered scrapes, and container (re)starts."""
    steps: list[int] = []
    starts: list[bool] = []
    last_start = None
    for i, t in enumerate(w.frame.times):
        if not pod.running(t):
            continue
        cs = pod.container_start(t)
        steps.append(i)
        starts.append(cs != last_start)
        last_start = cs
    return steps, starts


def pod_loads(w: World, svc: Service) -> list[PodLoad]:
    """Split each route's traffic over the pods running at each step, with Poisson noise."""
    frame = w.frame
    pods = w.pods.get(svc.name, [])
    loads = []
    running_at: list[list[Pod]] = [[p for p in pods if p.running(t)] for t in frame.times]
    for pod in pods:
        rng = w.rng(f"load:{pod.name}")
        weight = math.exp(rng.gauss(0.0, 0.05))
        load = PodLoad(pod)
        load.steps, load.starts = scraped_steps(w, pod)
        for r in svc.routes:
            key = (svc.name, r.op)
            ok = SUCCESS_CODE.get(r.op, "200")
            series = []
            for i in load.steps:
                n_run = max(1, len(running_at[i]))
                lam = w.rps[key][i] * frame.step * weight / n_run
                total = rand.poisson(rng, lam)
                codes: dict[str, int] = {}
                errs = w.errs[key][i]
                failed = 0
                for code in sorted(errs):
                    k = min(total - failed, rand.poisson(rng, total * errs[code]))
                    if k > 0:
                        codes[code] = k
                        failed += k
                codes[ok] = total - failed
                series.append(codes)
            load.counts[r.op] = series
        loads.append(load)
    return loads


def cumulative(increments: Sequence[int | float], starts: Sequence[bool]) -> list[int | float]:
    """Running totals that reset where a container (re)started, as counters do."""
    out: list[int | float] = []
    acc: int | float = 0
    for inc, fresh in zip(increments, starts, strict=True):
        if fresh:
            acc = 0
        acc += inc
        out.append(acc)
    return out
