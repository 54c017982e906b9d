"""The simulation model: traffic, latency, errors and resources of every service over time.

A scenario adds *effects* (a slow component in one route, an error ratio, a
network delay on the edges into a service, a traffic surge, a memory leak, a
rollout...) and ``World.compute()`` turns them into per-step state:

1. entry traffic (diurnal, noisy) flows down the call graph into per-route
   request rates;
2. pods come and go (rollouts, HPA scaling, OOM kills and crash-loop
   back-off), giving per-pod load, CPU demand, throttling and saturation;
3. latency and errors are composed bottom-up along the call graph: a
   route's latency is a mixture of log-normal components (its own work plus
   what its calls add), so a slow callee shows up in every caller, with
   client timeouts turning slow calls into 504s and unavailable callees into
   503s.

Every generator (metrics, traces, logs, Kubernetes, alerts) reads this state,
which is why the signals agree with each other.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from obsbench.scenarios import rand
from obsbench.scenarios.timeline import Frame, Shape, diurnal
from obsbench.scenarios.topology import (
    ENTRY,
    NODES,
    SERVICES,
    Call,
    Route,
    Service,
    service,
    topo_order,
)

PEAK_RPS = 180.0
# Baseline failure types by language and status (the rare errors of a healthy service).
DEFAULT_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("java", "500"): "IllegalStateException", ("java", "502"): "HttpServerErrorException",
    ("java", "503"): "HttpServerErrorException", ("java", "504"): "ResourceAccessException",
    ("java", "*"): "RuntimeException",
    ("python", "500"): "sqlalchemy.exc.OperationalError", ("python", "*"): "RuntimeError",
    ("go", "*"): "*errors.errorString", ("go", "502"): "*url.Error",
    ("node", "*"): "Error", ("node", "503"): "FetchError",
    ("dotnet", "*"): "System.InvalidOperationException",
    ("envoy", "*"): "upstream_reset", ("c", "*"): "ERROR",
}
Comp = tuple[float, float, float]  # (weight, extra latency ms over the base, sigma)
RouteKey = tuple[str, str]  # (service, op)

# Rolling-update timing: seconds between new pods and how long they take to get ready.
STARTUP_S = {"java": 48.0, "dotnet": 20.0, "node": 12.0, "python": 10.0, "go": 6.0,
             "envoy": 8.0, "c": 25.0}


# -- effects a scenario can add -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SlowEffect:
    service: str
    route: str | None
    shape: Shape
    weight: float
    extra_ms: float
    sigma: float = 0.35


@dataclass(frozen=True, slots=True)
class ErrorEffect:
    service: str
    route: str | None
    shape: Shape
    ratio: float
    code: str = "500"


@dataclass(frozen=True, slots=True)
class DelayEffect:
    """Extra client-side latency on calls into ``callee`` (optionally only from ``caller``)."""

    callee: str
    shape: Shape
    ms: float
    spike_weight: float = 0.0  # share of calls hitting a retransmission timeout
    spike_ms: float = 1000.0
    caller: str | None = None


@dataclass(frozen=True, slots=True)
class CallEffect:
    """How often a route makes one of its calls: N+1 queries, cache misses falling through."""

    service: str
    route: str
    target_op: str
    shape: Shape
    count: float | None = None
    prob: float | None = None


@dataclass(frozen=True, slots=True)
class TrafficEffect:
    """Entry traffic multiplied by ``factor`` (or per entry route by ``routes``)."""

    shape: Shape
    factor: float
    routes: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class LeakEffect:
    """Memory growth (MiB/min per pod) from ``shape.start``; after an OOM kill a restarted
    container grows at ``restart_mib_per_min`` (re-warming the leaking cache)."""

    service: str
    shape: Shape
    mib_per_min: float
    restart_mib_per_min: float


@dataclass(frozen=True, slots=True)
class Change:
    """A change of a workload: a rollout (image, config or resources) or a ConfigMap edit."""

    ts: float
    service: str
    kind: str  # image | config | resources
    version: str = ""
    change_cause: str = ""
    cpu_limit_m: int | None = None
    cpu_request_m: int | None = None
    mem_limit_mi: int | None = None
    configmap: str = ""
    config_data: dict[str, str] = field(default_factory=dict)
    user: str = "argocd"


# -- pods -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Restart:
    """A container termination and the restart that followed (``restarted`` may be None)."""

    terminated: float
    reason: str  # OOMKilled | Error | Completed
    exit_code: int
    started: float | None  # when the container ran again


@dataclass(slots=True)
class Pod:
    name: str
    service: str
    revision: int
    rs_hash: str
    node: str
    node_ip: str
    ip: str
    created: float
    ready: float
    deleted: float | None = None
    uid: str = ""
    restarts: list[Restart] = field(default_factory=list)
    # Leaking memory: (from ts, MiB at that time, MiB/min growth), one per container run.
    mem_segments: list[tuple[float, float, float]] = field(default_factory=list)

    def alive(self, ts: float) -> bool:
        return self.created <= ts and (self.deleted is None or ts < self.deleted)

    def running(self, ts: float) -> bool:
        """Alive, ready and its container not between a kill and its restart."""
        if not self.alive(ts) or ts < self.ready:
            return False
        for r in self.restarts:
            if r.terminated <= ts and (r.started is None or ts < r.started + 5.0):
                return False
        return True

    def container_start(self, ts: float) -> float:
        """When the container running at ``ts`` started (for counter resets)."""
        start = self.created
        for r in self.restarts:
            if r.started is not None and r.started <= ts:
                start = r.started
        return start

    def restart_count(self, ts: float) -> int:
        return sum(1 for r in self.restarts if r.started is not None and r.started <= ts)

    def waiting(self, ts: float) -> str | None:
        """CrashLoopBackOff while a restarted container is held back, else None."""
        for r in self.restarts:
            if r.terminated <= ts and (r.started is None or ts < r.started):
                return "CrashLoopBackOff" if self.restart_count(ts) >= 1 else None
        return None


@dataclass(slots=True)
class Revision:
    number: int
    ts: float
    version: str
    rs_hash: str
    change_cause: str
    cpu_request_m: int
    cpu_limit_m: int
    mem_request_mi: int
    mem_limit_mi: int
    config_hash: str
    replicas: int
    user: str = "argocd"


# -- the world -------------------------------------------------------------------------------


class World:
    """Scenario effects in, per-step state of every service out (see module doc)."""

    def __init__(self, name: str, seed: int, frame: Frame) -> None:
        self.name = name
        self.seed = seed
        self.frame = frame
        self.slow: list[SlowEffect] = []
        self.errors: list[ErrorEffect] = []
        self.delays: list[DelayEffect] = []
        self.calls: list[CallEffect] = []
        self.traffic: list[TrafficEffect] = []
        self.leaks: list[LeakEffect] = []
        self.changes: list[Change] = []
        self.cpu_extra: dict[str, list[tuple[Shape, float]]] = {}
        self.throttle_floor: dict[str, float] = {}  # harmless steady throttling (noisy alert)
        self.pool_pressure: dict[str, list[tuple[Shape, float]]] = {}
        self.crashes: list[tuple[str, float, float, str, int]] = []
        # Facts of the scenario that specific exporters and logs read.
        self.cert_expiry: float = frame.end + 61 * 86400.0
        self.cert_silenced = False
        self.lock: tuple[float, float] | None = None  # batch job's table lock (start, end)
        self.batch_runs: list[tuple[float, float, str]] = []  # (start, end, outcome)
        self.disk_full_at: float | None = None
        self.redis_full_at: float | None = None
        self.backlog_flap = False
        self.pinned_node: dict[str, int] = {}  # service -> index into NODES
        self.history_start: float | None = None  # 30-day history (capacity scenario)
        # (service, route or "*", status) -> exception type the code raises for it.
        self.exceptions: dict[tuple[str, str, str], str] = {}
        # computed
        self.entry_rps: list[float] = []
        self._base_rps: list[float] = []
        self.route_mult: dict[str, list[float]] = {}
        self.rps: dict[RouteKey, list[float]] = {}
        self.call_count: dict[tuple[str, str, str], list[float]] = {}
        self.call_prob: dict[tuple[str, str, str], list[float]] = {}
        self.base: dict[RouteKey, list[float]] = {}
        self.comps: dict[RouteKey, list[tuple[Comp, ...]]] = {}
        self.errs: dict[RouteKey, list[dict[str, float]]] = {}
        self.sigma: dict[RouteKey, list[float]] = {}  # log-sd of the base component
        self.self_base: dict[RouteKey, list[float]] = {}
        self.self_comps: dict[RouteKey, list[tuple[Comp, ...]]] = {}
        self.self_errs: dict[RouteKey, list[dict[str, float]]] = {}
        self.edge_delay: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
        self.revisions: dict[str, list[Revision]] = {}
        self.pods: dict[str, list[Pod]] = {}
        self.n_ready: dict[str, list[int]] = {}
        self.avail: dict[str, list[float]] = {}
        self.cpu_demand: dict[str, list[float]] = {}  # cores per pod
        self.throttle: dict[str, list[float]] = {}  # throttled period ratio
        self.saturation: dict[str, list[float]] = {}  # demand / capacity
        self.hpa_desired: dict[str, list[int]] = {}
        self.hpa_events: list[tuple[float, str, int, int, str]] = []
        self.failed_scheduling: list[tuple[float, str, str]] = []

    # -- randomness ------------------------------------------------------------------------
    def rng(self, component: str) -> random.Random:
        return rand.stream(self.name, self.seed, component)

    # -- effect builders (used by the scenario catalog) --------------------------------------
    def add_slow(self, svc: str, route: str | None, shape: Shape, weight: float,  # noqa: PLR0917
                 extra_ms: float, sigma: float = 0.35) -> None:
        self.slow.append(SlowEffect(svc, route, shape, weight, extra_ms, sigma))

    def add_errors(self, svc: str, route: str | None, shape: Shape, ratio: float,
                   code: str = "500") -> None:
        self.errors.append(ErrorEffect(svc, route, shape, ratio, code))

    def add_delay(  # noqa: PLR0917
            self, callee: str, shape: Shape, ms: float, spike_weight: float = 0.0,
                  spike_ms: float = 1000.0, caller: str | None = None) -> None:
        self.delays.append(DelayEffect(callee, shape, ms, spike_weight, spike_ms, caller))

    def set_call(self, svc: str, route: str, target_op: str, shape: Shape, *,
                 count: float | None = None, prob: float | None = None) -> None:
        self.calls.append(CallEffect(svc, route, target_op, shape, count, prob))

    def add_traffic(self, shape: Shape, factor: float,
                    routes: dict[str, float] | None = None) -> None:
        self.traffic.append(TrafficEffect(shape, factor, tuple(sorted((routes or {}).items()))))

    def add_leak(self, svc: str, shape: Shape, mib_per_min: float,
                 restart_mib_per_min: float) -> None:
        self.leaks.append(LeakEffect(svc, shape, mib_per_min, restart_mib_per_min))

    def add_change(self, change: Change) -> None:
        self.changes.append(change)

    def add_cpu(self, svc: str, shape: Shape, cores: float) -> None:
        self.cpu_extra.setdefault(svc, []).append((shape, cores))

    def add_pool_pressure(self, svc: str, shape: Shape, connections: float) -> None:
        self.pool_pressure.setdefault(svc, []).append((shape, connections))

    def add_crash_loop(self, svc: str, start: float, run_s: float, reason: str = "Error",
                       exit_code: int = 1) -> None:
        """From ``start`` the container dies after ``run_s`` seconds, again and again."""
        self.crashes.append((svc, start, run_s, reason, exit_code))

    def set_exception(self, svc: str, route: str, code: str, exception: str) -> None:
        self.exceptions[(svc, route, code)] = exception

    def exception_for(self, svc: str, route: str, code: str) -> str:
        """The exception type behind a failure the scenario caused (its override, if any)."""
        for key in ((svc, route, code), (svc, "*", code), (svc, route, "*"), (svc, "*", "*")):
            if key in self.exceptions:
                return self.exceptions[key]
        return default_exception(svc, code)

    def fault_share(self, key: RouteKey, i: int, code: str) -> float:
        """Share of a route's ``code`` failures at step i beyond its everyday error rate."""
        total = self.errs[key][i].get(code, 0.0)
        if total <= 0:
            return 0.0
        everyday = _route(key).err * 1.1 if code == "500" else 0.0
        return max(0.0, min(1.0, 1.0 - everyday / total))

    def pick_exception(self, svc: str, route: str, code: str, i: int,
                       rng: random.Random) -> str:
        """The exception of one failed request: the fault's, or an everyday one."""
        if rng.random() < self.fault_share((svc, route), i, code):
            return self.exception_for(svc, route, code)
        return default_exception(svc, code)

    # -- compute ---------------------------------------------------------------------------
    def compute(self) -> None:
        self._traffic()
        self._route_rates()
        self._revisions_and_pods()
        self._resources()
        self._latency()

    def _traffic(self) -> None:
        rng = self.rng("traffic")
        walk = 0.0
        out = []
        entry = service(ENTRY)
        self.route_mult = {r.op: [1.0] * self.frame.n for r in entry.routes}
        for i, t in enumerate(self.frame.times):
            walk = 0.92 * walk + rng.gauss(0.0, 0.018)
            base = PEAK_RPS * diurnal(t) * math.exp(walk + rng.gauss(0.0, 0.025))
            total = 0.0
            for r in entry.routes:
                mult = 1.0
                for eff in self.traffic:
                    factor = dict(eff.routes).get(r.op, eff.factor)
                    mult *= 1.0 + (factor - 1.0) * eff.shape.at(t)
                self.route_mult[r.op][i] = mult
                total += r.share * mult
            out.append(base * total)
            self._base_rps.append(base)
        self.entry_rps = out

    def _call_params(self, svc: str, route: str, call: Call, t: float) -> tuple[float, float]:
        count, prob = call.count, call.prob
        for eff in self.calls:
            if eff.service == svc and eff.route == route and eff.target_op == call.op:
                f = eff.shape.at(t)
                if eff.count is not None:
                    count += (eff.count - count) * f
                if eff.prob is not None:
                    prob += (eff.prob - prob) * f
        return count, prob

    def _route_rates(self) -> None:
        n = self.frame.n
        times = self.frame.times
        for s in SERVICES:
            for r in s.routes:
                self.rps[(s.name, r.op)] = [0.0] * n
        entry = service(ENTRY)
        for r in entry.routes:
            mult = self.route_mult[r.op]
            self.rps[(ENTRY, r.op)] = [x * r.share * m for x, m in zip(self._base_rps, mult,
                                                                       strict=True)]
        for name in topo_order():
            svc = service(name)
            for r in svc.routes:
                src = self.rps[(name, r.op)]
                for c in r.calls:
                    params = [self._call_params(name, r.op, c, t) for t in times]
                    counts = [p[0] for p in params]
                    probs = [p[1] for p in params]
                    self.call_count[(name, r.op, c.op)] = counts
                    self.call_prob[(name, r.op, c.op)] = probs
                    dst = self.rps[(c.target, c.op)]
                    for i in range(n):
                        dst[i] += src[i] * probs[i] * counts[i]

    def service_rps(self, name: str) -> list[float]:
        """Requests per second served by a service (all routes)."""
        svc = service(name)
        n = self.frame.n
        total = [0.0] * n
        for r in svc.routes:
            src = self.rps[(name, r.op)]
            for i in range(n):
                total[i] += src[i]
        return total

    # -- revisions, pods, HPA, crash loops ---------------------------------------------------
    def _config_hash(self, svc: str, at: float) -> str:
        parts = [svc]
        for ch in sorted(self.changes, key=lambda c: c.ts):
            if ch.service == svc and ch.kind == "config" and ch.ts <= at:
                parts.append(f"{ch.configmap}:{sorted(ch.config_data.items())}")
        return rand.stable_hash("config", *parts, length=64)

    def _revisions_and_pods(self) -> None:
        rng = self.rng("pods")
        start = self.frame.start
        for s in SERVICES:
            if s.workload not in ("Deployment", "StatefulSet"):
                continue
            res = s.resources
            revs: list[Revision] = []
            history = list(reversed(s.previous_versions[:2]))
            ages = [rng.uniform(24, 40) * 86400, rng.uniform(8, 20) * 86400]
            number = rng.randint(3, 40)
            for v, age in zip(history, ages, strict=False):
                revs.append(self._revision(s, number, start - age, v, f"deploy {v}",
                                           res.cpu_request_m, res.cpu_limit_m,
                                           res.mem_request_mi, res.mem_limit_mi,
                                           "argocd"))
                number += 1
            current_age = rng.uniform(1.6, 6.5) * 86400
            revs.append(self._revision(s, number, start - current_age, s.version,
                                       f"deploy {s.version}", res.cpu_request_m,
                                       res.cpu_limit_m, res.mem_request_mi, res.mem_limit_mi,
                                       "argocd"))
            for ch in sorted(self.changes, key=lambda c: c.ts):
                if ch.service != s.name:
                    continue
                prev = revs[-1]
                number = prev.number + 1
                version = ch.version or prev.version
                revs.append(self._revision(
                    s, number, ch.ts, version, ch.change_cause or f"deploy {version}",
                    ch.cpu_request_m or prev.cpu_request_m, ch.cpu_limit_m or prev.cpu_limit_m,
                    prev.mem_request_mi, ch.mem_limit_mi or prev.mem_limit_mi, ch.user))
            self.revisions[s.name] = revs
            self.pods[s.name] = self._pods_for(s, revs, rng)
        self._hpa(rng)
        self._job_pods(rng)
        self._crash_loops()
        self._ready_counts()

    def _revision(  # noqa: PLR0917
            self, s: Service, number: int, ts: float, version: str, cause: str,
                  cpu_req: int, cpu_lim: int, mem_req: int, mem_lim: int, user: str) -> Revision:
        cfg = self._config_hash(s.name, ts)
        rs_hash = rand.template_hash(s.name, version, cpu_req, cpu_lim, mem_lim, cfg)
        return Revision(number, ts, version, rs_hash, cause, cpu_req, cpu_lim, mem_req, mem_lim,
                        cfg, s.replicas, user)

    def _new_pod(self, s: Service, rev: Revision, created: float, rng: random.Random,
                 index: int) -> Pod:
        if s.workload == "StatefulSet":
            name = f"{'redis-master' if s.name == 'redis' else s.name}-{index}"
        else:
            name = f"{s.name}-{rev.rs_hash}-{rand.k8s_suffix(rng)}"
        slot = self.pinned_node.get(s.name, hash_index(s.name) + index * 2 + rev.number)
        node, node_ip, _ = NODES[slot % len(NODES)]
        subnet = node_ip.split(".")[2]
        ip = f"10.42.{subnet}{rng.randint(0, 9)}.{rng.randint(2, 250)}"
        ready = created + STARTUP_S.get(s.language, 10.0) * rng.uniform(0.8, 1.3)
        return Pod(name, s.name, rev.number, rev.rs_hash, node, node_ip, ip, created, ready,
                   uid=rand.uid(self.name, self.seed, name, created))

    def _pods_for(self, s: Service, revs: list[Revision], rng: random.Random) -> list[Pod]:
        start = self.frame.start
        pods: list[Pod] = []
        current = [r for r in revs if r.ts <= start][-1]
        live: list[Pod] = []
        for k in range(s.replicas):
            created = current.ts + 20.0 + k * 35.0 + rng.uniform(0, 10)
            if s.workload == "StatefulSet":
                created = current.ts + 30.0
            live.append(self._new_pod(s, current, created, rng, k))
        pods.extend(live)
        for rev in revs:
            if rev.ts <= start:
                continue
            gap = STARTUP_S.get(s.language, 10.0) + 12.0
            new_live = []
            for k, old in enumerate(live):
                created = rev.ts + 2.0 + k * gap + rng.uniform(0, 4)
                pod = self._new_pod(s, rev, created, rng, k)
                if s.workload == "StatefulSet":
                    old.deleted = created
                    pod.name = old.name
                else:
                    old.deleted = pod.ready + 1.5
                new_live.append(pod)
            pods.extend(new_live)
            live = new_live
        return pods

    def revision_at(self, svc: str, ts: float) -> Revision:
        revs = self.revisions[svc]
        current = revs[0]
        for r in revs:
            if r.ts <= ts:
                current = r
        return current

    def _hpa(self, rng: random.Random) -> None:
        """A simplified HPA controller: scale up at once, down after 5 min of lower demand."""
        frame = self.frame
        for s in SERVICES:
            if s.hpa is None or s.name not in self.pods:
                continue
            rps = self.service_rps(s.name)
            desired_series = []
            replicas = s.hpa.min_replicas
            last_high = -1e18
            pending: list[tuple[float, int]] = []
            for i, t in enumerate(frame.times):
                rev = self.revision_at(s.name, t)
                demand = self._demand_cores(s, rps[i] / max(1, replicas), t)
                util = demand / (rev.cpu_request_m / 1000.0) * 100.0
                want = math.ceil(replicas * util / s.hpa.target_cpu_pct - 0.1)
                want = max(s.hpa.min_replicas, min(s.hpa.max_replicas, want))
                reason = "cpu resource utilization (percentage of request) above target"
                if want > replicas:
                    self.hpa_events.append((t, s.name, replicas, want, reason))
                    for k in range(replicas, want):
                        pending.append((t + 3.0 + (k - replicas) * 1.5, k))
                    replicas = want
                    last_high = t
                elif want < replicas:
                    if t - last_high >= 300:
                        self.hpa_events.append((t, s.name, replicas, want,
                                                "All metrics below target"))
                        self._scale_down(s.name, t, replicas - want)
                        replicas = want
                else:
                    last_high = t
                desired_series.append(replicas)
            self.hpa_desired[s.name] = desired_series
            for created, k in pending:
                rev = self.revision_at(s.name, created)
                pod = self._new_pod(s, rev, created, rng, k)
                if k == s.hpa.max_replicas - 1:
                    # The cluster is short of CPU for the last pod: it waits for a new node.
                    self.failed_scheduling.append((created, s.name, pod.name))
                    pod.ready += 150.0
                self.pods[s.name].append(pod)

    def _job_pods(self, rng: random.Random) -> None:
        """One pod per CronJob run (Job ``<cronjob>-<scheduled minute>``), ended by outcome."""
        s = service("nightly-reconcile")
        rev = Revision(1, self.frame.start - 40 * 86400, s.version,
                       rand.template_hash(s.name, s.version), f"deploy {s.version}",
                       s.resources.cpu_request_m, s.resources.cpu_limit_m,
                       s.resources.mem_request_mi, s.resources.mem_limit_mi, "", 0)
        self.revisions[s.name] = [rev]
        pods = []
        for start, end, outcome in self.batch_runs:
            job = f"{s.name}-{int(start // 60)}"
            pod = self._new_pod(s, rev, start + 1.0, rng, 0)
            pod.name = f"{job}-{rand.k8s_suffix(rng)}"
            pod.ready = start + 4.0
            pod.deleted = None
            code = 0 if outcome == "Complete" else 1
            pod.restarts.append(Restart(end, "Completed" if code == 0 else "Error", code, None))
            pods.append(pod)
        self.pods[s.name] = pods

    def _scale_down(self, svc: str, ts: float, count: int) -> None:
        alive = [p for p in self.pods[svc] if p.alive(ts)]
        for p in sorted(alive, key=lambda p: -p.created)[:count]:
            p.deleted = ts + 1.0

    def _crash_loops(self) -> None:
        """OOM kills from memory leaks, with kubelet's exponential restart back-off."""
        for leak in self.leaks:
            s = service(leak.service)
            for pod in self.pods[s.name]:
                limit = self.revision_at(s.name, pod.created).mem_limit_mi
                rng = self.rng(f"oom:{pod.name}")
                t = max(pod.created, leak.shape.start)
                mem = self.baseline_mem(s, pod)
                rate = leak.mib_per_min * rng.uniform(0.85, 1.15)
                backoff = 10.0
                end = pod.deleted if pod.deleted is not None else self.frame.end + 1
                while t < end:
                    pod.mem_segments.append((t, mem, rate))
                    killed = t + max((limit - mem) / max(rate, 1e-6) * 60.0, 30.0)
                    if killed >= end:
                        break
                    # The first restart is immediate; later ones wait 10 s, 20 s, 40 s ... 5 min.
                    restart_at = killed + (backoff if pod.restarts else 1.0)
                    if pod.restarts:
                        backoff = min(300.0, backoff * 2)
                    pod.restarts.append(Restart(killed, "OOMKilled", 137, restart_at))
                    t = restart_at
                    mem = self.baseline_mem(s, pod) * 0.7
                    rate = leak.restart_mib_per_min * rng.uniform(0.8, 1.2)

        for svc_name, start, run_s, reason, code in self.crashes:
            for pod in self.pods[svc_name]:
                end = pod.deleted if pod.deleted is not None else self.frame.end + 1
                t = max(start, pod.created)
                backoff = 10.0
                first = True
                while True:
                    killed = t + (0.0 if first else run_s)
                    if killed >= end:
                        break
                    restart_at = killed + (1.0 if first else backoff)
                    if not first:
                        backoff = min(300.0, backoff * 2)
                    pod.restarts.append(Restart(killed, reason, code, restart_at))
                    first = False
                    t = restart_at
            for pod in self.pods[svc_name]:
                pod.restarts.sort(key=lambda r: r.terminated)

    def baseline_mem(self, s: Service, pod: Pod) -> float:
        """A pod's steady working set (MiB): the service's base with a per-pod offset."""
        h = int(rand.stable_hash(pod.name, length=4), 16) / 65535.0
        return s.mem_base_mi * (0.92 + 0.16 * h)

    def pod_memory(self, s: Service, pod: Pod, ts: float) -> float | None:
        """Working set (MiB) of a leaking pod at ``ts``; None when no leak applies."""
        current = None
        for seg in pod.mem_segments:
            if seg[0] <= ts:
                current = seg
        if current is None:
            return None
        limit = self.revision_at(s.name, pod.created).mem_limit_mi
        return min(limit * 0.999, current[1] + (ts - current[0]) / 60.0 * current[2])

    def _ready_counts(self) -> None:
        """Ready pods and availability per step (a kill loses ~6 s of that pod's traffic)."""
        frame = self.frame
        for s in SERVICES:
            if s.name not in self.pods:
                continue
            pods = self.pods[s.name]
            counts = []
            avail = []
            for t in frame.times:
                alive = [p for p in pods if p.alive(t)]
                running = [p for p in alive if p.running(t)]
                counts.append(len(running))
                kills = sum(1 for p in alive for r in p.restarts
                            if t - frame.step < r.terminated <= t)
                if not running:
                    avail.append(0.0)
                else:
                    # Each kill fails the requests in flight and those routed before the
                    # endpoint is removed.
                    loss = kills * 6.0 / (frame.step * max(1, len(alive)))
                    avail.append(max(0.0, 1.0 - loss))
            self.n_ready[s.name] = counts
            self.avail[s.name] = avail

    # -- CPU, throttling, saturation ---------------------------------------------------------
    def _demand_cores(self, s: Service, rps_per_pod: float, ts: float) -> float:
        cores = s.idle_cpu_m / 1000.0 + s.cpu_ms_per_req * rps_per_pod / 1000.0
        for shape, extra in self.cpu_extra.get(s.name, []):
            cores += extra * shape.at(ts)
        return cores

    def _resources(self) -> None:
        frame = self.frame
        for s in SERVICES:
            if s.name not in self.pods:
                continue
            rps = self.service_rps(s.name)
            rng = self.rng(f"cpu:{s.name}")
            demand_series, throttle_series, sat_series = [], [], []
            floor = self.throttle_floor.get(s.name, 0.0)
            for i, t in enumerate(frame.times):
                ready = max(1, self.n_ready[s.name][i])
                demand = self._demand_cores(s, rps[i] / ready, t) * math.exp(rng.gauss(0, 0.04))
                rev = self.revision_at(s.name, t)
                limit = rev.cpu_limit_m / 1000.0
                x = demand / limit if limit > 0 else 0.0
                theta = min(0.95, max(0.0, (x - 0.35) / 0.8))
                theta = max(theta, floor * math.exp(rng.gauss(0, 0.12)) if floor else 0.0)
                capacity = min(limit, s.threads) if s.threads else limit
                demand_series.append(demand)
                throttle_series.append(min(0.97, theta))
                sat_series.append(demand / capacity if capacity > 0 else 0.0)
            self.cpu_demand[s.name] = demand_series
            self.throttle[s.name] = throttle_series
            self.saturation[s.name] = sat_series

    def cpu_usage(self, svc: str, i: int) -> float:
        """Cores actually used per pod (demand capped just under the limit)."""
        limit = self.revision_at(svc, self.frame.t(i)).cpu_limit_m / 1000.0
        return min(self.cpu_demand[svc][i], limit * 0.985)

    # -- latency and errors ------------------------------------------------------------------
    def _latency(self) -> None:
        frame = self.frame
        n = frame.n
        times = frame.times
        noise: dict[RouteKey, list[float]] = {}
        for s in SERVICES:
            for r in s.routes:
                rng = self.rng(f"lat:{s.name}:{r.op}")
                walk = 0.0
                series = []
                for _ in range(n):
                    walk = 0.9 * walk + rng.gauss(0.0, 0.03)
                    series.append(math.exp(walk))
                noise[(s.name, r.op)] = series
        # Edge delays (client side): (ms, spike weight, spike ms) per (caller, callee).
        for s in SERVICES:
            for r in s.routes:
                for c in r.calls:
                    key = (s.name, c.target)
                    if key in self.edge_delay:
                        continue
                    vals = []
                    for t in times:
                        ms, sw, sms = 0.0, 0.0, 0.0
                        for d in self.delays:
                            if d.callee == c.target and (d.caller in (None, s.name)):
                                f = d.shape.at(t)
                                ms += d.ms * f
                                sw += d.spike_weight * f
                                sms = max(sms, d.spike_ms)
                        vals.append((ms, sw, sms))
                    self.edge_delay[key] = vals
        for name in reversed(topo_order()):
            svc = service(name)
            for r in svc.routes:
                key = (name, r.op)
                bases: list[float] = []
                comps_l: list[tuple[Comp, ...]] = []
                errs_l: list[dict[str, float]] = []
                sig_l: list[float] = []
                sbases: list[float] = []
                scomps_l: list[tuple[Comp, ...]] = []
                serrs_l: list[dict[str, float]] = []
                for i in range(n):
                    sb, sc, se = self._self_part(svc, r, i, times[i], noise[key][i])
                    b, comps, e, sg = self._compose(svc, r, i, times[i], sb, sc, se)
                    sig_l.append(sg)
                    sbases.append(sb)
                    scomps_l.append(sc)
                    serrs_l.append(se)
                    bases.append(b)
                    comps_l.append(comps)
                    errs_l.append(e)
                self.self_base[key] = sbases
                self.self_comps[key] = scomps_l
                self.self_errs[key] = serrs_l
                self.base[key] = bases
                self.comps[key] = comps_l
                self.errs[key] = errs_l
                self.sigma[key] = sig_l

    def _self_part(self, svc: Service, r: Route, i: int, t: float,
                   noise: float) -> tuple[float, tuple[Comp, ...], dict[str, float]]:
        base = r.self_ms * noise
        comps: list[Comp] = []
        errs: dict[str, float] = {}
        if svc.name in self.saturation:
            rho = self.saturation[svc.name][i]
            base *= 1.0 + 6.0 * max(0.0, rho - 0.65) ** 2
            if rho > 1.0:
                _add(errs, "503", min(0.3, (rho - 1.0) * 0.25))
            if svc.threads and rho > 0.75:
                # A saturated event loop: a growing tail waits for its turn.
                comps.append((min(0.45, (rho - 0.75) * 1.2), 350.0 * rho, 0.45))
            theta = self.throttle[svc.name][i]
            if theta > 0.05 and svc.name not in self.throttle_floor:
                limit = self.revision_at(svc.name, t).cpu_limit_m / 1000
                x = self.cpu_demand[svc.name][i] / limit
                comps.append((min(0.6, theta * 0.55), 90.0 * (1.0 + 8.0 * max(0.0, x - 0.8)), 0.5))
        for eff in self.slow:
            if eff.service == svc.name and eff.route in (None, r.op):
                w = eff.weight * eff.shape.at(t)
                if w > 0:
                    comps.append((w, eff.extra_ms, eff.sigma))
        if r.err:
            _add(errs, "500", r.err * noise)
        for err in self.errors:
            if err.service == svc.name and err.route in (None, r.op):
                v = err.ratio * err.shape.at(t)
                if v > 0:
                    _add(errs, err.code, v)
        return base, _normalise(comps), errs

    def _compose(self, svc: Service, r: Route, i: int, t: float, base: float,  # noqa: PLR0917
                 self_comps: tuple[Comp, ...],
                 self_errs: dict[str, float]
                 ) -> tuple[float, tuple[Comp, ...], dict[str, float], float]:
        comps = list(self_comps)
        errs = dict(self_errs)
        seq = 0.0
        par = 0.0
        var = (base * r.sigma) ** 2  # spread of the sum, in ms^2 (log-sd times median)
        par_var = 0.0
        for c in r.calls:
            if c.kind == "produce":
                seq += 1.5
                continue
            k = self.call_count[(svc.name, r.op, c.op)][i]
            p = self.call_prob[(svc.name, r.op, c.op)][i]
            tb = self.base[(c.target, c.op)][i]
            tcomps = self.comps[(c.target, c.op)][i]
            terrs = self.errs[(c.target, c.op)][i]
            delay_ms, spike_w, spike_ms = self.edge_delay[(svc.name, c.target)][i]
            rtt = 0.35 if c.kind in ("db", "cache") else (0.0 if c.kind == "external" else 0.9)
            cb = tb + delay_ms + rtt
            tsig = self.sigma[(c.target, c.op)][i]
            if c.parallel:
                width = cb * (1.0 + 0.3 * math.log(max(1.0, k)))
                if width > par:
                    par = width
                    par_var = (width * tsig * 0.8) ** 2
            else:
                seq += p * k * cb
                var += p * k * (cb * tsig) ** 2
            for w, x, sg in tcomps:
                w2 = p * (1.0 - (1.0 - w) ** max(k, 1e-9))
                if c.timeout_ms and cb + x > c.timeout_ms * 0.7:
                    frac = 1.0 - _phi(math.log(c.timeout_ms / (cb + x)) / max(sg, 0.05))
                    comps.append((w2, max(0.0, min(x, c.timeout_ms - cb)), 0.08))
                    _add(errs, "504", w2 * frac * c.err_prop)
                else:
                    comps.append((w2, x, sg))
            if spike_w > 0:
                comps.append((p * (1.0 - (1.0 - spike_w) ** max(k, 1e-9)), spike_ms, 0.3))
            for code, e in terrs.items():
                e2 = p * (1.0 - (1.0 - min(e, 1.0)) ** max(k, 1e-9)) * c.err_prop
                _add(errs, _caller_code(svc, code), e2)
            if c.target in self.avail:
                a = self.avail[c.target][i]
                if a < 1.0:
                    _add(errs, "503", p * (1.0 - a ** max(k, 1e-9)) * c.err_prop)
        total = base + seq + par
        for key in list(errs):
            errs[key] = min(errs[key], 0.99)
        sigma = max(0.22, math.sqrt(var + par_var) / total)
        return total, _normalise(comps), errs, min(sigma, 0.9)

    # -- queries used by generators and tests ---------------------------------------------
    def error_ratio(self, key: RouteKey, i: int) -> float:
        return min(0.99, sum(self.errs[key][i].values()))

    def cdf(self, key: RouteKey, i: int, x_ms: float, sigma: float | None = None) -> float:
        """P(latency <= x) for a route at step i."""
        return mixture_cdf(self.base[key][i], self.comps[key][i],
                           sigma if sigma is not None else self.sigma[key][i], x_ms)

    def sample_ms(self, key: RouteKey, i: int, rng: random.Random) -> float:
        """One latency draw from a route's mixture at step i (cheap, unlike ``quantile``)."""
        base = self.base[key][i]
        u = rng.random()
        acc = 0.0
        for w, extra, sg in self.comps[key][i]:
            acc += w
            if u < acc:
                return (base + extra) * math.exp(rng.gauss(0.0, sg))
        return base * math.exp(rng.gauss(0.0, self.sigma[key][i]))

    def quantile(self, key: RouteKey, i: int, q: float) -> float:
        lo, hi = 0.01, 600_000.0
        for _ in range(60):
            mid = math.sqrt(lo * hi)
            if self.cdf(key, i, mid) < q:
                lo = mid
            else:
                hi = mid
        return hi

    def mean_ms(self, key: RouteKey, i: int) -> float:
        sigma = self.sigma[key][i]
        base = self.base[key][i]
        comps = self.comps[key][i]
        wsum = sum(w for w, _, _ in comps)
        m = (1.0 - wsum) * base * math.exp(sigma * sigma / 2)
        for w, x, sg in comps:
            m += w * (base + x) * math.exp(sg * sg / 2)
        return m


