"""The infra server on scenario bundles: the change at the right time, the OOM, the right-size.

Times and figures come from each bundle's own ``[truth]`` and the brief's numbers, never
from the code under test.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from obsbench_servers.common.context import ServerContext
from obsbench_servers.common.timeutil import parse_rfc3339_ns
from obsbench_servers.infra.server import create_server


def call(bundle: Path, tool: str, args: dict[str, Any]) -> Any:
    ctx = ServerContext.for_bundle("infra", bundle)

    async def go() -> Any:
        async with Client(create_server(ctx)) as c:
            return await c.call_tool(tool, args)

    try:
        return anyio.run(go)
    finally:
        ctx.close()


def text(r: Any) -> str:
    return "\n".join(getattr(c, "text", "") for c in r.content)


def truth(bundle: Path) -> dict[str, Any]:
    return tomllib.loads((bundle / "bundle.toml").read_text())["truth"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(("scenario", "kinds", "detail"), [
    ("bad-deploy-db-pool", ["image"], ("images", "user-api:2.3.1")),
    ("feature-flag-config", ["config"], ("config_hashes", "checksum/config")),
    ("cpu-throttling", ["resources"], ("resources", "limits.cpu")),
])
def test_the_change_shows_at_the_onset(bundle_dir: Callable[..., Path], scenario: str,
                                       kinds: list[str], detail: tuple[str, str]) -> None:
    out = bundle_dir(scenario)
    t = truth(out)
    r = call(out, "get_recent_deployments", {"window": "6h"})
    assert not r.is_error, text(r)
    changes = r.structured_content["data"]["changes"]
    ours = [c for c in changes if c["kind"] == "rollout" and c["workload"] == t["service"]]
    assert ours, f"no rollout of {t['service']} listed"
    newest = ours[0]
    assert newest["time"] == t["onset"], (newest["time"], t["onset"])
    assert newest["change_kinds"] == kinds and newest["current"]
    field, needle = detail
    assert needle in str(newest[field])
    # The red-herring deploys are listed too, each at its own time (evidence, not verdicts).
    herrings = [h for h in t.get("red_herrings", []) if h.startswith("deploy ")]
    for h in herrings:
        service = h.split()[1].rstrip(":")
        at = h.split(" rolled out at ")[1].split(" ")[0]
        if parse_rfc3339_ns(at) >= parse_rfc3339_ns(r.structured_content["time_range"]["start"]):
            assert any(c.get("workload") == service and c["time"] == at for c in changes), h
    # Newest first, and the text names the change-cause.
    times = [parse_rfc3339_ns(c["time"]) for c in changes]
    assert times == sorted(times, reverse=True)
    assert newest["change_cause"] in text(r)


def test_config_change_also_lists_the_configmap(bundle_dir: Callable[..., Path]) -> None:
    out = bundle_dir("feature-flag-config")
    t = truth(out)
    r = call(out, "get_recent_deployments", {"window": "6h", "service": "orders"})
    changes = r.structured_content["data"]["changes"]
    cm = [c for c in changes if c["kind"] == "configmap"]
    assert [c["name"] for c in cm] == ["orders-flags"]
    assert cm[0]["time"] == t["onset"]
    assert "pricing.v2.enabled: true" in cm[0]["preview"]["flags.yaml"]
    assert {c.get("workload", "orders") for c in changes} == {"orders"}  # filtered by service


def test_oom_scenario_shows_oomkilled(bundle_dir: Callable[..., Path]) -> None:
    out = bundle_dir("memory-leak-oom")
    r = call(out, "get_service_status", {"service": "inventory"})
    assert not r.is_error, text(r)
    d = r.structured_content["data"]
    assert d["last_termination_reasons"].get("OOMKilled (exit 137)", 0) >= 2
    assert d["waiting_reasons"].get("CrashLoopBackOff", 0) >= 1
    assert d["restarts_total"] > 5 and not d["healthy"]
    assert "OOMKilled" in text(r) and "CrashLoopBackOff" in text(r)
    assert d["snapshot"] == "2026-03-20T16:00:00Z"
    # Usage confirms it: memory at the limit, OOM-killed pods, steady growth; raise, don't shrink.
    u = call(out, "get_resource_utilization", {"service": "inventory", "window": "4h"})
    (c,) = u.structured_content["data"]["containers"]
    assert c["usage"]["oom_killed_pods"]
    assert c["usage"]["memory_bytes"]["max"] > 0.9 * 512 * 2**20
    assert c["usage"]["memory_growth_bytes_per_hour"] > 100 * 2**20
    mem = c["recommendation"]["memory"]
    assert mem["limit_action"] == "raise"
    assert any("leak" in reason for reason in mem["reasons"])
    # The kernel's OOMKilling events (about the node) are found for the service.
    ev = call(out, "get_events", {"service": "inventory", "window": "4h", "type": "warning"})
    reasons = {g["reason"] for g in ev.structured_content["data"]["groups"]}
    assert {"OOMKilling", "BackOff"} <= reasons


def test_capacity_recommendation_matches_the_brief(bundle_dir: Callable[..., Path]) -> None:
    out = bundle_dir("capacity-rightsizing")
    r = call(out, "get_resource_utilization", {"service": "api-gateway", "window": "30d"})
    assert not r.is_error, text(r)
    (c,) = r.structured_content["data"]["containers"]
    cpu = c["recommendation"]["cpu"]
    assert cpu["request"] == "2000m" and cpu["request_action"] == "decrease"
    assert abs(cpu["recommended_request_value"] - 1.0) <= 0.1  # about 1000m, within 10%
    assert cpu["limit_action"] == "keep" and cpu["recommended_limit"] == "4000m"
    assert abs(c["usage"]["cpu_cores"]["p95"] - 0.8) <= 0.04  # the brief's 800m at P95
    checks = {x["check"]: x["ok"] for x in c["recommendation"]["checks"]}
    assert checks == {"enough history": True, "cpu limit never reached": True,
                      "not throttled": True, "no OOM kills": True,
                      "memory limit not approached": True}
    assert c["usage"]["covered_seconds"] > 29 * 86400
    # With only the 4-hour detail window the tool says so and does not lower the request.
    short = call(out, "get_resource_utilization", {"service": "api-gateway", "window": "4h"})
    (s,) = short.structured_content["data"]["containers"]
    assert s["recommendation"]["cpu"]["request_action"] == "keep"
    assert not {x["check"]: x["ok"] for x in s["recommendation"]["checks"]}["enough history"]


def test_throttled_service_is_not_downsized(bundle_dir: Callable[..., Path]) -> None:
    out = bundle_dir("cpu-throttling")
    t = truth(out)
    r = call(out, "get_resource_utilization", {"service": "checkout", "start": t["onset"]})
    (c,) = r.structured_content["data"]["containers"]
    assert c["usage"]["throttled_ratio"] > 0.25
    cpu = c["recommendation"]["cpu"]
    assert cpu["limit_action"] == "raise" and cpu["recommended_limit_value"] >= 0.4
    assert cpu["request_action"] != "decrease"
    # Over a window that spans the change, the tool warns that usage before/after differs.
    wide = call(out, "get_resource_utilization", {"service": "checkout", "window": "4h"})
    assert any("changed within the window" in w for w in wide.structured_content["warnings"])
    probes = call(out, "check_health_checks", {"service": "checkout", "window": "4h"})
    failures = probes.structured_content["data"]["failures"]
    assert failures["readiness"]["count"] > 10
    assert failures["readiness"]["first"] >= t["onset"]


def test_hpa_at_max_in_the_traffic_surge(bundle_dir: Callable[..., Path]) -> None:
    out = bundle_dir("traffic-surge-hpa-max")
    t = truth(out)
    r = call(out, "get_autoscaling_events", {"service": "frontend", "window": "4h"})
    assert not r.is_error, text(r)
    d = r.structured_content["data"]
    assert d["hpa"]["max"] == 6 and d["hpa"]["at_max_now"]
    hist = d["history"]
    assert hist["seconds_at_max"] > 600 and hist["peak_replicas"] == 6
    assert hist["first_at_max_ms"] * 1_000_000 >= parse_rfc3339_ns(t["onset"])
    reasons = {e["reason"] for e in d["events"]}
    assert "FailedScheduling" in reasons or "TriggeredScaleUp" in reasons
    assert "AT MAXIMUM" in r.structured_content["summary"]


def test_unknown_service_and_bad_arguments(bundle_dir: Callable[..., Path]) -> None:
    out = bundle_dir("bad-deploy-db-pool")
    r = call(out, "get_service_status", {"service": "user-apy"})
    assert r.is_error and "did you mean 'user-api'" in text(r)
    r = call(out, "get_events", {"type": "Critical"})
    assert r.is_error and "'Warning' or 'Normal'" in text(r)
    r = call(out, "get_resource_utilization", {"service": "user-api", "window": "soon"})
    assert r.is_error and "bad_input" in text(r) and "7d" in text(r)
    redis = call(out, "get_service_status", {"service": "redis"})  # StatefulSet redis-master
    assert redis.structured_content["data"]["workload"]["kind"] == "StatefulSet"
