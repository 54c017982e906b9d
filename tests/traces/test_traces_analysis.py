"""Compression, error origins, comparison, dependencies and breakdowns on hand-built traces."""

from __future__ import annotations

from traces_builders import MS, span

from obsbench_servers.traces.breakdown import aggregate, compare_windows
from obsbench_servers.traces.compare import compare
from obsbench_servers.traces.compress import compress, self_time_by_service
from obsbench_servers.traces.critical_path import critical_path
from obsbench_servers.traces.dependencies import edges, focus
from obsbench_servers.traces.failures import error_groups, origins
from obsbench_servers.traces.model import Span
from obsbench_servers.traces.tree import TraceTree, build_tree

DB = {"db.system": "postgresql", "server.address": "postgres.data.svc.cluster.local"}


def n_plus_one(trace: str, selects: int, each_ms: float, *, slow_self: float = 0) -> list[Span]:
    """frontend -> user-api, which runs ``selects`` sequential SELECTs (an N+1 when > 1)."""
    t = 2.0
    inner: list[Span] = []
    for k in range(selects):
        inner.append(span(100 + k, 3, "user-api", "SELECT user_preferences", t, t + each_ms,
                          kind="client", attrs=DB, trace=trace))
        t += each_ms + 0.1
    end = t + 1 + slow_self
    return [span(1, None, "frontend", "GET /product", 0, end + 2, trace=trace),
            span(2, 1, "frontend", "GET", 0.5, end + 1, kind="client", trace=trace),
            span(3, 2, "user-api", "GET /v1/users/{id}", 1, end, trace=trace),
            span(4, 3, "user-api", "SELECT users", 1.2, 1.9, kind="client", attrs=DB,
                 trace=trace), *inner]


def _tree(spans: list[Span]) -> TraceTree:
    return build_tree(spans)


def test_repeated_siblings_collapse_into_one_line_with_their_spread() -> None:
    durations = [12.0] * 30 + [8.0] * 6 + [90.0]  # 37 queries: p50 12 ms, max 90 ms
    spans = [span(1, None, "user-api", "GET /v1/users/{id}", 0, 1000),
             span(2, 1, "user-api", "GET", 0.5, 1.5, kind="client",
                  attrs={"server.address": "redis-master.data.svc.cluster.local"})]
    t = 2.0
    for k, d in enumerate(durations):
        spans.append(span(10 + k, 1, "user-api", "SELECT users", t, t + d, kind="client",
                          attrs=DB, error="timeout" if k == 36 else None))
        t += d
    tree = _tree(spans)
    cp = critical_path(tree)
    comp = compress(tree, cp)
    texts = [comp.text(ln) for ln in comp.lines]
    assert len(comp.lines) == 3  # root, the redis GET, one line for the 37 queries
    assert texts[2] == ("x37 user-api SELECT users [client -> postgres]: p50 12ms, max 90ms, "
                        "total 498ms; 37 on critical path (498ms); 1 ERRORS")
    rep = comp.repeats[0]
    assert rep.representative == max(rep.members, key=lambda m: tree.spans[m].duration_ns)
    assert [ln.on_path for ln in comp.lines] == [True, True, True]


def test_a_collapsed_fan_keeps_the_subtree_of_its_slowest_member() -> None:
    spans = [span(1, None, "frontend", "GET /", 0, 100)]
    for k in range(3):
        spans.append(span(10 + k, 1, "frontend", "GET stock", 5 + k, 20 + 10 * k, kind="client"))
        spans.append(span(20 + k, 10 + k, "inventory", "GET /stock", 6 + k, 19 + 10 * k))
    tree = _tree(spans)
    comp = compress(tree, critical_path(tree))
    texts = [comp.text(ln) for ln in comp.lines]
    assert texts[1].startswith("x3 frontend GET stock [client -> inventory]")
    assert texts[2].startswith("slowest/critical member: frontend GET stock")
    assert texts[3].startswith("inventory GET /stock [server] 31ms")  # under the slowest
    assert [ln.depth for ln in comp.lines] == [0, 1, 2, 3]


def test_self_time_by_service_charges_databases_and_network() -> None:
    tree = _tree(n_plus_one("a" * 32, 24, 0.8))
    got = {s: ns for s, ns, _ in self_time_by_service(tree)}
    assert abs(got["postgres"] - (0.7 + 24 * 0.8) * MS) <= 2
    assert set(got) == {"frontend", "user-api", "postgres"}
    assert sum(got.values()) >= tree.spans[tree.root].duration_ns


def test_the_deepest_erroring_span_is_the_origin() -> None:
    spans = [
        span(1, None, "gateway", "GET /", 0, 100, error="HTTP 500"),
        span(2, 1, "gateway", "GET", 1, 99, kind="client", error="HTTP 500"),
        span(3, 2, "frontend", "GET /", 2, 98, error="HTTP 500"),
        span(4, 3, "frontend", "GET", 3, 97, kind="client", error="HTTP 503"),
        span(5, 4, "user-api", "GET /v1/users", 4, 96, error="HTTP 503"),
        span(6, 5, "user-api", "SELECT", 5, 95, kind="client", attrs=DB,
             events=[{"name": "exception", "attributes": {
                 "exception.type": "sqlalchemy.exc.TimeoutError",
                 "exception.message": "QueuePool limit of size 10 overflow 10 reached"}}],
             error="timeout"),
        span(7, 1, "gateway", "audit", 1, 2, kind="internal", error="disk full"),
    ]
    tree = _tree(spans)
    found = [tree.spans[i].name for i in origins(tree)]
    assert found == ["SELECT", "audit"]  # deepest first
    groups = error_groups(tree)
    assert groups[0].is_origin and groups[0].peer == "postgres"
    assert groups[0].message == ("sqlalchemy.exc.TimeoutError: QueuePool limit of size 10 "
                                 "overflow 10 reached")
    assert groups[0].attributes == {"server.address": "postgres.data.svc.cluster.local"}
    assert sum(g.count for g in groups) == 7
    assert not any(g.is_origin for g in groups if g.service == "frontend")