def default_exception(svc: str, code: str) -> str:
    """What a healthy service of this language throws on its rare failures."""
    lang = service(svc).language
    return DEFAULT_EXCEPTIONS.get((lang, code), DEFAULT_EXCEPTIONS.get((lang, "*"), "Error"))


def _route(key: RouteKey) -> Route:
    return service(key[0]).route(key[1])


def hash_index(name: str) -> int:
    return int(rand.stable_hash(name, length=6), 16)


def _add(d: dict[str, float], code: str, v: float) -> None:
    d[code] = d.get(code, 0.0) + v


def _caller_code(svc: Service, code: str) -> str:
    """The status a caller answers when its callee failed with ``code``."""
    if svc.kind == "gateway":
        return code  # Envoy passes the upstream status through
    if code in ("503", "504"):
        return "503" if svc.language in ("node",) else ("502" if svc.language == "go" else "500")
    return "500"


def _phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def mixture_cdf(base: float, comps: tuple[Comp, ...], sigma: float, x_ms: float) -> float:
    """CDF of a latency mixture: base component plus slow components at base + extra."""
    if x_ms <= 0:
        return 0.0
    lx = math.log(x_ms)
    wsum = 0.0
    acc = 0.0
    for w, extra, sg in comps:
        wsum += w
        acc += w * _phi((lx - math.log(base + extra)) / sg)
    acc += (1.0 - wsum) * _phi((lx - math.log(base)) / sigma)
    return acc


def _normalise(comps: list[Comp] | tuple[Comp, ...]) -> tuple[Comp, ...]:
    """Merge near-identical components, keep at most six, total weight at most 0.97."""
    items = sorted((c for c in comps if c[0] > 1e-6), key=lambda c: c[1])
    merged: list[list[float]] = []
    for w, x, sg in items:
        if merged and x <= merged[-1][1] * 1.2 + 2.0:
            mw = merged[-1][0] + w
            merged[-1][1] = (merged[-1][1] * merged[-1][0] + x * w) / mw
            merged[-1][2] = max(merged[-1][2], sg)
            merged[-1][0] = mw
        else:
            merged.append([w, x, sg])
    while len(merged) > 6:
        j = min(range(len(merged)), key=lambda k: merged[k][0])
        other = j - 1 if j > 0 else 1
        mw = merged[other][0] + merged[j][0]
        merged[other][1] = (merged[other][1] * merged[other][0] + merged[j][1] * merged[j][0]) / mw
        merged[other][0] = mw
        del merged[j]
    total = sum(m[0] for m in merged)
    if total > 0.97:
        scale = 0.97 / total
        for m in merged:
            m[0] *= scale
    return tuple((m[0], m[1], m[2]) for m in merged)

