"""Alertmanager and Prometheus alerts, PagerDuty incidents and log entries."""

from __future__ import annotations

import json
from pathlib import Path

from obsbench_servers.store.importers.alertmanager import label_fingerprint

AM = "alertmanager/captured_alertmanager_0.25.0"


def test_alertmanager_v2_alerts_capture(fixtures: Path, load, q) -> None:
    con, report = load((fixtures / AM / "get_alerts.json", "alertmanager"))
    alerts = {r["fingerprint"]: r for r in q(con, "SELECT * FROM alerts")}
    assert set(alerts) == {"51c1e8f18e960fc7", "a75c299eba9ce7ad", "a7772284daaec55b",
                           "d58a35b9c1bb2ed8"}
    silenced = alerts["a7772284daaec55b"]
    assert (silenced["alertname"], silenced["state"], silenced["severity"]) == (
        "TargetDown", "suppressed", "critical")
    assert silenced["silenced_by_json"] == ["e475299a-7fda-4d9c-a39c-0101a4b4afcf"]
    assert silenced["inhibited_by_json"] is None
    assert silenced["starts_at_ns"] == 1_795_495_256_302_000_000  # 2026-11-24T04:40:56.302Z
    assert silenced["ends_at_ns"] == 1_795_495_561_302_000_000
    assert silenced["updated_at_ns"] == 1_795_495_321_304_000_000
    assert silenced["labels_json"] == {"alertname": "TargetDown", "env": "obsbench-capture",
                                       "instance": "127.0.0.1:19100", "job": "node",
                                       "severity": "critical"}
    assert silenced["annotations_json"]["summary"] == "Target 127.0.0.1:19100 of job node is down"
    assert silenced["generator_url"] == "http://vm:19090/graph?g0.expr=up+%3D%3D+0&g0.tab=1"
    assert silenced["receivers_json"] == ["blackhole"] and silenced["source"] == "alertmanager"
    inhibited = alerts["d58a35b9c1bb2ed8"]
    assert inhibited["inhibited_by_json"] == ["a75c299eba9ce7ad"]
    assert alerts["a75c299eba9ce7ad"]["generator_url"] is None  # POSTed without one
    assert report.skipped == report.warnings == 0


def test_fingerprint_is_alertmanagers(fixtures: Path) -> None:
    for alert in json.loads((fixtures / AM / "get_alerts.json").read_text()):
        assert label_fingerprint(alert["labels"]) == alert["fingerprint"]


def test_filtered_alert_captures(fixtures: Path, load, q) -> None:
    con, report = load((fixtures / AM / "get_alerts_filter_active_only.json", "alertmanager"),
                       (fixtures / AM / "get_alerts_filter_alertname.json", "alertmanager"))
    per_file = [dict(f.records) for f in report.files]
    assert per_file == [{"alerts": 2}, {"alerts": 2}]
    active = q(con, "SELECT DISTINCT state FROM alerts WHERE fingerprint IN "
                    "('51c1e8f18e960fc7')")
    assert active == [{"state": "active"}]
    names = q(con, "SELECT alertname, count(*) AS n FROM alerts GROUP BY 1 ORDER BY 1")
    assert names == [{"alertname": "AlwaysFiring", "n": 1},
                     {"alertname": "KubePodCrashLooping", "n": 3}]


def test_alert_groups_capture(fixtures: Path, load, q) -> None:
    con, _ = load((fixtures / AM / "get_alerts_groups.json", "alertmanager"))
    got = q(con, "SELECT fingerprint, alertname, receivers_json FROM alerts ORDER BY 1")
    assert [r["fingerprint"] for r in got] == ["51c1e8f18e960fc7", "a75c299eba9ce7ad",
                                               "a7772284daaec55b", "d58a35b9c1bb2ed8"]
    assert {tuple(r["receivers_json"]) for r in got} == {("blackhole",)}


def test_prometheus_alerts_documents(fixtures: Path, load, q) -> None:
    con, report = load(
        (fixtures / "prometheus/captured_prometheus_2.42.0/alerts.json", "alertmanager"),
        (fixtures / "prometheus/docs_alerts.json", "alertmanager"),
        (fixtures / "prometheus/openapi_alerts_activeAlerts.json", "alertmanager"))
    got = q(con, "SELECT * FROM alerts ORDER BY starts_at_ns, labels_json")
    assert [(r["alertname"], r["state"], r["source"]) for r in got] == [
        ("my-alert", "firing", "prometheus"),
        ("Watchdog", "firing", "prometheus"),
        ("AlwaysFiring", "firing", "prometheus"),
        ("TargetDown", "firing", "prometheus"),
        ("SlowToFire", "pending", "prometheus"),
        ("SlowToFire", "pending", "prometheus"),
    ]
    # activeAt keeps its nanoseconds and its offset: 2018-07-04T20:27:12.60602144+02:00.
    assert got[0]["starts_at_ns"] == 1_530_728_832_606_021_440
    assert got[2]["starts_at_ns"] == 1_795_495_251_302_629_128
    assert got[2]["fingerprint"] == label_fingerprint({"alertname": "AlwaysFiring",
                                                       "severity": "warning"})
    pending = [r for r in got if r["state"] == "pending"]
    assert {r["labels_json"]["job"] for r in pending} == {"prometheus", "alertmanager"}
    assert pending[0]["fingerprint"] != pending[1]["fingerprint"]
    assert got[1]["annotations_json"]["summary"] == "Ensure entire alerting pipeline is functional"
    assert report.skipped == 0


