"""Traces: span trees that follow the call graph, sampled from the same model as the metrics.

Each sampled request starts at the gateway and walks its route's calls:
server spans in every instrumented service, client spans for each outgoing
call (HTTP, SQL with ``db.statement``, Redis, the external PSP), Kafka
producer/consumer pairs, errors with status and ``exception`` events, client
timeouts that end the client span while the server span runs on, network
delay that only the client side sees, N+1 query fans, and a few traces whose
services' clocks disagree. Written as newline-delimited
``ExportTraceServiceRequest`` documents, one per scrape interval, as the
Collector's file exporter writes them. The ``TraceIndex`` lets logs carry the
trace and span ids of real spans.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from obsbench.scenarios import faults_text, rand
from obsbench.scenarios.otlp import SPAN_KIND, STATUS_ERROR, attrs, resource, scope
from obsbench.scenarios.sink import Sink
from obsbench.scenarios.topology import ENTRY, Call, Route, Service, service
from obsbench.scenarios.world import Pod, World

NS = 1_000_000
HOST = {"postgres": "postgres.data.svc.cluster.local",
        "redis": "redis-master.data.svc.cluster.local",
        "payment-gateway": "api.paygw.example.com"}


@dataclass(slots=True)
class SpanRef:
    """A span logs can point at: who served what, when, and how it ended."""

    trace_id: str
    span_id: str
    service: str
    pod: str
    op: str
    start_ns: int
    dur_ms: float
    code: str  # HTTP status (or "" for non-HTTP spans)
    error: bool
    exception: str = ""
    detail: str = ""  # for client spans: the peer or statement


@dataclass
class TraceIndex:
    """Spans by (service, grid step), for log correlation; plus counts."""

    by_step: dict[tuple[str, int], list[SpanRef]] = field(default_factory=lambda:
                                                          defaultdict(list))
    spans: int = 0
    traces: int = 0

    def pick(self, rng: random.Random, svc: str, i: int, error: bool | None = None,  # noqa: PLR0917
             op: str | None = None, take: bool = False) -> SpanRef | None:
        """A span of ``svc`` in step i (``take``: each span is handed out once)."""
        refs = self.by_step.get((svc, i))
        if not refs:
            return None
        cands = [r for r in refs if (error is None or r.error == error)
                 and (op is None or r.op == op)]
        if not cands:
            return None
        ref = rng.choice(cands)
        if take:
            refs.remove(ref)
        return ref


class _Trace:
    __slots__ = ("spans", "trace_id")

    def __init__(self, trace_id: str) -> None:
        self.trace_id = trace_id
        self.spans: list[tuple[str, Pod | None, str, dict[str, Any]]] = []


class TraceGen:
    def __init__(self, w: World, target_traces: int) -> None:
        self.w = w
        self.rng = w.rng("traces")
        total = sum(w.entry_rps) * w.frame.step
        self.rate = min(1.0, target_traces / max(1.0, total))
        self.index = TraceIndex()
        self._running: dict[tuple[str, int], list[Pod]] = {}
        self._versions: dict[tuple[str, int], str] = {}

    # -- helpers -----------------------------------------------------------------------------
    def running(self, svc: str, i: int) -> list[Pod]:
        key = (svc, i)
        hit = self._running.get(key)
        if hit is None:
            t = self.w.frame.t(i) - self.w.frame.step / 2
            hit = [p for p in self.w.pods.get(svc, []) if p.running(t)]
            self._running[key] = hit
        return hit

    def version(self, svc: str, pod: Pod) -> str:
        key = (svc, pod.revision)
        v = self._versions.get(key)
        if v is None:
            v = next((r.version for r in self.w.revisions[svc] if r.number == pod.revision),
                     service(svc).version)
            self._versions[key] = v
        return v

    def sample_self(self, key: tuple[str, str], route: Route, i: int) -> float:
        w, rng = self.w, self.rng
        base = w.self_base[key][i]
        u = rng.random()
        acc = 0.0
        for wgt, extra, sg in w.self_comps[key][i]:
            acc += wgt
            if u < acc:
                return (base + extra) * math.exp(rng.gauss(0.0, sg))
        return base * math.exp(rng.gauss(0.0, route.sigma))

    def sample_full(self, key: tuple[str, str], i: int) -> float:
        """A whole-route latency draw (for services without spans of their own)."""
        w, rng = self.w, self.rng
        base = w.base[key][i]
        u = rng.random()
        acc = 0.0
        for wgt, extra, sg in w.comps[key][i]:
            acc += wgt
            if u < acc:
                return (base + extra) * math.exp(rng.gauss(0.0, sg))
        return base * math.exp(rng.gauss(0.0, w.sigma[key][i]))

    def self_error(self, key: tuple[str, str], i: int) -> str | None:
        errs = self.w.self_errs[key][i]
        total = sum(errs.values())
        if total <= 0:
            return None
        u = self.rng.random()
        if u >= total:
            return None
        acc = 0.0
        for code in sorted(errs):
            acc += errs[code]
            if u < acc:
                return code
        return None

    # -- spans -------------------------------------------------------------------------------
    def _span(  # noqa: PLR0917
            self, tr: _Trace, svc: Service, pod: Pod | None, kind: str, scope_kind: str,
              name: str, span_id: str, parent: str, start: int, end: int,
              attributes: dict[str, Any], error: str | None = None,
              exc: tuple[str, str] | None = None) -> None:
        span: dict[str, Any] = {
            "traceId": tr.trace_id, "spanId": span_id, "parentSpanId": parent, "name": name,
            "kind": SPAN_KIND[kind], "startTimeUnixNano": str(start),
            "endTimeUnixNano": str(max(end, start + 1000)), "attributes": attrs(attributes),
        }
        if exc is not None:
            span["events"] = [{"timeUnixNano": str(max(end - 200_000, start)), "name": "exception",
                               "attributes": attrs({"exception.type": exc[0],
                                                    "exception.message": exc[1]})}]
        span["status"] = {"code": STATUS_ERROR, "message": error} if error else {}
        tr.spans.append((svc.name, pod, scope_kind, span))

    def server(  # noqa: PLR0917
            self, tr: _Trace, svc: Service, op: str, i: int, start: int, parent: str,
               client_attrs: dict[str, Any] | None = None) -> tuple[int, str | None] | None:
        """A request served by ``svc``; None when no pod was there to take it."""
        rng = self.rng
        pods = self.running(svc.name, i)
        if not pods:
            return None
        pod = rng.choice(pods)
        route = svc.route(op)
        key = (svc.name, op)
        span_id = rand.span_id(rng)
        self_ms = self.sample_self(key, route, i)
        pre = self_ms * rng.uniform(0.2, 0.5)
        t = start + int(pre * NS)
        failure: str | None = None
        failure_exc: str | None = None
        from_child = False
        par_end = t
        par_start: int | None = None
        for c in route.calls:
            k = self.w.call_count[(svc.name, op, c.op)][i]
            p = self.w.call_prob[(svc.name, op, c.op)][i]
            if rng.random() >= p:
                continue
            n = int(k) + (1 if rng.random() < k - int(k) else 0)
            for _ in range(n):
                if c.parallel:
                    if par_start is None:
                        par_start = t
                    end, err = self.call(tr, svc, pod, c, i, par_start + rng.randint(0, 400_000),
                                         span_id)
                    par_end = max(par_end, end)
                else:
                    if par_start is not None:
                        t = par_end
                        par_start = None
                    end, err = self.call(tr, svc, pod, c, i, t + rng.randint(50_000, 300_000),
                                         span_id)
                    t = end
                if err and failure is None and rng.random() < c.err_prop:
                    failure = "504" if err == "504" else _caller_code(svc, err)
                    from_child = True
        if par_start is not None:
            t = max(t, par_end)
        end = t + int((self_ms - pre) * NS)
        own = self.self_error(key, i)
        if own and failure is None:
            failure = own
        exc_type = ""
        if failure:
            exc_type = self.w.exception_for(svc.name, op, failure) if from_child else \
                self.w.pick_exception(svc.name, op, failure, i, rng)
            failure_exc = faults_text.message(exc_type)
        code = failure or ("201" if op.startswith("POST /v1/orders")
                           or op == "POST /v1/payments" else "200")
        if svc.kind == "consumer":
            a: dict[str, Any] = {"messaging.system": "kafka", "messaging.operation": "process",
                 "messaging.destination.name": "order-events",
                 "messaging.kafka.consumer.group": "notification"}
            self._span(tr, svc, pod, "consumer", "messaging", op, span_id, parent, start, end, a,
                       failure_exc, (exc_type, failure_exc or "") if failure else None)
            code = "" if not failure else "error"
        else:
            path = _fill(route.path, rng)
            a = {"http.request.method": route.method, "http.route": route.path,
                 "url.path": path, "http.response.status_code": int(code),
                 "server.address": f"{svc.name}.{svc.namespace}.svc.cluster.local",
                 "server.port": svc.port, "network.protocol.version": "1.1"}
            if client_attrs:
                a.update(client_attrs)
            self._span(tr, svc, pod, "server", "http", f"{route.method} {route.path}", span_id,
                       parent, start, end, a, f"HTTP {code}" if failure else None,
                       (exc_type, failure_exc or "") if failure else None)
        self.index.by_step[(svc.name, i)].append(SpanRef(
            tr.trace_id, span_id, svc.name, pod.name, op, start, (end - start) / NS, code,
            failure is not None, exc_type))
        return end, failure

    def call(  # noqa: PLR0917
            self, tr: _Trace, caller: Service, pod: Pod, c: Call, i: int, start: int,
             parent: str) -> tuple[int, str | None]:
        rng = self.rng
        w = self.w
        span_id = rand.span_id(rng)
        target = service(c.target)
        if c.kind == "produce":
            end = start + int(rng.uniform(0.6, 2.5) * NS)
            attrs_p: dict[str, Any] = {"messaging.system": "kafka",
                                       "messaging.operation": "publish",
                                       "messaging.destination.name": "order-events"}
            self._span(tr, caller, pod, "producer", "messaging", "order-events publish", span_id,
                       parent, start, end, attrs_p)
            lag = int(rng.uniform(15, 400) * NS)
            self.server(tr, target, c.op, i, end + lag, span_id)
            return end, None
        if c.kind in ("db", "cache"):
            key = (c.target, c.op)
            route = target.route(c.op)
            down = w.n_ready[c.target][i] == 0
            dur = 1.2 if down else self.sample_full(key, i) + 0.35 * rng.uniform(0.7, 1.5)
            err = "503" if down else self.self_error(key, i)
            end = start + int(dur * NS)
            a: dict[str, Any]
            if c.kind == "db":
                a = {
                    "db.system": "postgresql", "db.name": "shop",
                    "db.statement": route.statement, "db.operation": c.op.split(" ")[0],
                    "db.sql.table": c.op.split(" ", 1)[1], "db.user": caller.name.replace("-", "_"),
                    "server.address": HOST["postgres"], "server.port": 5432}
                name = c.op
            else:
                a = {"db.system": "redis", "db.statement": route.statement,
                     "db.operation": c.op.split(" ")[0], "db.redis.database_index": 0,
                     "server.address": HOST["redis"], "server.port": 6379}
                name = c.op.split(" ")[0]
            exc = None
            msg = None
            if err:
                exc_name = _db_exception(caller, w, down)
                msg = faults_text.message(exc_name) if not down else \
                    "connection refused: postgres.data.svc.cluster.local:5432"
                exc = (exc_name, msg)
            self._span(tr, caller, pod, "client", "db" if c.kind == "db" else "cache", name,
                       span_id, parent, start, end, a, msg, exc)
            return end, err
        if c.kind == "external":
            key = (c.target, c.op)
            dur = self.sample_full(key, i)
            err = self.self_error(key, i)
            if c.timeout_ms and dur > c.timeout_ms:
                dur, err = c.timeout_ms, "504"
            end = start + int(dur * NS)
            a = {"http.request.method": "POST", "url.full": f"https://{HOST[c.target]}"
                 f"{target.route(c.op).path}", "server.address": HOST[c.target],
                 "server.port": 443, "peer.service": c.target}
            if err != "504":
                a["http.response.status_code"] = int(err or "201")
            exc = None
            if err:
                exc_name = "ResourceAccessException" if err == "504" else "HttpServerErrorException"
                exc = (exc_name, faults_text.message(exc_name))
            self._span(tr, caller, pod, "client", "client", "POST", span_id, parent, start, end,
                       a, exc[1] if exc else None, exc)
            self.index.by_step[(caller.name, i)].append(SpanRef(
                tr.trace_id, span_id, caller.name, pod.name, f"client {c.target}", start,
                dur, err or "201", err is not None, exc[0] if exc else "", c.target))
            return end, err
        # HTTP to an internal service: network time on both sides of the server span.
        delay_ms, spike_w, spike_ms = w.edge_delay[(caller.name, c.target)][i]
        d = delay_ms * rng.uniform(0.75, 1.25)
        if spike_w and rng.random() < spike_w:
            d += spike_ms * rng.uniform(0.9, 1.2)
        rtt = 0.9 * math.exp(rng.gauss(0, 0.3))
        srv_start = start + int((rtt / 2 + d / 2) * NS)
        res = self.server(tr, target, c.op, i, srv_start, span_id)
        if res is None:
            end, err = start + int(rng.uniform(1, 3) * NS), "503"
        else:
            srv_end, err = res
            end = srv_end + int((rtt / 2 + d / 2) * NS)
        if c.timeout_ms and (end - start) / NS > c.timeout_ms:
            end, err = start + int(c.timeout_ms * NS), "504"
        route = target.route(c.op)
        a = {"http.request.method": route.method,
             "url.full": f"http://{c.target}.{target.namespace}.svc.cluster.local:{target.port}"
                         f"{_fill(route.path, rng)}",
             "server.address": f"{c.target}.{target.namespace}.svc.cluster.local",
             "server.port": target.port}
        if err not in {"504", "503"}:
            a["http.response.status_code"] = int(err or ("201" if route.method == "POST"
                                                         and c.target in ("orders", "payment")
                                                         else "200"))
        elif err == "503" and res is not None:
            a["http.response.status_code"] = 503
        msg = None
        exc = None
        if err == "504":
            msg = "context deadline exceeded" if caller.language == "go" else "timeout"
            exc = (_timeout_exc(caller), msg)
        elif err:
            msg = f"HTTP {err}"
        self._span(tr, caller, pod, "client", "http", route.method, span_id, parent, start, end,
                   a, msg, exc)
        return end, err

    # -- driver ------------------------------------------------------------------------------
    def run(self, sink: Sink) -> TraceIndex:
        w, rng = self.w, self.rng
        entry = service(ENTRY)
        for i in range(1, w.frame.n):
            shares = [(r.op, w.rps[(ENTRY, r.op)][i]) for r in entry.routes]
            total_share = sum(s for _, s in shares)
            t_end = w.frame.t(i)
            lam = w.entry_rps[i] * w.frame.step * self.rate
            n = rand.poisson(rng, lam)
            batch: list[_Trace] = []
            starts = sorted(t_end - w.frame.step + rng.random() * w.frame.step for _ in range(n))
            for ts in starts:
                u = rng.random() * total_share
                acc = 0.0
                op = shares[-1][0]
                for name, share in shares:
                    acc += share
                    if u < acc:
                        op = name
                        break
                tr = _Trace(rand.trace_id(rng))
                res = self.server(tr, entry, op, i, int(ts * 1e9), "",
                                  {"user_agent.original": _ua(rng), "client.address":
                                   f"{rng.randint(31, 212)}.{rng.randint(0, 255)}."
                                   f"{rng.randint(0, 255)}.{rng.randint(1, 254)}"})
                if res is None or not tr.spans:
                    continue
                if rng.random() < 0.02:
                    _skew(tr, rng)
                batch.append(tr)
            if batch:
                self._write(sink, batch)
        return self.index

    def _write(self, sink: Sink, batch: list[_Trace]) -> None:
        groups: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
        pods: dict[tuple[str, str], Pod | None] = {}
        count = 0
        for tr in batch:
            self.index.traces += 1
            for svc_name, pod, scope_kind, span in tr.spans:
                key = (svc_name, pod.name if pod else "")
                pods[key] = pod
                groups.setdefault(key, {}).setdefault(scope_kind, []).append(span)
                count += 1
        resource_spans = []
        for key in sorted(groups):
            svc = service(key[0])
            pod = pods[key]
            version = self.version(svc.name, pod) if pod else svc.version
            resource_spans.append({
                "resource": resource(svc, pod, version),
                "scopeSpans": [{"scope": scope(svc.language, kind), "spans": spans}
                               for kind, spans in sorted(groups[key].items())],
            })
        self.index.spans += count
        sink.json_line({"resourceSpans": resource_spans}, count)


def _caller_code(svc: Service, code: str) -> str:
    if svc.kind == "gateway":
        return code
    if code in ("503", "504"):
        return "503" if svc.language == "node" else ("502" if svc.language == "go" else "500")
    return "500"


def _db_exception(caller: Service, w: World, down: bool) -> str:
    if caller.language == "python":
        return "sqlalchemy.exc.OperationalError" if down else w.exception_for(
            caller.name, "*", "500")
    if caller.language == "java":
        return "CannotCreateTransactionException" if down else "QueryTimeoutException"
    return "ERROR"


def _timeout_exc(caller: Service) -> str:
    return {"go": "*url.Error", "java": "ResourceAccessException", "node": "FetchError",
            "python": "httpx.ReadTimeout"}.get(caller.language, "TimeoutError")


def _fill(path: str, rng: random.Random) -> str:
    if "{id}" in path:
        path = path.replace("{id}", str(rng.randint(10_000, 999_999)))
    if "{sku}" in path:
        path = path.replace("{sku}", f"SKU-{rng.randint(10000, 99999)}")
    return path


_UAS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.3 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/122.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/122.0.6261.64 Mobile Safari/537.36",
    "ShopApp/7.4.1 (iOS 17.3; iPhone15,2)",
)


def _ua(rng: random.Random) -> str:
    return rng.choice(_UAS)


def _skew(tr: _Trace, rng: random.Random) -> None:
    """Shift one service's spans in this trace: its node's clock is off."""
    services = sorted({s for s, _, _, _ in tr.spans if s != ENTRY})
    if not services:
        return
    victim = rng.choice(services)
    shift = int(rng.choice((-1, 1)) * rng.uniform(40, 250) * NS)
    for svc_name, _, _, span in tr.spans:
        if svc_name == victim:
            span["startTimeUnixNano"] = str(int(span["startTimeUnixNano"]) + shift)
            span["endTimeUnixNano"] = str(int(span["endTimeUnixNano"]) + shift)
            for ev in span.get("events", ()):
                ev["timeUnixNano"] = str(int(ev["timeUnixNano"]) + shift)
