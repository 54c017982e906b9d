"""Rate limits, circuit breaker, retries and Retry-After over httpx.MockTransport.

Clocks and sleeps are injected, so the tests check the decisions (how long a
caller waits, what is retried, when the circuit opens) without timing anything.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from obsbench_servers.common.backend import PrometheusBackend
from obsbench_servers.common.http import build_client, failure_from_status, fetch
from obsbench_servers.common.resilience import (
    BackendGate,
    GateError,
    ResilientTransport,
    RetryPolicy,
    gate_for,
    retry_after_s,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += s


def transport(handler: Callable[[httpx.Request], httpx.Response], *, rate: float = 100.0,
              clock: FakeClock | None = None, **gate_kw: object
              ) -> tuple[ResilientTransport, FakeClock, list[httpx.Request]]:
    clock = clock or FakeClock()
    seen: list[httpx.Request] = []

    def record(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return handler(req)

    gate = BackendGate("http://prom.test", rate=rate, clock=clock, **gate_kw)  # type: ignore[arg-type]
    t = ResilientTransport(httpx.MockTransport(record), gate, RetryPolicy(), sleep=clock.sleep)
    return t, clock, seen


def statuses(*codes: int, headers: dict[str, str] | None = None
             ) -> Callable[[httpx.Request], httpx.Response]:
    it = iter(codes)

    def handler(req: httpx.Request) -> httpx.Response:
        code = next(it, codes[-1])
        return httpx.Response(code, headers=headers or {}, json={"status": "x"})

    return handler


def test_idempotent_read_is_retried_with_jittered_backoff() -> None:
    t, clock, seen = transport(statuses(503, 502, 200))
    with httpx.Client(transport=t, base_url="http://prom.test") as c:
        assert c.get("/api/v1/query").status_code == 200
    assert len(seen) == 3
    assert len(clock.slept) == 2 and all(0 <= s <= 2.0 for s in clock.slept)


def test_a_write_is_never_retried_but_a_marked_read_post_is() -> None:
    t, _, seen = transport(statuses(503, 503, 200))
    with httpx.Client(transport=t, base_url="http://prom.test") as c:
        assert c.post("/api/v2/silences", json={}).status_code == 503
        assert len(seen) == 1
        r = c.post("/api/v1/query", data={"query": "up"},
                   extensions={"obsbench_idempotent": True})
        assert r.status_code == 200 and len(seen) == 3  # 503, then retried to 200


def test_retry_after_is_honoured_and_pauses_the_backend() -> None:
    t, clock, seen = transport(statuses(429, 200, headers={"Retry-After": "3"}))
    with httpx.Client(transport=t, base_url="http://prom.test") as c:
        assert c.get("/api/v1/query").status_code == 200
    assert len(seen) == 2 and clock.slept and sum(clock.slept) >= 3.0
    # the pause applies to every caller of that backend, not only the one that got 429
    t.gate.pause(5)
    assert t.gate.reserve() >= 4.9


def test_a_retry_after_longer_than_the_wait_cap_becomes_a_clear_error() -> None:
    t, clock, seen = transport(statuses(429, headers={"Retry-After": "120"}))
    with httpx.Client(transport=t, base_url="http://prom.test") as c:
        resp = fetch(c, "GET", "/api/v1/query", max_bytes=1 << 20, total_timeout=5)
    assert len(seen) == 1 and not clock.slept
    err = failure_from_status(resp)
    assert err is not None and err.reason == "rate_limited" and "Retry-After: 120" in err.message


def test_retry_after_as_an_http_date() -> None:
    when = datetime.now(UTC) + timedelta(seconds=30)
    r = httpx.Response(429, headers={"Retry-After": format_datetime(when, usegmt=True)})
    assert 25 <= (retry_after_s(r) or 0) <= 31
    assert retry_after_s(httpx.Response(429, headers={"Retry-After": "soon"})) is None


def test_refused_connections_are_retried_then_reported_clearly() -> None:
    def refuse(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=req)

    t, clock, seen = transport(refuse)
    with (httpx.Client(transport=t, base_url="http://prom.test") as c,
          pytest.raises(Exception) as info):
        fetch(c, "GET", "/api/v1/query", max_bytes=1 << 20, total_timeout=5)
    assert len(seen) == 3 and len(clock.slept) == 2
    assert getattr(info.value, "reason", None) == "refused"


def test_circuit_opens_after_repeated_failures_and_recovers_after_cooldown() -> None:
    codes = [500] * 5 + [200]
    t, clock, seen = transport(statuses(*codes), failure_threshold=5, cooldown_s=30)
    t.policy = RetryPolicy(attempts=1)
    with httpx.Client(transport=t, base_url="http://prom.test") as c:
        for _ in range(5):
            assert c.get("/x").status_code == 500
        assert t.gate.is_open
        with pytest.raises(GateError) as info:
            c.get("/x")
        assert info.value.reason == "circuit_open" and "5 times" in info.value.message
        assert len(seen) == 5  # the open circuit did not reach the backend
        clock.now += 31
        assert c.get("/x").status_code == 200  # the half-open trial succeeds
        assert not t.gate.is_open


def test_a_failed_trial_reopens_the_circuit() -> None:
    t, clock, seen = transport(statuses(500), failure_threshold=2, cooldown_s=10)
    t.policy = RetryPolicy(attempts=1)
    with httpx.Client(transport=t, base_url="http://prom.test") as c:
        c.get("/x")
        c.get("/x")
        clock.now += 11
        c.get("/x")  # the trial fails
        with pytest.raises(GateError):
            c.get("/x")
    assert len(seen) == 3


def test_token_bucket_spaces_requests_at_the_configured_rate() -> None:
    clock = FakeClock()
    gate = BackendGate("b", rate=20, clock=clock)
    waits = [gate.reserve() for _ in range(60)]
    # a burst of 20, then one every 1/20 s: 60 requests cannot finish before 2 s
    assert waits[:20] == [0.0] * 20
    assert waits[-1] == pytest.approx(40 / 20, abs=1e-6)
    # a wait longer than the cap is refused with a clear error, not queued forever
    t = ResilientTransport(httpx.MockTransport(lambda r: httpx.Response(200)), gate,
                           RetryPolicy(max_wait_s=1.0), sleep=clock.sleep)
    with httpx.Client(transport=t, base_url="http://b") as c, pytest.raises(GateError) as info:
        c.get("/x")
    assert info.value.reason == "rate_limited"


def test_concurrency_cap_holds_under_parallel_callers() -> None:
    active = 0
    peak = 0
    lock = threading.Lock()

    def slow(req: httpx.Request) -> httpx.Response:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.02)
        with lock:
            active -= 1
        return httpx.Response(200)

    gate = BackendGate("c", rate=1000, concurrency=3)
    t = ResilientTransport(httpx.MockTransport(slow), gate)
    with httpx.Client(transport=t, base_url="http://c") as c:
        threads = [threading.Thread(target=lambda: c.get("/x")) for _ in range(12)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    assert peak <= 3 and gate.sent == 12


def test_clients_of_one_backend_share_one_gate() -> None:
    cfg = PrometheusBackend(type="prometheus", url="http://shared-prom.test:9090")
    a = build_client(cfg, transport=httpx.MockTransport(lambda r: httpx.Response(200)),
                     resilience=True)
    b = build_client(cfg, transport=httpx.MockTransport(lambda r: httpx.Response(200)),
                     resilience=True)
    try:
        ta, tb = a._transport, b._transport
        assert isinstance(ta, ResilientTransport) and isinstance(tb, ResilientTransport)
        assert ta.gate is tb.gate
        assert ta.gate is gate_for("http://shared-prom.test:9090")
        assert ta.gate.rate == cfg.limits.requests_per_second
    finally:
        a.close()
        b.close()
    # an injected transport without the flag stays as it is (other tests' mocks)
    plain = build_client(cfg, transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    assert not isinstance(plain._transport, ResilientTransport)
    plain.close()


def test_tls_failures_are_neither_retried_nor_counted_against_the_backend() -> None:
    import ssl

    def tls(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("handshake failed", request=req) from ssl.SSLCertVerificationError(
            1, "certificate verify failed")

    t, clock, seen = transport(tls, failure_threshold=2)
    with httpx.Client(transport=t, base_url="http://prom.test") as c:
        for _ in range(4):
            with pytest.raises(httpx.ConnectError):
                c.get("/x")
    assert len(seen) == 4 and not clock.slept and not t.gate.is_open
