"""Logs: lines from templates per service and language, linked to traces, with stack traces.

Each service logs the way its stack does: Envoy access logs, pino JSON (Node),
zap JSON (Go, stack traces inside the record), Python ``logging`` text with
tracebacks split into one record per line (as a line-by-line collector ships
container stdout), Spring Boot text with Java stack traces inside one record,
.NET JSON console (exported as OTLP logs), PostgreSQL and Redis server logs.
Volume follows traffic (``factor`` scales request logs; errors and background
lines always appear), failed requests log their exception with the trace and
span id of a matching span when one was sampled, and each scenario adds the
lines its fault really produces (pool timeouts, lock waits, PANICs, restarts).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from obsbench.scenarios import faults_text, rand
from obsbench.scenarios.otlp import attrs, resource
from obsbench.scenarios.sink import Sink
from obsbench.scenarios.timeline import rfc3339_ms, rfc3339_us
from obsbench.scenarios.topology import DOMAIN, Service, service
from obsbench.scenarios.traces import SpanRef, TraceIndex
from obsbench.scenarios.world import Pod, World

NS = 1_000_000_000
# A continuation line collected on its own has no level of its own: written without one.
CONTINUATION_LEVEL = ""

# Request-log rate per request, before the scale's factor.
INFO_RATE = {"api-gateway": 0.35, "frontend": 0.25, "checkout": 0.6, "payment": 1.0,
             "user-api": 0.25, "orders": 0.8, "inventory": 0.08, "notification": 1.0}
DEBUG_RATE = {"inventory": 0.04, "user-api": 0.05, "checkout": 0.15}


def request_log_factor(w: World, target_lines: int) -> float:
    """The share of requests to log so that request logs come to about ``target_lines``."""
    full = 0.0
    for name, rate in INFO_RATE.items():
        svc = service(name)
        per_req = rate + DEBUG_RATE.get(name, 0.0)
        for r in svc.routes:
            full += sum(w.rps[(name, r.op)]) * w.frame.step * per_req
    return min(4.0, target_lines / full) if full else 1.0


@dataclass(slots=True)
class Rec:
    ts_ns: int
    service: str
    level: str
    message: str
    pod: str
    trace_id: str = ""
    span_id: str = ""
    labels: dict[str, str] | None = None


class LogGen:
    def __init__(self, w: World, index: TraceIndex, factor: float, err_factor: float,
                 max_errors: int) -> None:
        self.w = w
        self.max_errors = max_errors
        self.index = index
        self.factor = factor
        self.err_factor = err_factor
        self.rng = w.rng("logs")

    # -- shared pieces -----------------------------------------------------------------------
    def running(self, svc: str, t: float) -> list[Pod]:
        return [p for p in self.w.pods.get(svc, []) if p.running(t)]

    def ts_in(self, i: int) -> int:
        t_end = self.w.frame.t(i)
        return int((t_end - self.w.frame.step * self.rng.random()) * NS)

    def ids(self, ref: SpanRef | None) -> tuple[str, str]:
        if ref is not None:
            return ref.trace_id, ref.span_id
        return rand.trace_id(self.rng), rand.span_id(self.rng)

    # -- per service -------------------------------------------------------------------------
    def records(self, svc: Service) -> Iterator[list[Rec]]:
        """Records of one service, one batch per grid step, each batch in time order."""
        w = self.w
        starts = self._container_starts(svc)
        for i in range(1, w.frame.n):
            t = w.frame.t(i)
            batch: list[Rec] = []
            pods = self.running(svc.name, t - w.frame.step / 2)
            for pod, ts in starts.get(i, []):
                batch.extend(self.startup(svc, pod, ts))
            if pods and svc.kind not in ("database", "cache"):
                batch.extend(self.requests(svc, i, pods))
                batch.extend(self.errors(svc, i, pods))
                batch.extend(self.background(svc, i, pods))
            batch.extend(self.scenario_lines(svc, i, pods))
            batch.sort(key=lambda r: r.ts_ns)
            yield batch

    def _container_starts(self, svc: Service) -> dict[int, list[tuple[Pod, int]]]:
        out: dict[int, list[tuple[Pod, int]]] = {}
        f = self.w.frame
        for pod in self.w.pods.get(svc.name, []):
            begins = [pod.created + 2.0] + [r.started for r in pod.restarts if r.started]
            for b in begins:
                if f.start < b <= f.end:
                    i = min(f.n - 1, int((b - f.start) // f.step) + 1)
                    out.setdefault(i, []).append((pod, int(b * NS)))
        return out

    def requests(self, svc: Service, i: int, pods: list[Pod]) -> list[Rec]:
        w, rng = self.w, self.rng
        out: list[Rec] = []
        for r in svc.routes:
            key = (svc.name, r.op)
            lam = w.rps[key][i] * w.frame.step * INFO_RATE.get(svc.name, 0.0) * self.factor
            n = rand.poisson(rng, lam)
            for _ in range(n):
                # One request, one line: a sampled span is logged at most once, by its pod.
                ref = self.index.pick(rng, svc.name, i, error=False, op=r.op, take=True) \
                    if rng.random() < 0.7 else None
                pod = next((p for p in pods if ref and p.name == ref.pod), rng.choice(pods))
                out.append(self.request_line(svc, r.op, pod, i, ref))
            dl = w.rps[key][i] * w.frame.step * DEBUG_RATE.get(svc.name, 0.0) * self.factor
            for _ in range(rand.poisson(rng, dl)):
                out.append(self.debug_line(svc, r.op, rng.choice(pods), i))
        return out

    def errors(self, svc: Service, i: int, pods: list[Pod]) -> list[Rec]:
        """Every failed request logs, at a rate that keeps rare errors visible at any scale."""
        w, rng = self.w, self.rng
        out: list[Rec] = []
        err_factor = self.err_factor
        for r in svc.routes:
            key = (svc.name, r.op)
            errs = w.errs[key][i]
            for code in sorted(errs):
                lam = w.rps[key][i] * w.frame.step * errs[code] * err_factor
                # Loggers rate-limit a flood of identical errors (and so do we, per step).
                for _ in range(min(self.max_errors, rand.poisson(rng, lam))):
                    ref = self.index.pick(rng, svc.name, i, error=True, op=r.op, take=True)
                    pod = next((p for p in pods if ref and p.name == ref.pod), rng.choice(pods))
                    exc = ref.exception if ref and ref.exception and ref.code == code else \
                        w.pick_exception(svc.name, r.op, code, i, rng)
                    out.extend(self.error_lines(svc, r.op, code, exc, pod, i, ref))
        # Slow requests: a WARN per request slower than the service's budget.
        budget = {"checkout": 1000.0, "user-api": 1000.0, "frontend": 2000.0,
                  "payment": 3000.0, "orders": 2000.0, "inventory": 500.0}.get(svc.name)
        if budget:
            for r in svc.routes:
                key = (svc.name, r.op)
                slow = 1.0 - w.cdf(key, i, budget)
                lam = w.rps[key][i] * w.frame.step * slow * err_factor * 0.5
                for _ in range(rand.poisson(rng, lam)):
                    ms = budget * (1 + rng.expovariate(1.2))
                    out.append(self.slow_line(svc, r.op, rng.choice(pods), i, ms))
        return out

    # -- formats -----------------------------------------------------------------------------
    def request_line(self, svc: Service, op: str, pod: Pod, i: int, ref: SpanRef | None) -> Rec:
        rng = self.rng
        ts = ref.start_ns if ref else self.ts_in(i)
        tid, sid = self.ids(ref)
        route = svc.route(op)
        ms = ref.dur_ms if ref else self.w.sample_ms((svc.name, op), i, rng)
        path = _fill(route.path, rng)
        code = ref.code if ref else ("201" if route.method == "POST" and svc.name in (
            "orders", "payment") else "200")
        if svc.language == "envoy":
            msg = (f'[{rfc3339_ms(ts / NS)}] "{route.method} {path} HTTP/1.1" {code} - 0 '
                   f'{_ri(rng, 900, 48000)} {int(ms)} {max(0, int(ms) - 1)} '
                   f'"{_ri(rng, 31, 212)}.{_ri(rng, 0, 255)}.{_ri(rng, 0, 255)}.'
                   f'{_ri(rng, 1, 254)}" "-" "{rand.uid(tid)}" "{DOMAIN}" '
                   f'"{_upstream(self.w, i, rng)}"')
            return Rec(ts, svc.name, "info", msg, pod.name, tid, sid,
                       {"logger": "envoy.access", "container": svc.container_name})
        if svc.log_format == "pino":
            return Rec(ts, svc.name, "info", "request completed", pod.name, tid, sid,
                       {"req_method": route.method, "req_url": path, "res_statusCode": code,
                        "responseTime": f"{ms:.1f}", "hostname": pod.name})
        if svc.log_format == "zap":
            what = {"GET /v1/cart": "cart loaded", "POST /v1/checkout": "checkout completed",
                    "GET /v1/stock/{sku}": "stock lookup",
                    "POST /v1/reservations": "stock reserved"}.get(op, "request handled")
            src = op.rsplit("/", maxsplit=1)[-1].strip("{}")
            return Rec(ts, svc.name, "info", what, pod.name, tid, sid,
                       {"caller": f"http/{src}.go:{_ri(rng, 40, 190)}",
                        "duration_ms": f"{ms:.2f}", "status": code})
        if svc.log_format == "python":
            msg = (f'{_pyts(ts)} INFO [uvicorn.access] 10.42.{_ri(rng, 10, 59)}.'
                   f'{_ri(rng, 2, 250)}:{_ri(rng, 30000, 60000)} - "{route.method} {path} '
                   f'HTTP/1.1" {code}')
            return Rec(ts, svc.name, "info", msg, pod.name, tid, sid, {"logger": "uvicorn.access"})
        if svc.log_format == "logback":
            text = {"POST /v1/payments": f"Payment {_ri(rng, 10**7, 10**8)} captured "
                                         f"(psp_ref=ch_{rand.stable_hash(tid, length=14)}) in "
                                         f"{int(ms)} ms",
                    "POST /v1/orders": f"Order {_ri(rng, 10**6, 10**7)} created for customer "
                                       f"{_ri(rng, 10**5, 10**6)}",
                    "GET /v1/orders": f"Listed {_ri(rng, 0, 20)} orders for customer "
                                      f"{_ri(rng, 10**5, 10**6)}"}.get(op, "Request handled")
            logger = "c.s.payment.service.PaymentService" if svc.name == "payment" else \
                "c.s.orders.service.OrderService"
            return Rec(ts, svc.name, "info", _spring(ts, "INFO", svc.name, rng, logger, text),
                       pod.name, tid, sid, {"logger": logger})
        if svc.log_format == "dotnet":
            return Rec(ts, svc.name, "info", f"Sent order confirmation e-mail for order "
                       f"{_ri(rng, 10**6, 10**7)}", pod.name, tid, sid,
                       {"category": "Shop.Notification.Handlers.OrderCreatedHandler"})
        return Rec(ts, svc.name, "info", f"{op} {code}", pod.name, tid, sid)

    def debug_line(self, svc: Service, op: str, pod: Pod, i: int) -> Rec:
        rng = self.rng
        ts = self.ts_in(i)
        if svc.name == "inventory":
            return Rec(ts, svc.name, "debug", "cache hit", pod.name, labels={
                "caller": "cache/sku.go:61", "sku": f"SKU-{_ri(rng, 10000, 99999)}"})
        if svc.name == "user-api":
            return Rec(ts, svc.name, "debug", f"{_pyts(ts)} DEBUG [user_api.cache] session "
                       f"cache hit for user {_ri(rng, 10000, 999999)}", pod.name,
                       labels={"logger": "user_api.cache"})
        return Rec(ts, svc.name, "debug", "promo rules evaluated", pod.name, labels={
            "caller": "promo/rules.go:88", "rules": str(_ri(rng, 3, 17))})

    def slow_line(self, svc: Service, op: str, pod: Pod, i: int, ms: float) -> Rec:
        rng = self.rng
        ts = self.ts_in(i)
        ref = self.index.pick(rng, svc.name, i, op=op)
        tid, sid = self.ids(ref)
        route = svc.route(op)
        if svc.log_format == "zap":
            return Rec(ts, svc.name, "warn", "request exceeded latency budget", pod.name, tid,
                       sid, {"caller": "http/middleware.go:77", "route": route.path,
                             "duration_ms": f"{ms:.1f}"})
        if svc.log_format == "python":
            return Rec(ts, svc.name, "warn", f"{_pyts(ts)} WARNING [user_api.middleware] slow "
                       f"request {route.method} {route.path} took {ms:.0f} ms", pod.name, tid,
                       sid, {"logger": "user_api.middleware"})
        if svc.log_format == "pino":
            return Rec(ts, svc.name, "warn", "slow response", pod.name, tid, sid,
                       {"route": route.path, "responseTime": f"{ms:.0f}"})
        logger = "c.s.common.web.SlowRequestFilter"
        return Rec(ts, svc.name, "warn", _spring(ts, "WARN", svc.name, rng, logger,
                                                 f"Slow request {route.method} {route.path} "
                                                 f"took {ms:.0f} ms"), pod.name, tid, sid,
                   {"logger": logger})

    def error_lines(  # noqa: PLR0917
            self, svc: Service, op: str, code: str, exc: str, pod: Pod, i: int,
                    ref: SpanRef | None) -> list[Rec]:
        rng = self.rng
        ts = ref.start_ns + int(ref.dur_ms * 1e6) if ref else self.ts_in(i)
        tid, sid = self.ids(ref)
        route = svc.route(op)
        path = _fill(route.path, rng)
        msg = faults_text.message(exc)
        if svc.language == "envoy":
            flags = "UO" if code == "503" else ("UT" if code == "504" else "-")
            line = (f'[{rfc3339_ms(ts / NS)}] "{route.method} {path} HTTP/1.1" {code} {flags} 0 '
                    f'{91 if code == "503" else 24} {_ri(rng, 1, 15000)} - '
                    f'"{_ri(rng, 31, 212)}.{_ri(rng, 0, 255)}.{_ri(rng, 0, 255)}.'
                    f'{_ri(rng, 1, 254)}" "-" "{rand.uid(tid)}" "{DOMAIN}" "-"')
            return [Rec(ts, svc.name, "info", line, pod.name, tid, sid,
                        {"logger": "envoy.access", "container": svc.container_name})]
        if svc.log_format == "pino":
            first = Rec(ts, svc.name, "error", "upstream request failed", pod.name, tid, sid,
                        {"route": route.path, "err_type": exc, "res_statusCode": code})
            lines = faults_text.node_trace(exc)
            return [first] + [Rec(ts + k + 1, svc.name, CONTINUATION_LEVEL, line, pod.name)
                              for k, line in enumerate(lines)]
        if svc.log_format == "zap":
            text = {"502": "upstream call failed", "503": "dependency unavailable",
                    "504": "upstream call timed out"}.get(code, "request failed")
            return [Rec(ts, svc.name, "error", f"{text}\n{faults_text.go_trace(svc.name)}",
                        pod.name, tid, sid, {"caller": "http/errors.go:31", "error": msg,
                                             "route": route.path, "status": code})]
        if svc.log_format == "python":
            head = Rec(ts, svc.name, "error", f"{_pyts(ts)} ERROR [user_api.app] Exception in "
                       f"ASGI application while handling {route.method} {path}", pod.name, tid,
                       sid, {"logger": "user_api.app"})
            lines = faults_text.python_trace(exc)
            return [head] + [Rec(ts + k + 1, svc.name, CONTINUATION_LEVEL, line, pod.name)
                             for k, line in enumerate(lines)]
        if svc.log_format == "logback":
            logger = "o.a.c.c.C.[.[.[/].[dispatcherServlet]"
            trace = faults_text.java_trace(exc)
            text = (f"Servlet.service() for servlet [dispatcherServlet] in context with path [] "
                    f"threw exception [Request processing failed: {trace.split(chr(10))[0]}] "
                    "with root cause")
            return [Rec(ts, svc.name, "error",
                        _spring(ts, "ERROR", svc.name, rng, logger, text) + "\n\n" + trace,
                        pod.name, tid, sid, {"logger": logger})]
        if svc.log_format == "dotnet":
            return [Rec(ts, svc.name, "error", f"Failed to handle message from order-events\n"
                        f"{faults_text.dotnet_trace(exc)}", pod.name, tid, sid,
                        {"category": "Shop.Notification.Worker"})]
        return [Rec(ts, svc.name, "error", msg, pod.name, tid, sid)]

    # -- background and lifecycle -------------------------------------------------------------
    def background(self, svc: Service, i: int, pods: list[Pod]) -> list[Rec]:
        rng = self.rng
        out: list[Rec] = []
        step_min = self.w.frame.step / 60.0
        for pod in pods:
            for _ in range(rand.poisson(rng, 0.5 * step_min)):
                out.append(self.periodic(svc, pod, i))
        return out

    def periodic(self, svc: Service, pod: Pod, i: int) -> Rec:
        rng = self.rng
        ts = self.ts_in(i)
        fmt = svc.log_format
        if fmt == "envoy":
            return Rec(ts, svc.name, "info", f"[{rfc3339_ms(ts / NS)}][1][info][upstream] "
                       "[source/common/upstream/cds_api_helper.cc:32] cds: add 14 cluster(s), "
                       "remove 0 cluster(s)", pod.name, labels={"logger": "upstream"})
        if fmt == "pino":
            return Rec(ts, svc.name, "info", "metrics flushed", pod.name,
                       labels={"hostname": pod.name})
        if fmt == "zap":
            return Rec(ts, svc.name, "info", "redis pool stats", pod.name, labels={
                "caller": "cache/redis.go:44", "idle": str(_ri(rng, 2, 9)),
                "total": "10", "stale": "0"})
        if fmt == "python":
            return Rec(ts, svc.name, "info", f"{_pyts(ts)} INFO [user_api.health] readiness "
                       "check ok (db=ok, redis=ok)", pod.name, labels={"logger": "user_api.health"})
        if fmt == "logback":
            logger = "com.zaxxer.hikari.pool.HikariPool"
            return Rec(ts, svc.name, "debug", _spring(ts, "DEBUG", svc.name, rng, logger,
                       f"HikariPool-1 - Pool stats (total={svc.pool_size}, active="
                       f"{_ri(rng, 1, 4)}, idle={svc.pool_size - 2}, waiting=0)"), pod.name,
                       labels={"logger": logger})
        if fmt == "dotnet":
            return Rec(ts, svc.name, "info", "Committed offsets for order-events [partition "
                       f"{_ri(rng, 0, 11)}] at {_ri(rng, 10**6, 10**7)}", pod.name,
                       labels={"category": "Shop.Notification.Worker"})
        if fmt == "postgres":
            return Rec(ts, svc.name, "info", f"{_pgts(ts)} [{_ri(rng, 100, 999)}] LOG:  "
                       "checkpoint complete: wrote 1843 buffers (1.4%); 0 WAL file(s) added, 0 "
                       "removed, 2 recycled; write=179.853 s, sync=0.012 s, total=179.901 s",
                       pod.name)
        if fmt == "redis":
            return Rec(ts, svc.name, "info", f"1:M {_redists(ts)} * 10000 changes in 60 seconds. "
                       "Saving...", pod.name)
        return Rec(ts, svc.name, "info", "heartbeat", pod.name)

    def startup(self, svc: Service, pod: Pod, ts: int) -> list[Rec]:
        rng = self.rng
        version = next((r.version for r in self.w.revisions[svc.name]
                        if r.number == pod.revision), svc.version)
        lines: list[tuple[str, str]]
        if svc.log_format == "zap":
            lines = [("info", f"starting {svc.name} version={version} GOMAXPROCS=8"),
                     ("info", "connected to postgres"), ("info", "listening on :8080")]
        elif svc.log_format == "python":
            lines = [("info", f"{_pyts(ts)} INFO [uvicorn.error] Started server process "
                              f"[{_ri(rng, 1, 9)}]"),
                     ("info", f"{_pyts(ts)} INFO [user_api] user-api {version} starting (pool_size"
                              "=10, max_overflow=10, pool_timeout=2.0)"),
                     ("info", f"{_pyts(ts)} INFO [uvicorn.error] Application startup complete.")]
        elif svc.log_format == "logback":
            lines = [("info", _spring(ts, "INFO", svc.name, rng, "c.s.Application",
                                      f"Starting Application v{version} using Java 21.0.2")),
                     ("info", _spring(ts, "INFO", svc.name, rng,
                                      "com.zaxxer.hikari.HikariDataSource",
                                      "HikariPool-1 - Start completed.")),
                     ("info", _spring(ts, "INFO", svc.name, rng,
                                      "o.s.b.w.embedded.tomcat.TomcatWebServer",
                                      "Tomcat started on port 8080 (http) with context path ''"))]
            if svc.name == "orders":
                flags = "true" if any(c.service == "orders" and c.kind == "config"
                                      and c.ts <= ts / NS for c in self.w.changes) else "false"
                lines.append(("info", _spring(ts, "INFO", svc.name, rng,
                                              "c.s.orders.config.FeatureFlags",
                                              f"Loaded feature flags from /config/flags.yaml: "
                                              f"pricing.v2.enabled={flags}, export.async=true")))
        elif svc.log_format == "pino":
            lines = [("info", f"frontend {version} listening on 0.0.0.0:3000")]
        elif svc.log_format == "envoy":
            lines = [("info", f"[{rfc3339_ms(ts / NS)}][1][info][main] [source/server/server.cc:"
                              f"932] starting main dispatch loop")]
        elif svc.log_format == "dotnet":
            lines = [("info", "Application started. Hosting environment: Production"),
                     ("info", "Subscribed to order-events (group notification)")]
        elif svc.log_format == "postgres":
            lines = [("info", f"{_pgts(ts)} [1] LOG:  starting PostgreSQL 15.6 on x86_64-pc-"
                              "linux-gnu"),
                     ("info", f"{_pgts(ts)} [1] LOG:  database system is ready to accept "
                              "connections")]
        else:
            lines = [("info", f"1:M {_redists(ts)} * Ready to accept connections tcp")]
        return [Rec(ts + k * 1000, svc.name, lvl, msg, pod.name) for k, (lvl, msg) in
                enumerate(lines)]

    # -- scenario-specific lines --------------------------------------------------------------
    def scenario_lines(self, svc: Service, i: int, pods: list[Pod]) -> list[Rec]:
        w, rng = self.w, self.rng
        t = w.frame.t(i)
        out: list[Rec] = []
        step_min = w.frame.step / 60.0
        if svc.name == "postgres" and pods:
            pod = pods[0]
            if w.lock is not None and w.lock[0] <= t < w.lock[1] + w.frame.step:
                waits = rand.poisson(rng, 6 * step_min * self.err_factor * 4)
                for _ in range(waits):
                    ts = self.ts_in(i)
                    pid = _ri(rng, 20000, 39999)
                    stmt = rng.choice(("UPDATE orders SET status = $1, updated_at = now() "
                                       "WHERE id = $2", "INSERT INTO orders (id, customer_id, "
                                       "status, total_cents, created_at) VALUES ($1, $2, $3, $4, "
                                       "now())"))
                    out.append(Rec(ts, "postgres", "info", f"{_pgts(ts)} [{pid}] LOG:  process "
                                   f"{pid} still waiting for RowExclusiveLock on relation 16423 "
                                   f"of database 16384 after 1000.{_ri(rng, 10, 99)} ms",
                                   pod.name))
                    out.append(Rec(ts + 1, "postgres", "info", f"{_pgts(ts)} [{pid}] DETAIL:  "
                                   f"Process holding the lock: 3921. Wait queue: {pid}.", pod.name))
                    out.append(Rec(ts + 2, "postgres", "info", f"{_pgts(ts)} [{pid}] STATEMENT:  "
                                   f"{stmt}", pod.name))
                    t2 = ts + 4 * NS
                    out.append(Rec(t2, "postgres", "error", f"{_pgts(t2)} [{pid}] ERROR:  "
                                   "canceling statement due to statement timeout", pod.name))
                    out.append(Rec(t2 + 1, "postgres", "error", f"{_pgts(t2)} [{pid}] STATEMENT:"
                                   f"  {stmt}", pod.name))
                if w.lock[0] <= t < w.lock[0] + w.frame.step:
                    ts = int(w.lock[0] * NS)
                    out.append(Rec(ts, "postgres", "info", f"{_pgts(ts)} [3921] LOG:  statement: "
                                   "LOCK TABLE orders IN SHARE ROW EXCLUSIVE MODE", pod.name))
                if w.lock[1] <= t < w.lock[1] + w.frame.step:
                    ts = int(w.lock[1] * NS)
                    out.append(Rec(ts, "postgres", "info", f"{_pgts(ts)} [3921] FATAL:  "
                                   "terminating connection due to administrator command", pod.name))
                    out.append(Rec(ts + 1, "postgres", "info", f"{_pgts(ts)} [3921] STATEMENT:  "
                                   "UPDATE orders SET reconciled_at = now(), settlement_status = "
                                   "s.status FROM settlements s WHERE s.order_id = orders.id AND "
                                   "orders.reconciled_at IS NULL", pod.name))
            if w.disk_full_at is not None and t >= w.disk_full_at:
                for _ in range(rand.poisson(rng, 3 * step_min)):
                    ts = self.ts_in(i)
                    out.append(Rec(ts, "postgres", "fatal", f"{_pgts(ts)} [{_ri(rng, 100, 999)}]"
                                   " FATAL:  the database system is in recovery mode", pod.name))
        if svc.name == "postgres" and w.disk_full_at is not None:
            for pod in w.pods["postgres"]:
                for r in pod.restarts:
                    if t - w.frame.step < r.terminated <= t:
                        ts = int(r.terminated * NS)
                        for k, (lvl, text) in enumerate((
                            ("fatal", "PANIC:  could not write to file \"pg_wal/xlogtemp.312\": "
                                      "No space left on device"),
                            ("info", "LOG:  WAL writer process (PID 312) was terminated by "
                                     "signal 6: Aborted"),
                            ("info", "LOG:  terminating any other active server processes"),
                            ("info", "LOG:  all server processes terminated; reinitializing"),
                            ("fatal", "FATAL:  could not write lock file \"postmaster.pid\": No "
                                      "space left on device"),
                        )):
                            out.append(Rec(ts + k * 1000, "postgres", lvl,
                                           f"{_pgts(ts)} [{1 if k > 1 else 312}] {text}",
                                           pod.name))
        if svc.name == "nightly-reconcile":
            for pod in w.pods.get(svc.name, []):
                if pod.created <= t < pod.created + w.frame.step:
                    ts = int(pod.created * NS) + 2 * NS
                    for k, text in enumerate((
                        "INFO [reconcile] nightly-reconcile 0.9.3 starting (settlement date "
                        "yesterday)",
                        "INFO [reconcile] 14212811 orders awaiting reconciliation",
                        "INFO [reconcile] LOCK TABLE orders IN SHARE ROW EXCLUSIVE MODE "
                        "(consistent snapshot for settlement)",
                        "INFO [reconcile] running UPDATE orders ... FROM settlements "
                        "(single statement)",
                    )):
                        out.append(Rec(ts + k * NS, svc.name, "info",
                                       f"{_pyts(ts + k * NS)} {text}", pod.name))
                for r in pod.restarts:
                    if t - w.frame.step < r.terminated <= t and r.exit_code:
                        ts = int(r.terminated * NS) - NS
                        out.append(Rec(ts, svc.name, "error", f"{_pyts(ts)} ERROR [reconcile] "
                                       "reconciliation aborted", pod.name))
                        for k, line in enumerate([
                            "Traceback (most recent call last):",
                            '  File "/app/reconcile/main.py", line 88, in run',
                            "    cur.execute(RECONCILE_SQL)",
                            "psycopg.errors.AdminShutdown: terminating connection due to "
                            "administrator command"]):
                            out.append(Rec(ts + k + 1, svc.name, CONTINUATION_LEVEL, line,
                                           pod.name))
        if svc.name == "inventory" and w.leaks and pods:
            leak = w.leaks[0]
            if t >= leak.shape.start:
                for pod in pods:
                    mem = w.pod_memory(svc, pod, t)
                    if mem is not None and mem > 300 and rng.random() < 0.5 * step_min:
                        ts = self.ts_in(i)
                        out.append(Rec(ts, svc.name, "warn", "sku cache above soft limit",
                                       pod.name, labels={"caller": "cache/sku.go:112",
                                                         "entries": str(int(mem * 2900)),
                                                         "heap_mb": f"{mem * 0.62:.0f}"}))
        if svc.name == "api-gateway" and pods and t >= w.cert_expiry:
            n = rand.poisson(rng, 20 * step_min * self.err_factor)
            for _ in range(n):
                ts = self.ts_in(i)
                ip = f"{_ri(rng, 31, 212)}.{_ri(rng, 0, 255)}.{_ri(rng, 0, 255)}." \
                     f"{_ri(rng, 1, 254)}"
                out.append(Rec(ts, svc.name, "warn", f"[{rfc3339_ms(ts / NS)}][23][warning]"
                               f"[connection] [source/common/tls/ssl_socket.cc:246] remote "
                               f"address:{ip}:{_ri(rng, 1024, 65535)},TLS_error:|268436501:"
                               "SSL routines:OPENSSL_internal:SSLV3_ALERT_CERTIFICATE_EXPIRED:"
                               "TLS_error_end", rng.choice(pods).name,
                               labels={"logger": "connection"}))
        if svc.name == "frontend" and pods and w.saturation["frontend"][i] > 0.85:
            for _ in range(rand.poisson(rng, 4 * step_min * len(pods))):
                ts = self.ts_in(i)
                lag = 80 + 900 * (w.saturation["frontend"][i] - 0.85)
                out.append(Rec(ts, svc.name, "warn", "event loop lag high", rng.choice(pods).name,
                               labels={"lagMs": f"{lag * rng.uniform(0.7, 1.4):.0f}"}))
        if svc.name == "payment" and pods:
            key = ("payment-gateway", "POST /v1/charges")
            slow = 1.0 - w.cdf(key, i, 2000.0)
            for _ in range(rand.poisson(rng, w.rps[key][i] * w.frame.step * slow
                                        * self.err_factor)):
                ts = self.ts_in(i)
                ref = self.index.pick(rng, "payment", i, op="client payment-gateway")
                tid, sid = self.ids(ref)
                ms = ref.dur_ms if ref else 2000 + rng.expovariate(1 / 1500)
                logger = "c.s.payment.psp.PspClient"
                out.append(Rec(ts, svc.name, "warn", _spring(ts, "WARN", svc.name, rng, logger,
                               f"PSP call POST /v1/charges took {ms:.0f} ms (threshold 2000 ms)"),
                               rng.choice(pods).name, tid, sid, {"logger": logger}))
        if svc.name == "checkout" and pods:
            delay = w.edge_delay.get(("checkout", "payment"), [(0.0, 0.0, 0.0)] * w.frame.n)[i]
            if delay[0] > 50:
                for _ in range(rand.poisson(rng, 3 * step_min * self.err_factor * 4)):
                    ts = self.ts_in(i)
                    ms = 400 + delay[0] + rng.expovariate(1 / 300)
                    labels = {"caller": "payment/client.go:73", "upstream": "payment",
                              "duration_ms": f"{ms:.0f}",
                              "server_time_ms": f"{rng.uniform(180, 320):.0f}"}
                    out.append(Rec(ts, svc.name, "warn", "slow upstream call",
                                   rng.choice(pods).name, labels=labels))
        if (svc.name == "redis" and pods and w.redis_full_at is not None
                and t >= w.redis_full_at and rng.random() < 0.2 * step_min):
            ts = self.ts_in(i)
            out.append(Rec(ts, svc.name, "warn", f"1:M {_redists(ts)} # WARNING: 10000 keys "
                           "evicted in the last second; consider raising maxmemory",
                           pods[0].name))
        return out


def _ri(rng: random.Random, a: int, b: int) -> int:
    """``randint`` without its argument checking (hot path)."""
    return a + int(rng.random() * (b - a + 1))


def _fill(path: str, rng: random.Random) -> str:
    return path.replace("{id}", str(_ri(rng, 10_000, 999_999))).replace(
        "{sku}", f"SKU-{_ri(rng, 10000, 99999)}")


def _upstream(w: World, i: int, rng: random.Random) -> str:
    pods = [p for p in w.pods["frontend"] if p.running(w.frame.t(i))]
    return f"{rng.choice(pods).ip}:3000" if pods else "-"


def _pyts(ts_ns: int) -> str:
    s = rfc3339_ms(ts_ns / NS)
    return f"{s[:10]} {s[11:19]},{s[20:23]}"


def _pgts(ts_ns: int) -> str:
    s = rfc3339_ms(ts_ns / NS)
    return f"{s[:10]} {s[11:23]} UTC"


def _redists(ts_ns: int) -> str:
    dt = datetime.fromtimestamp(ts_ns / NS, tz=UTC)
    return dt.strftime("%d %b %Y %H:%M:%S.") + f"{(ts_ns // 1_000_000) % 1000:03d}"


def _spring(  # noqa: PLR0917
        ts_ns: int, level: str, app: str, rng: random.Random, logger: str, text: str) -> str:
    thread = f"nio-8080-exec-{_ri(rng, 1, 200)}"
    return (f"{rfc3339_ms(ts_ns / NS)}  {level:>5} 1 --- [{app}] [{thread:>15}] "
            f"{logger:<40} : {text}")


# -- writing ----------------------------------------------------------------------------------


def record_json(r: Rec, svc: Service) -> dict[str, Any]:
    d: dict[str, Any] = {"ts": rfc3339_us(r.ts_ns), "service": r.service}
    if r.level:
        d["level"] = r.level
    d["message"] = r.message
    if r.trace_id:
        d["trace_id"] = r.trace_id
        d["span_id"] = r.span_id
    d["pod"] = r.pod
    d["namespace"] = svc.namespace
    if r.labels:
        d.update(r.labels)
    return d


_SEVERITY = {"trace": (1, "Trace"), "debug": (5, "Debug"), "info": (9, "Information"),
             "warn": (13, "Warning"), "error": (17, "Error"), "fatal": (21, "Critical")}


def write_jsonl(gen: LogGen, svc: Service, sink: Sink) -> None:
    for batch in gen.records(svc):
        if batch:
            sink.write("".join(orjson.dumps(record_json(r, svc)).decode() + "\n" for r in batch),
                       len(batch))


def write_otlp_logs(gen: LogGen, svc: Service, sink: Sink) -> None:
    """One ExportLogsServiceRequest per step, records grouped by pod (OTel .NET exporter)."""
    pods = {p.name: p for p in gen.w.pods.get(svc.name, [])}
    for batch in gen.records(svc):
        if not batch:
            continue
        by_pod: dict[str, list[dict[str, Any]]] = {}
        for r in batch:
            num, text = _SEVERITY.get(r.level, (9, "Information"))
            rec: dict[str, Any] = {"timeUnixNano": str(r.ts_ns),
                                   "observedTimeUnixNano": str(r.ts_ns + 1_500_000),
                                   "severityNumber": num, "severityText": text,
                                   "body": {"stringValue": r.message},
                                   "attributes": attrs(dict(r.labels or {}))}
            if r.level in ("error", "fatal") and "\n" in r.message:
                head, _, stack = r.message.partition("\n")
                exc_type, _, exc_msg = stack.split("\n", 1)[0].partition(": ")
                rec["body"] = {"stringValue": head}
                rec["attributes"] += attrs({"exception.type": exc_type,
                                            "exception.message": exc_msg,
                                            "exception.stacktrace": stack})
            if r.trace_id:
                rec["traceId"] = r.trace_id
                rec["spanId"] = r.span_id
            by_pod.setdefault(r.pod, []).append(rec)
        resource_logs = []
        for pod_name in sorted(by_pod):
            pod = pods.get(pod_name)
            version = next((rv.version for rv in gen.w.revisions[svc.name]
                            if pod and rv.number == pod.revision), svc.version)
            resource_logs.append({
                "resource": resource(svc, pod, version),
                "scopeLogs": [{"scope": {"name": "Shop.Notification"},
                               "logRecords": by_pod[pod_name]}]})
        sink.json_line({"resourceLogs": resource_logs}, len(batch))

