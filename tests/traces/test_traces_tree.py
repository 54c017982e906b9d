"""Building span trees from messy data: duplicates, orphans, cycles, negative durations, skew."""

from __future__ import annotations

from traces_builders import MS, sid, span

from obsbench_servers.traces.model import host_service
from obsbench_servers.traces.tree import build_tree


def _by_name(tree):  # type: ignore[no-untyped-def]
    return {s.name: i for i, s in enumerate(tree.spans)}


def test_clean_tree_links_parents_depths_and_self_times() -> None:
    tree = build_tree([
        span(1, None, "gw", "root", 0, 100),
        span(2, 1, "gw", "a", 10, 40, kind="internal"),
        span(3, 1, "gw", "b", 30, 60, kind="internal"),  # overlaps a
        span(4, 3, "gw", "c", 35, 45, kind="internal"),
    ])
    ix = _by_name(tree)
    assert tree.root == ix["root"] and tree.roots == [ix["root"]]
    assert [tree.depth[ix[n]] for n in ("root", "a", "b", "c")] == [0, 1, 1, 2]
    assert tree.children[ix["root"]] == [ix["a"], ix["b"]]
    selfs = tree.self_times()
    # root: 100 minus the union of a and b (10..60) = 50 ms
    assert selfs[ix["root"]] == 50 * MS
    assert selfs[ix["b"]] == 20 * MS and selfs[ix["c"]] == 10 * MS
    assert tree.issues.notes() == []


def test_duplicates_exact_dropped_and_conflicting_keep_the_longest() -> None:
    tree = build_tree([
        span(1, None, "gw", "root", 0, 100),
        span(2, 1, "api", "call", 10, 20),
        span(2, 1, "api", "call", 10, 20),  # an exporter retry
        span(3, 1, "api", "other", 30, 40),
        span(3, 1, "api", "other", 30, 70),  # same id, different content
    ])
    assert len(tree.spans) == 3
    assert tree.issues.duplicates == 1 and tree.issues.conflicting_duplicates == 1
    other = next(s for s in tree.spans if s.name == "other")
    assert other.end_ns == 70 * MS
    assert any("duplicate" in n for n in tree.issues.notes())


def test_missing_parent_becomes_an_extra_root_and_is_reported() -> None:
    tree = build_tree([
        span(1, None, "gw", "root", 0, 100),
        span(2, 1, "api", "handler", 10, 90),
        span(5, 99, "db", "orphan", 20, 30),  # its parent 99 was never received
    ])
    ix = _by_name(tree)
    assert tree.root == ix["root"]
    assert set(tree.roots) == {ix["root"], ix["orphan"]}
    assert tree.issues.missing_parents == 1 and tree.issues.missing_parent_ids == [sid(99)]
    assert "incomplete" in " ".join(tree.issues.notes())


def test_cycles_are_broken_and_every_span_is_kept() -> None:
    spans = [
        span(1, 3, "a", "one", 5, 50),  # 1 -> 3 -> 2 -> 1: a cycle
        span(2, 1, "a", "two", 10, 40),
        span(3, 2, "a", "three", 20, 30),
        span(4, 2, "a", "hanging", 12, 14),  # below the cycle
        span(7, 7, "b", "self-parent", 0, 1),
    ]
    tree = build_tree(spans)
    ix = _by_name(tree)
    assert len(tree.order) == 5  # everything reachable once the cycles are cut
    assert tree.issues.cycles_broken == 2
    assert ix["one"] in tree.roots  # the earliest span of the cycle became the root
    assert ix["self-parent"] in tree.roots
    assert tree.parent[ix["hanging"]] == ix["two"]
    assert tree.depth[ix["three"]] == 2


def test_negative_durations_are_clamped_to_zero() -> None:
    tree = build_tree([span(1, None, "gw", "root", 0, 100), span(2, 1, "gw", "bad", 50, 20)])
    bad = tree.spans[_by_name(tree)["bad"]]
    assert bad.duration_ns == 0 and tree.issues.negative_durations == 1
    assert "ended before they started" in " ".join(tree.issues.notes())