def test_alerts_that_are_not_alerts(tmp_path: Path, load, w) -> None:
    path = w(tmp_path / "a.json", json.dumps([{"labels": {}}, "x", {"labels": {"alertname": "A"},
                                                                    "startsAt": "nope"}]))
    con, report = load((path, "alertmanager"))
    assert con.execute("SELECT count(*) FROM alerts").fetchone() == (1,)
    assert [i.reason for i in report.files[0].issues] == [
        "no labels: alert #1 has no label set",
        "not an alert: item #2 is a str",
        "bad time: alert #3 'A' startsAt='nope' kept as null",
    ]


def test_pagerduty_upstream_objects(fixtures: Path, load, q) -> None:
    pd = fixtures / "pagerduty"
    con, report = load(*[(pd / name, "pagerduty") for name in (
        "mcp_tests_incident.json", "mcp_tests_log_entry.json",
        "mcp_tests_service_change_log_entry.json", "mcp_tests_alert.json",
        "mcp_tests_past_incidents.json", "mcp_tests_related_incidents.json",
        "mcp_tests_outlier_incident.json")])
    inc = q(con, "SELECT * FROM incidents")
    assert len(inc) == 1
    assert {k: inc[0][k] for k in ("id", "number", "title", "status", "urgency", "service",
                                   "created_at_ns", "resolved_at_ns", "assignees_json",
                                   "html_url")} == {
        "id": "PINCIDENT123", "number": 123, "title": "Test Incident", "status": "triggered",
        "urgency": "high", "service": "PSERVICE123", "created_at_ns": 1_672_531_200_000_000_000,
        "resolved_at_ns": None, "assignees_json": None,
        "html_url": "https://test.pagerduty.com/incidents/PINCIDENT123"}
    assert inc[0]["raw_json"]["incident_key"] == "test-key"
    entries = {r["id"]: r for r in q(con, "SELECT * FROM incident_log_entries")}
    trigger = entries["PLOGENTRY123"]
    assert (trigger["incident_id"], trigger["type"], trigger["agent"], trigger["summary"]) == (
        "PINCIDENT123", "trigger_log_entry", "John Doe", "Triggered via the website")
    assert trigger["created_at_ns"] == 1_444_167_042_000_000_000
    assert trigger["channel_json"] == {"type": "web_trigger"}
    change = entries["PLOGENTRY456"]
    assert change["incident_id"] is None and change["channel_json"] == {
        "old_service": {"id": "PSERVICE123", "type": "service_reference"}}
    skipped = {f.path.rsplit("/", 1)[-1]: [i.reason for i in f.issues] for f in report.files
               if f.skipped}
    assert skipped == {
        "mcp_tests_alert.json": ["not an incident or log entry: item #1 has type 'alert'"],
        "mcp_tests_past_incidents.json": [
            "not incidents or log entries: this PagerDuty document has past_incidents, total, "
            "limit; export GET /incidents or GET /log_entries (or /incidents/{id}/log_entries)"],
        "mcp_tests_related_incidents.json": [
            "not incidents or log entries: this PagerDuty document has related_incidents; "
            "export GET /incidents or GET /log_entries (or /incidents/{id}/log_entries)"],
        "mcp_tests_outlier_incident.json": [
            "not incidents or log entries: this PagerDuty document has outlier_incident; "
            "export GET /incidents or GET /log_entries (or /incidents/{id}/log_entries)"],
    }


def test_pagerduty_list_envelopes(tmp_path: Path, load, q, w) -> None:
    # Written from the documented REST v2 shapes (no licensed upstream list sample exists).
    incidents = {"incidents": [
        {"id": "P1", "type": "incident", "incident_number": 7, "title": "API 5xx",
         "status": "resolved", "urgency": "high", "created_at": "2026-03-10T13:00:00Z",
         "last_status_change_at": "2026-03-10T14:30:00Z",
         "service": {"id": "PS1", "type": "service_reference", "summary": "user-api"},
         "assignments": [{"at": "2026-03-10T13:01:00Z", "assignee": {
             "id": "PU1", "type": "user_reference", "summary": "Ada Lovelace"}}]},
        {"id": "P2", "type": "incident", "incident_number": 8, "title": "slow checkout",
         "status": "acknowledged", "urgency": "low", "created_at": "2026-03-10T13:10:00Z",
         "service": {"id": "PS2", "type": "service_reference", "summary": "checkout"},
         "assignments": []},
    ], "limit": 25, "offset": 0, "more": False}
    entries = {"log_entry": {"id": "L1", "type": "acknowledge_log_entry",
                             "created_at": "2026-03-10T13:12:00Z", "summary": "Acknowledged",
                             "incident": {"id": "P2", "type": "incident_reference"},
                             "agent": {"id": "PU1", "summary": "Ada Lovelace"},
                             "channel": {"type": "mobile"}}}
    con, report = load((w(tmp_path / "i.json", json.dumps(incidents)), "pagerduty"),
                       (w(tmp_path / "l.json", json.dumps(entries)), "pagerduty"))
    got = q(con, "SELECT id, number, service, resolved_at_ns, assignees_json FROM incidents "
                 "ORDER BY id")
    assert got == [
        {"id": "P1", "number": 7, "service": "user-api",
         "resolved_at_ns": 1_773_153_000_000_000_000, "assignees_json": ["Ada Lovelace"]},
        {"id": "P2", "number": 8, "service": "checkout", "resolved_at_ns": None,
         "assignees_json": None},
    ]
    assert q(con, "SELECT id, incident_id, type FROM incident_log_entries") == [
        {"id": "L1", "incident_id": "P2", "type": "acknowledge_log_entry"}]
    assert report.skipped == 0
