"""Alerts come from rules evaluated on the series, fire at plausible times, and page as they
should."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from scenario_data import error_ratio, manifest, parse_om, rfc, select

from obsbench.scenarios import SCENARIOS
from obsbench.scenarios.alerting import fingerprint

MIN = 60

# scenario -> (alertname, label that names the subject, its value, earliest and latest
# start relative to the onset in minutes)
PRIMARY = {
    "bad-deploy-db-pool": ("HighErrorRate", "service", "user-api", 2, 20),
    "external-dependency-slowdown": ("PaymentProviderLatencyHigh", "service", "payment", 2, 15),
    "batch-table-lock": ("PostgresLongRunningTransaction", "service", "postgres", 15, 25),
    "memory-leak-oom": ("KubeContainerOOMKilled", "container", "inventory", 20, 85),
    "cpu-throttling": ("CPUThrottlingHigh", "container", "checkout", 15, 30),
    "feature-flag-config": ("HighErrorRate", "service", "orders", 2, 15),
    "cache-eviction-storm": ("RedisEvictingKeys", "service", "redis", 2, 15),
    "certificate-expiry": ("BlackboxProbeFailed", "instance", "https://api.shop.example.com/healthz",
                           1, 8),
    "disk-full": ("PostgresDown", "service", "postgres", 1, 60),
    "traffic-surge-hpa-max": ("KubeHpaMaxedOut", "horizontalpodautoscaler", "frontend", 15, 35),
}


def _alerts(out: Path) -> list[dict]:
    return json.loads((out / "alerts" / "alertmanager.json").read_text())


@pytest.mark.parametrize("name", sorted(PRIMARY))
def test_primary_alert_fires_after_the_onset(name: str, bundle_dir: Callable[..., Path]) -> None:
    out = bundle_dir(name)
    onset = rfc(manifest(out)["truth"]["onset"])
    alertname, label, value, lo, hi = PRIMARY[name]
    hits = [a for a in _alerts(out) if a["labels"]["alertname"] == alertname
            and a["labels"].get(label) == value]
    assert hits, f"{alertname} for {value} did not fire"
    starts = min(rfc(a["startsAt"][:19] + "Z") for a in hits)
    # Alertmanager keeps the latest firing per fingerprint: a flapping alert may show a later
    # start, never an earlier one.
    assert onset + lo * MIN <= starts <= onset + hi * MIN + (60 * MIN if name == "memory-leak-oom"
                                                            else 0), (starts - onset) / 60


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_nothing_pages_before_the_onset(name: str, bundle_dir: Callable[..., Path]) -> None:
    out = bundle_dir(name)
    m = manifest(out)
    onset = rfc(m["truth"]["onset"])
    for a in _alerts(out):
        if a["labels"]["severity"] == "critical" and a["labels"]["alertname"] == "HighErrorRate":
            assert rfc(a["startsAt"][:19] + "Z") > onset


def test_disk_warning_leads_the_outage(bundle_dir: Callable[..., Path]) -> None:
    out = bundle_dir("disk-full")
    onset = rfc(manifest(out)["truth"]["onset"])
    pv = [a for a in _alerts(out) if a["labels"]["alertname"] == "KubePersistentVolumeFillingUp"]
    assert {a["labels"]["severity"] for a in pv} == {"warning", "critical"}
    assert all(rfc(a["startsAt"][:19] + "Z") < onset for a in pv)


def test_error_alert_matches_the_series(bundle_dir: Callable[..., Path]) -> None:
    """Recompute HighErrorRate's ratio from the .om file at the alert's start: above 2%,
    and below it 10 minutes before the pending period began."""
    out = bundle_dir("bad-deploy-db-pool")
    (alert,) = [a for a in _alerts(out) if a["labels"]["alertname"] == "HighErrorRate"
                and a["labels"]["service"] == "user-api"]
    t = rfc(alert["startsAt"][:19] + "Z")
    counts = select(parse_om(out / "metrics" / "user-api.om"),
                    "http_server_request_duration_seconds_count")
    assert error_ratio(counts, "http_response_status_code", t - 5 * MIN, t) > 0.02
    assert error_ratio(counts, "http_response_status_code", t - 20 * MIN, t - 15 * MIN) < 0.02
    assert "rate(http_server_request_duration_seconds_count" in alert["generatorURL"].replace(
        "%28", "(")


def test_alertmanager_shape_silences_and_inhibitions(bundle_dir: Callable[..., Path]) -> None:
    out = bundle_dir("certificate-expiry")
    alerts = _alerts(out)
    for a in alerts:
        assert set(a) == {"annotations", "endsAt", "fingerprint", "receivers", "startsAt",
                          "status", "updatedAt", "generatorURL", "labels"}
        assert a["fingerprint"] == fingerprint(a["labels"])
        assert {"summary", "description", "runbook_url"} <= set(a["annotations"])
        assert a["status"]["state"] in ("active", "suppressed")
    ssl = [a for a in alerts if a["labels"]["alertname"] == "SSLCertExpiringSoon"]
    assert ssl and ssl[0]["status"]["silencedBy"]
    # The expiry warning started two weeks before the window (it was silenced, not absent).
    assert rfc(ssl[0]["startsAt"][:19] + "Z") < rfc(manifest(out)["window"]["start"]) - 13 * 86400
    inhibited = [a for a in _alerts(bundle_dir("bad-deploy-db-pool"))
                 if a["status"]["inhibitedBy"]]
    assert inhibited and all(a["labels"]["alertname"] == "HighLatencyP95" for a in inhibited)


def test_fingerprint_matches_alertmanager(fixtures: Path) -> None:
    """Our fingerprint is Alertmanager's (checked on a live capture of Alertmanager 0.25)."""
    captured = json.loads((fixtures / "alertmanager" / "captured_alertmanager_0.25.0" /
                           "get_alerts.json").read_text())
    assert captured
    for a in captured:
        assert fingerprint(a["labels"]) == a["fingerprint"]


def test_pagerduty_incidents_for_paging_alerts(bundle_dir: Callable[..., Path]) -> None:
    out = bundle_dir("batch-table-lock")
    incidents = json.loads((out / "incidents" / "pagerduty-incidents.json").read_text())
    entries = json.loads((out / "incidents" / "pagerduty-log-entries.json").read_text())
    critical = {(a["labels"]["alertname"], a["labels"].get("service")) for a in _alerts(out)
                if a["labels"]["severity"] == "critical"}
    titles = [i["title"] for i in incidents["incidents"]]
    for alertname, svc in critical:
        assert any(alertname in t and str(svc) in t for t in titles)
    ids = {i["id"] for i in incidents["incidents"]}
    assert {e["incident"]["id"] for e in entries["log_entries"]} == ids
    kinds = {e["type"] for e in entries["log_entries"]}
    assert {"trigger_log_entry", "acknowledge_log_entry", "resolve_log_entry"} <= kinds
    # The lock was released inside the window, so its incidents resolved.
    assert {i["status"] for i in incidents["incidents"]} == {"resolved"}