def test_comparison_finds_where_time_moved_and_the_multiplied_call() -> None:
    normal = _tree(n_plus_one("a" * 32, 1, 0.8))
    slow = _tree(n_plus_one("b" * 32, 24, 0.9, slow_self=400))
    cmp = compare(normal, critical_path(normal), slow, critical_path(slow))
    assert cmp.same_root and cmp.delta > 400 * MS
    top = cmp.rows[0]
    assert top.path[-1] == "user-api GET /v1/users/{id}" and top.self_delta > 399 * MS
    fan = next(r for r in cmp.rows if r.path[-1] == "user-api SELECT user_preferences -> postgres")
    assert (fan.a.count, fan.b.count) == (1, 24)
    assert fan.path == ["frontend GET /product", "frontend GET -> user-api",
                        "user-api GET /v1/users/{id}",
                        "user-api SELECT user_preferences -> postgres"]
    services = {s: b - a for s, a, b in cmp.services}
    assert services["user-api"] > 399 * MS and 20 * MS < services["postgres"] < 22 * MS


def test_dependencies_count_calls_errors_latency_and_async_edges() -> None:
    trees = []
    for k in range(10):
        t = "%032x" % (k + 1)
        trees.append(_tree([
            span(1, None, "checkout", "POST /checkout", 0, 100, trace=t),
            span(2, 1, "checkout", "POST", 1, 50 + k, kind="client", trace=t,
                 error="HTTP 503" if k < 2 else None),
            span(3, 2, "payment", "POST /pay", 2, 40 + k, trace=t),
            span(4, 3, "payment", "POST", 3, 30, kind="client", trace=t,
                 attrs={"peer.service": "payment-gateway"}),
            span(5, 1, "checkout", "publish", 60, 61, kind="producer", trace=t),
            span(6, 5, "notification", "process", 70, 90, kind="consumer", trace=t),
        ]))
    graph = edges(trees)
    assert set(graph) == {("checkout", "payment"), ("payment", "payment-gateway"),
                          ("checkout", "notification")}
    e = graph[("checkout", "payment")]
    assert (e.calls, e.errors, e.error_ratio) == (10, 2, 0.2)
    assert e.quantile(0.5) == 53.5 * MS and not e.asynchronous
    assert graph[("checkout", "notification")].asynchronous
    assert "checkout => notification" in graph[("checkout", "notification")].line()
    order = [(x.caller, x.callee) for x in focus(graph, "payment")]
    assert order == [("checkout", "payment"), ("payment", "payment-gateway")]


def test_breakdown_names_the_service_whose_share_grew_and_the_fan_out() -> None:
    base = [_tree(n_plus_one(f"{k:032x}", 1, 0.8)) for k in range(1, 11)]
    cur = [_tree(n_plus_one("%032x" % (100 + k), 24, 0.8, slow_self=300)) for k in range(10)]
    bd = compare_windows(aggregate(cur, "frontend"), aggregate(base, "frontend"))
    assert bd.current.requests == bd.baseline.requests == 10  # type: ignore[union-attr]
    assert bd.top_service == "user-api"
    growth = {s: now - before for s, now, before in bd.services}
    assert 300 * MS < growth["user-api"] < 303 * MS  # 300 ms of its own + gaps between queries
    assert 18 * MS < growth["postgres"] < 19 * MS
    row = next(r for r in bd.rows if r.operation == "SELECT user_preferences")
    assert (row.service, row.caller, row.calls_before, row.calls_now) == (
        "postgres", "user-api", 1.0, 24.0)
    # the critical path per request adds up to the request's latency
    per_req = sum(now for _, now, _ in bd.services)
    assert abs(per_req - bd.current.per_request(bd.current.latency_ns)) < 1


def test_breakdown_without_baseline_ranks_by_share() -> None:
    cur = [_tree(n_plus_one("%032x" % (100 + k), 2, 50)) for k in range(3)]
    bd = compare_windows(aggregate(cur, "user-api"), None)
    assert not bd.has_baseline and bd.top_service == "postgres"
    assert aggregate(cur, "user-api", "no such op").requests == 0


def test_breakdown_baseline_is_mix_adjusted() -> None:
    """More heavy requests and fewer light ones is not a slowdown of anything."""
    def request(k: int, op: str, db_ms: float) -> TraceTree:
        t = f"{k:032x}"
        return _tree([span(1, None, "gateway", op, 0, db_ms + 2, trace=t),
                      span(2, 1, "gateway", "SELECT", 1, 1 + db_ms, kind="client", attrs=DB,
                           trace=t)])

    base = [request(k, "GET /light", 1) for k in range(9)] + [request(9, "POST /heavy", 100)]
    cur = [request(20 + k, "GET /light", 1) for k in range(5)] + \
        [request(40 + k, "POST /heavy", 100) for k in range(5)]
    bd = compare_windows(aggregate(cur, "gateway"), aggregate(base, "gateway"))
    growth = {s: now - before for s, now, before in bd.services}
    assert bd.current.per_request(bd.current.latency_ns) > 3 * bd.baseline.per_request(
        bd.baseline.latency_ns)  # type: ignore[union-attr]  # the raw mean jumped
    assert abs(growth["postgres"]) < 1 and abs(growth["gateway"]) < 1  # but nothing slowed
    assert abs(bd.baseline_latency - bd.current.per_request(bd.current.latency_ns)) < 1