def test_clock_skew_centres_the_server_span_and_moves_only_its_service() -> None:
    spans = [
        span(1, None, "frontend", "GET /", 0, 100),
        span(2, 1, "frontend", "GET", 10, 90, kind="client"),
        # user-api's clock is 150 ms ahead: its server span (70 ms) seems to start after the call
        span(3, 2, "user-api", "GET /users", 160, 230),
        span(4, 3, "user-api", "load", 170, 200, kind="internal"),
        span(5, 4, "user-api", "SELECT", 175, 195, kind="client"),
        # postgres has a correct clock: relative to the corrected client span it fits
        span(6, 5, "postgres", "query", 32, 48),
    ]
    tree = build_tree(spans)
    ix = _by_name(tree)
    s = tree.spans
    # centred in the 80 ms client span: starts 15 ms in
    assert (s[ix["GET /users"]].start_ns, s[ix["GET /users"]].end_ns) == (15 * MS, 85 * MS)
    assert s[ix["load"]].start_ns == 25 * MS and s[ix["SELECT"]].start_ns == 30 * MS
    assert tree.shift[ix["GET /users"]] == -145 * MS
    assert tree.shift[ix["query"]] == 0  # another clock: left alone
    assert [(f.service, f.caller, f.shift_ns, f.spans) for f in tree.issues.skew] == [
        ("user-api", "frontend", -145 * MS, 3)]
    assert not any(tree.is_async)
    assert "clock skew corrected: user-api under frontend" in " ".join(tree.issues.notes())


def test_a_server_outliving_its_caller_is_a_timeout_not_skew() -> None:
    tree = build_tree([
        span(1, None, "checkout", "POST", 0, 110),
        span(2, 1, "checkout", "call payment", 0, 100, kind="client", error="timeout"),
        span(3, 2, "payment", "POST /pay", 2, 300),  # the caller gave up at 100 ms
    ])
    ix = _by_name(tree)
    assert tree.issues.skew == [] and tree.shift == [0, 0, 0]
    assert not tree.is_async[ix["POST /pay"]]


def test_asynchronous_children_follows_from_messaging_and_detached() -> None:
    tree = build_tree([
        span(1, None, "orders", "POST /orders", 0, 100),
        span(2, 1, "orders", "audit", 20, 300, kind="internal", ref="follows_from"),
        span(3, 1, "orders", "publish", 50, 52, kind="producer"),
        span(4, 3, "notification", "process", 60, 200, kind="consumer"),
        span(5, 1, "orders", "cleanup", 150, 160, kind="internal"),  # after the parent ended
        span(6, 1, "orders", "sync", 10, 20, kind="internal"),
    ])
    ix = _by_name(tree)
    assert {n for n, i in ix.items() if tree.is_async[i]} == {"audit", "process", "cleanup"}
    assert tree.issues.detached == 1
    assert tree.issues.skew == []  # a consumer after its producer is not skew
    # async work does not count against the parent's own time
    assert tree.self_times()[ix["POST /orders"]] == (100 - 10 - 2) * MS


def test_a_chain_of_ten_thousand_spans_needs_no_recursion() -> None:
    n = 10_000
    spans = [span(i + 1, i if i else None, "svc", f"op{i}", i * 0.01, 200 - i * 0.01)
             for i in range(n)]
    tree = build_tree(spans)
    assert max(tree.depth) == n - 1
    assert tree.subtree(tree.root)[-1] == n - 1
    assert len(tree.path_of(n - 1)) == n


def test_attribution_names_callees_databases_and_external_apis() -> None:
    tree = build_tree([
        span(1, None, "frontend", "GET /", 0, 100),
        span(2, 1, "frontend", "GET", 5, 60, kind="client"),
        span(3, 2, "user-api", "GET /v1/users", 8, 55),
        span(4, 3, "user-api", "SELECT users", 10, 20, kind="client",
             attrs={"db.system": "postgresql",
                    "server.address": "postgres.data.svc.cluster.local"}),
        span(5, 3, "user-api", "GET", 20, 21, kind="client",
             attrs={"server.address": "redis-master.data.svc.cluster.local"}),
        span(6, 1, "frontend", "POST", 60, 90, kind="client",
             attrs={"peer.service": "payment-gateway", "server.address": "api.paygw.example.com"}),
        span(7, 1, "frontend", "GET", 90, 95, kind="client", attrs={"db.system": "redis"}),
        span(8, 1, "frontend", "GET", 95, 99, kind="client"),
    ])
    got = [tree.attribution(i) for i in range(len(tree.spans))]
    assert got == [
        ("frontend", "GET /"),
        ("user-api", "GET /v1/users (network, client-side)"),
        ("user-api", "GET /v1/users"),
        ("postgres", "SELECT users"),
        ("redis", "GET"),
        ("payment-gateway", "POST"),
        ("redis", "GET"),
        ("frontend", "GET (outgoing, peer unknown)"),
    ]
    assert host_service("api.paygw.example.com:443") == "api.paygw.example.com"
    assert host_service("http://inventory.shop.svc.cluster.local:8080/x") == "inventory"
    assert host_service("10.0.0.7") == "10.0.0.7"
