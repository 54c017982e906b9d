"""The critical path on hand-built trees: sequential, concurrent, async, timeouts, clock skew."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from traces_builders import MS, segments_ms, span

from obsbench_servers.traces.critical_path import by_service, critical_path
from obsbench_servers.traces.model import Span
from obsbench_servers.traces.tree import build_tree


def _cp(spans: list[Span], **kw: bool):  # type: ignore[no-untyped-def]
    tree = build_tree(spans, **kw)
    cp = critical_path(tree)
    return tree, cp


def test_sequential_children_are_all_on_the_path() -> None:
    tree, cp = _cp([
        span(1, None, "api", "root", 0, 100),
        span(2, 1, "api", "A", 10, 40, kind="internal"),
        span(3, 1, "api", "B", 50, 90, kind="internal"),
    ])
    assert segments_ms(tree, cp) == [("root", 0, 10), ("A", 10, 40), ("root", 40, 50),
                                     ("B", 50, 90), ("root", 90, 100)]
    assert cp.total_ns == 100 * MS


def test_concurrent_children_only_the_last_finisher_counts() -> None:
    # A, B, C run in parallel; C finishes last, and nothing finished before C started
    tree, cp = _cp([
        span(1, None, "api", "root", 0, 100),
        span(2, 1, "api", "A", 10, 80, kind="internal"),
        span(3, 1, "api", "B", 20, 60, kind="internal"),
        span(4, 1, "api", "C", 30, 90, kind="internal"),
    ])
    assert segments_ms(tree, cp) == [("root", 0, 30), ("C", 30, 90), ("root", 90, 100)]
    assert {tree.spans[i].name for i in cp.by_span} == {"root", "C"}


def test_a_child_that_finished_before_the_next_started_is_on_the_path() -> None:
    # A and B overlap (B ends later); C starts after both; the path is B then C
    tree, cp = _cp([
        span(1, None, "api", "root", 0, 100),
        span(2, 1, "api", "A", 5, 20, kind="internal"),
        span(3, 1, "api", "B", 10, 30, kind="internal"),
        span(4, 1, "api", "C", 40, 95, kind="internal"),
        span(5, 4, "db", "q1", 45, 60, kind="server"),
        span(6, 4, "db", "q2", 62, 90, kind="server"),
    ])
    assert segments_ms(tree, cp) == [
        ("root", 0, 10), ("B", 10, 30), ("root", 30, 40), ("C", 40, 45), ("q1", 45, 60),
        ("C", 60, 62), ("q2", 62, 90), ("C", 90, 95), ("root", 95, 100)]


def test_follows_from_children_are_not_waited_for() -> None:
    tree, cp = _cp([
        span(1, None, "orders", "POST /orders", 0, 100),
        span(2, 1, "orders", "INSERT", 10, 30, kind="client"),
        span(3, 1, "orders", "audit", 40, 400, kind="internal", ref="follows_from"),
    ])
    assert segments_ms(tree, cp) == [("POST /orders", 0, 10), ("INSERT", 10, 30),
                                     ("POST /orders", 30, 100)]


def test_producer_consumer_work_is_off_the_path() -> None:
    tree, cp = _cp([
        span(1, None, "orders", "POST /orders", 0, 20),
        span(2, 1, "orders", "publish", 10, 12, kind="producer"),
        span(3, 2, "notification", "process", 40, 90, kind="consumer"),
    ])
    assert segments_ms(tree, cp) == [("POST /orders", 0, 10), ("publish", 10, 12),
                                     ("POST /orders", 12, 20)]
    assert by_service(tree, cp) == {"orders": 20 * MS}


def test_a_server_running_on_after_the_caller_timed_out_is_clipped() -> None:
    tree, cp = _cp([
        span(1, None, "checkout", "POST /checkout", 0, 110),
        span(2, 1, "checkout", "POST", 0, 100, kind="client", error="timeout"),
        span(3, 2, "payment", "POST /pay", 1, 300),
    ])
    assert segments_ms(tree, cp) == [("POST", 0, 1), ("POST /pay", 1, 100),
                                     ("POST /checkout", 100, 110)]
    assert cp.total_ns == 110 * MS


def test_clock_skew_between_services_is_corrected_before_walking() -> None:
    spans = [
        span(1, None, "frontend", "GET /", 0, 100),
        span(2, 1, "frontend", "GET", 10, 90, kind="client"),
        span(3, 2, "user-api", "GET /users", -500, -430),  # clock 515 ms behind
    ]
    tree, cp = _cp([Span(**{f: getattr(s, f) for f in Span.__slots__}) for s in spans])
    assert segments_ms(tree, cp)[2] == ("GET /users", 15, 85)
    # user-api's share: its 70 ms plus the 10 ms of network around it (client-side time)
    assert by_service(tree, cp) == {"frontend": 20 * MS, "user-api": 80 * MS}
    # without the correction the server span lies outside its caller and drops off the path
    raw, raw_cp = _cp(spans, adjust_skew=False)
    assert [n for n, _, _ in segments_ms(raw, raw_cp)] == ["GET /", "GET", "GET /"]


def test_a_parent_filled_by_its_child_is_still_on_the_chain() -> None:
    tree, cp = _cp([
        span(1, None, "api", "root", 0, 100),
        span(2, 1, "api", "client", 10, 90, kind="client"),
        span(3, 2, "db", "server", 10, 90),
    ])
    client = next(i for i, s in enumerate(tree.spans) if s.name == "client")
    assert cp.contains(client) and cp.by_span[client] == 0


def test_concurrent_async_and_nested_children_of_a_real_request_shape() -> None:
    # frontend fans out to inventory x3 in parallel, then calls user-api; a Kafka consumer runs
    # after the response
    spans = [span(1, None, "frontend", "GET /", 0, 200)]
    for k, (s0, e0) in enumerate([(10, 40), (11, 55), (12, 35)]):
        spans.append(span(10 + k, 1, "frontend", "GET stock", s0, e0, kind="client"))
        spans.append(span(20 + k, 10 + k, "inventory", "GET /stock", s0 + 1, e0 - 1))
    spans += [span(30, 1, "frontend", "GET user", 60, 190, kind="client"),
              span(31, 30, "user-api", "GET /users", 61, 189),
              span(32, 31, "user-api", "publish", 100, 101, kind="producer"),
              span(33, 32, "notification", "process", 300, 400, kind="consumer")]
    tree, cp = _cp(spans)
    names = [n for n, _, _ in segments_ms(tree, cp)]
    assert names == ["GET /", "GET stock", "GET /stock", "GET stock", "GET /", "GET user",
                     "GET /users", "publish", "GET /users", "GET user", "GET /"]
    on_path_stock = [i for i in cp.by_span if tree.spans[i].name == "GET /stock"]
    assert [tree.spans[i].start_ns // MS for i in on_path_stock] == [12]  # the slowest of three
    assert cp.total_ns == 200 * MS


# -- invariants on arbitrary trees -------------------------------------------------------------

@st.composite
def random_trees(draw: st.DrawFn) -> list[Span]:
    n = draw(st.integers(1, 40))
    spans = [span(1, None, draw(st.sampled_from(["a", "b"])), "s1", 0,
                  draw(st.integers(0, 1000)))]
    for i in range(2, n + 1):
        parent = draw(st.integers(1, i - 1))
        start = draw(st.integers(-200, 1200))
        length = draw(st.integers(-20, 600))  # negative: a broken span
        spans.append(span(
            i, parent, draw(st.sampled_from(["a", "b", "c"])), f"s{i}", start, start + length,
            kind=draw(st.sampled_from(["server", "client", "internal", "producer", "consumer"])),
            ref=draw(st.sampled_from(["child_of", "child_of", "follows_from"]))))
    return spans


@settings(max_examples=150, deadline=None)
@given(random_trees())
def test_the_path_tiles_the_root_exactly_whatever_the_tree(spans: list[Span]) -> None:
    tree = build_tree(spans)
    cp = critical_path(tree)
    root = tree.spans[tree.root]
    assert cp.total_ns == root.duration_ns
    cursor = root.start_ns
    for i, s, e in cp.segments:
        assert s == cursor and e > s  # contiguous, in time order, never empty
        cursor = e
        sp = tree.spans[i]
        assert sp.start_ns <= s and e <= sp.end_ns  # inside the span that owns it
        assert not tree.is_async[i]
    assert cursor == root.end_ns or not cp.segments
    for i in cp.by_span:  # every span on the path hangs from the root through the path
        assert i == tree.root or tree.parent[i] in cp.by_span
