"""Usage arithmetic and the right-sizing rule on synthetic series with known answers."""

from __future__ import annotations

from obsbench_servers.infra.k8s import (
    format_cpu,
    format_memory,
    parse_cpu,
    parse_memory,
    selector_matches,
    selector_string,
)
from obsbench_servers.infra.rightsizing import recommend
from obsbench_servers.infra.usage import (
    ContainerUsage,
    counter_increase,
    counter_rates,
    gauge_maxima,
    growth_per_hour,
    percentiles,
)

MIN = 60_000
DAY_S = 86400


def test_quantities() -> None:
    assert parse_cpu("250m") == 0.25 and parse_cpu("2") == 2.0
    assert abs((parse_cpu("9559630n") or 0) - 0.00955963) < 1e-12 and parse_cpu(None) is None
    assert parse_memory("512Mi") == 512 * 2**20 and parse_memory("1G") == 1e9
    assert parse_memory("22244Ki") == 22244 * 1024 and parse_memory("lots") is None
    assert format_cpu(1.0) == "1000m" and format_memory(512 * 2**20) == "512Mi"


def test_selectors() -> None:
    sel = selector_string({"matchLabels": {"app": "x"},
                           "matchExpressions": [{"key": "tier", "operator": "In",
                                                 "values": ["a", "b"]},
                                                {"key": "canary", "operator": "DoesNotExist"}]})
    assert sel == "app=x,tier in (a,b),!canary"
    assert selector_matches(sel, {"app": "x", "tier": "b"})
    assert not selector_matches(sel, {"app": "x", "tier": "c"})
    assert not selector_matches(sel, {"app": "x", "tier": "a", "canary": "1"})
    assert selector_matches("app!=y,env", {"app": "x", "env": "prod"})


def test_rates_handle_resets_and_gaps() -> None:
    # 1 core for 10 minutes, a restart (counter back to 0), then 0.5 core.
    pts = [(0, 0.0), (5 * MIN, 300.0), (10 * MIN, 600.0), (15 * MIN, 150.0), (20 * MIN, 300.0)]
    assert counter_rates([({}, pts)]) == [1.0, 1.0, 0.5, 0.5]
    assert counter_increase([({}, pts)]) == 900.0
    gap = [(0, 0.0), (60 * MIN, 3600.0)]  # an hour without samples is not one rate
    assert counter_rates([({}, gap)]) == []
    # 1-minute samples fold into 5-minute buckets (same answer as a 5-minute scrape).
    fine = [(i * MIN, i * 30.0) for i in range(11)]
    assert counter_rates([({}, fine)]) == [0.5, 0.5]


def test_percentiles_nearest_rank() -> None:
    p = percentiles([float(i) for i in range(1, 101)])
    assert p is not None and (p.p50, p.p95, p.p99, p.max, p.points) == (50.0, 95.0, 99.0,
                                                                          100.0, 100)
    assert percentiles([]) is None


def test_growth_detects_a_sawtooth_leak_not_noise() -> None:
    saw = []
    t = 0
    for _ in range(3):
        for k in range(8):  # +10 MiB every 5 minutes, then a restart
            saw.append((t, (100 + 10 * k) * 2**20))
            t += 5 * MIN
    growth = growth_per_hour([({}, saw)])
    assert growth is not None and abs(growth - 120 * 2**20) < 2**20
    flat = [(i * 5 * MIN, (100 + (i % 3)) * 2**20) for i in range(40)]
    assert growth_per_hour([({}, flat)]) is None
    assert gauge_maxima([({}, [(0, 1.0), (MIN, 3.0), (6 * MIN, 2.0)])]) == [3.0, 2.0]


def _usage(**kw: object) -> ContainerUsage:
    u = ContainerUsage("app", first_ms=0, last_ms=30 * DAY_S * 1000, throttled_ratio=0.0)
    for k, v in kw.items():
        setattr(u, k, v)
    return u


def _container(cpu: tuple[str, str], mem: tuple[str, str]) -> dict[str, object]:
    return {"name": "app", "resources": {"requests": {"cpu": cpu[0], "memory": mem[0]},
                                         "limits": {"cpu": cpu[1], "memory": mem[1]}}}


def test_oversized_service_is_lowered_and_limits_kept() -> None:
    rec = recommend(_container(("2000m", "4000m"), ("1Gi", "2Gi")),
                    _usage(cpu=percentiles([0.4] * 50 + [0.8] * 45 + [1.0] * 5),
                           memory=percentiles([300 * 2**20] * 100)))
    cpu, mem = rec["cpu"], rec["memory"]
    # P95 is the 95th of 100 sorted values (0.8), + 25% = 1000m.
    assert cpu["request_action"] == "decrease" and cpu["recommended_request"] == "1000m"
    assert cpu["limit_action"] == "keep" and cpu["recommended_limit"] == "4000m"
    assert mem["request_action"] == "decrease" and mem["recommended_request"] == "375Mi"
    assert mem["limit_action"] == "keep"
    assert all(c["ok"] for c in rec["checks"])


def test_throttled_service_is_never_lowered() -> None:
    rec = recommend(_container(("500m", "500m"), ("256Mi", "512Mi")),
                    _usage(cpu=percentiles([0.2] * 90 + [0.5] * 10), throttled_ratio=0.2,
                           memory=percentiles([100 * 2**20] * 10)))
    cpu = rec["cpu"]
    # P95 0.5 + 25% = 630m: above the request, so it goes up (it is never lowered).
    assert cpu["request_action"] == "increase" and cpu["limit_action"] == "raise"
    assert cpu["recommended_request"] == "630m"
    assert cpu["recommended_limit_value"] >= 1.0
    assert any("capped by the CPU limit" in r for r in cpu["reasons"])
    # Low measured usage under throttling (demand hidden by the cap): kept, not lowered.
    low = recommend(_container(("500m", "500m"), ("256Mi", "512Mi")),
                    _usage(cpu=percentiles([0.1] * 100), throttled_ratio=0.2,
                           memory=percentiles([100 * 2**20] * 10)))["cpu"]
    assert low["request_action"] == "keep" and low["recommended_request"] == "500m"


def test_oom_killed_service_gets_more_memory_and_a_leak_warning() -> None:
    rec = recommend(_container(("100m", "1"), ("256Mi", "512Mi")),
                    _usage(cpu=percentiles([0.05] * 10),
                           memory=percentiles([500 * 2**20] * 10),
                           oom_killed_pods=["app-1"], memory_growth_per_hour=600 * 2**20))
    mem = rec["memory"]
    assert mem["limit_action"] == "raise" and mem["recommended_limit"] == "750Mi"
    assert mem["request_action"] == "increase"
    assert any("leak" in r for r in mem["reasons"])
    assert {c["check"]: c["ok"] for c in rec["checks"]}["no OOM kills"] is False


def test_short_history_keeps_requests() -> None:
    rec = recommend(_container(("2000m", "4000m"), ("1Gi", "2Gi")),
                    _usage(last_ms=4 * 3600 * 1000, cpu=percentiles([0.4] * 20),
                           memory=percentiles([100 * 2**20] * 20)))
    assert rec["cpu"]["request_action"] == "keep"
    assert rec["memory"]["request_action"] == "keep"
    assert rec["checks"][0] == {"check": "enough history", "ok": False,
                                "detail": "only 4.0 hours of usage: daily and weekly peaks "
                                          "may be missing; treat the recommendation as "
                                          "provisional"}
