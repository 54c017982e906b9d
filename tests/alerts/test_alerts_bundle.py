"""The alerts server on scenario bundles: firing alerts, incidents, timelines, runbooks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from alerts_support import call, data, text, tool_names

from obsbench_servers.alerts.server import create_server
from obsbench_servers.common.context import ServerContext
from obsbench_servers.common.timeutil import parse_rfc3339_ns


@pytest.fixture
def bad_deploy(bundle_dir: Callable[..., Path]) -> Path:
    return bundle_dir("bad-deploy-db-pool")


def _server(bundle: Path, **kw: object) -> object:
    return create_server(ServerContext.for_bundle("alerts", bundle, **kw))  # type: ignore[arg-type]


def test_firing_alerts_of_the_bad_deploy(bad_deploy: Path) -> None:
    r = call(_server(bad_deploy), "list_firing_alerts", {})
    d = data(r)
    names = [a["alertname"] for a in d["alerts"]]
    # Critical first; the inhibited HighLatencyP95 of user-api is listed last and marked.
    assert names[0] == "HighErrorRate"
    assert d["alerts"][0]["labels"]["service"] == "user-api"
    inhibited = [a for a in d["alerts"] if a["inhibited_by"]]
    assert [a["labels"]["service"] for a in inhibited] == ["user-api"]
    assert d["alerts"][-1] == inhibited[0]
    assert d["counts"]["inhibited"] == 1
    assert "INHIBITED by" in text(r)
    # The api-gateway HighErrorRate resolved at 14:13: not firing at the bundle's end.
    assert not any(a["labels"].get("service") == "api-gateway" for a in d["alerts"])
    assert {g["labels"]["alertname"] for g in d["groups"]} >= {"HighErrorRate",
                                                                "CPUThrottlingHigh"}
    sc = r.structured_content
    assert sc is not None and sc["time_range"]["end"] == "2026-03-10T15:00:00Z"
    assert sc["coverage"]["total"] == len(d["alerts"])


def test_filter_and_time_travel(bad_deploy: Path) -> None:
    srv = _server(bad_deploy)
    d = data(call(srv, "list_firing_alerts", {"filter": 'severity="critical"'}))
    assert [a["alertname"] for a in d["alerts"]] == ["HighErrorRate"]
    d = data(call(srv, "list_firing_alerts",
                  {"filter": 'alertname=~"High.*", service!="frontend"',
                   "include_suppressed": False}))
    assert {(a["alertname"], a["labels"]["service"]) for a in d["alerts"]} == {
        ("HighErrorRate", "user-api")}
    # At 14:12:30 the api-gateway HighErrorRate (14:12-14:13) was firing.
    at = ServerContext.for_bundle("alerts", bad_deploy,
                                  at_ns=parse_rfc3339_ns("2026-03-10T14:12:30Z"))
    d = data(call(create_server(at), "list_firing_alerts", {"filter": "alertname=HighErrorRate"}))
    assert {a["labels"]["service"] for a in d["alerts"]} == {"user-api", "api-gateway"}


def test_bad_filter_is_a_clear_error(bad_deploy: Path) -> None:
    r = call(_server(bad_deploy), "list_firing_alerts", {"filter": 'service=~"(unclosed"'})
    assert r.is_error
    assert "regex" in text(r) and "hint:" in text(r)
    r = call(_server(bad_deploy), "list_firing_alerts", {"filter": "service ~~ x"})
    assert r.is_error and "cannot read matcher" in text(r)


def test_incidents_follow_the_log_over_time(bad_deploy: Path) -> None:
    d = data(call(_server(bad_deploy), "get_active_incidents", {}))
    (inc,) = d["incidents"]
    assert inc["id"] == "P3ETBPP" and inc["number"] == 4786
    assert inc["status"] == "acknowledged" and inc["assignees"] == ["Lea Brandt"]
    assert inc["acknowledged_at"] == "2026-03-10T13:59:26Z"
    # Between trigger (13:56:24) and acknowledgement (13:59:26) it was triggered.
    ctx = ServerContext.for_bundle("alerts", bad_deploy,
                                   at_ns=parse_rfc3339_ns("2026-03-10T13:58:00Z"))
    (early,) = data(call(create_server(ctx), "get_active_incidents", {}))["incidents"]
    assert early["status"] == "triggered" and early["acknowledged_at"] is None
    ctx = ServerContext.for_bundle("alerts", bad_deploy,
                                   at_ns=parse_rfc3339_ns("2026-03-10T13:00:00Z"))
    assert data(call(create_server(ctx), "get_active_incidents", {}))["incidents"] == []


def test_groups_stand_in_for_incidents_without_pagerduty(bundle_dir: Callable[..., Path]
                                                         ) -> None:
    out = bundle_dir("capacity-rightsizing")  # no paging alert, so no PagerDuty incidents
    d = data(call(_server(out), "get_active_incidents", {}))
    assert d["origin"] == "alertmanager groups"
    assert d["incidents"], "the standing CPUThrottlingHigh group is open"
    inc = d["incidents"][0]
    assert inc["id"].startswith("am-") and inc["kind"] == "alertmanager-group"
    tl = data(call(_server(out), "get_incident_timeline", {"incident_id": inc["id"]}))
    assert {e["source"] for e in tl["entries"]} >= {"alert"}


def test_timeline_merges_log_alerts_and_changes_in_order(bad_deploy: Path) -> None:
    r = call(_server(bad_deploy), "get_incident_timeline", {"incident_id": "#4786"})
    d = data(r)
    entries = d["entries"]
    times = [parse_rfc3339_ns(e["time"]) for e in entries]
    assert times == sorted(times)
    kinds = [(e["source"], e["kind"]) for e in entries]
    rollout = next(i for i, e in enumerate(entries)
                   if e["source"] == "change" and e["detail"]["workload"] == "user-api")
    first_alert = next(i for i, e in enumerate(entries) if e["kind"] == "firing")
    trigger = kinds.index(("incident", "trigger"))
    ack = kinds.index(("incident", "acknowledge"))
    assert rollout < first_alert < trigger < ack
    assert entries[rollout]["time"] == "2026-03-10T13:46:18Z"
    assert "2.3.1" in entries[rollout]["summary"]
    note = next(e for e in entries if e["kind"] == "annotate")
    assert "checking recent deploys" in note["summary"]
    # The standing noise is one entry at the window's start, not buried in the story.
    standing = [e for e in entries if e["kind"] == "already-firing"]
    assert len(standing) == 1 and "CPUThrottlingHigh" in standing[0]["summary"]
    assert r.structured_content is not None
    assert r.structured_content["time_range"]["start"] == "2026-03-10T11:56:24Z"


def test_unknown_incident_suggests_close_ids(bad_deploy: Path) -> None:
    r = call(_server(bad_deploy), "get_incident_timeline", {"incident_id": "P3ETBPQ"})
    assert r.is_error
    assert "no incident 'P3ETBPQ'" in text(r) and "P3ETBPP" in text(r)
    r = call(_server(bad_deploy), "get_incident_timeline", {"incident_id": "../etc/passwd"})
    assert r.is_error and "not an incident id" in text(r)


def test_runbook_fuzzy_match_from_the_bundle(bad_deploy: Path) -> None:
    for name in ("HighErrorRate", "high_error_rate", "HighErrorRates"):
        r = call(_server(bad_deploy), "get_runbook", {"alert_name": name})
        d = data(r)
        assert d["runbook"]["path"] == "runbooks/high-error-rate.md", name
        assert "Did it start with a change?" in text(r)
    r = call(_server(bad_deploy), "get_runbook", {"alert_name": "DiskOnFire"})
    assert r.is_error and "no runbook covers alert 'DiskOnFire'" in text(r)


def test_runbooks_dir_front_matter_wins(bad_deploy: Path, tmp_path: Path) -> None:
    (tmp_path / "team").mkdir()
    (tmp_path / "team" / "pool.md").write_text(
        "---\nalerts: [DBConnectionPoolExhausted]\ntitle: Our pool runbook\n---\n"
        "Restart nothing. Check max_overflow first.\n")
    srv = _server(bad_deploy, runbooks_dir=tmp_path)
    d = data(call(srv, "get_runbook", {"alert_name": "DBConnectionPoolExhausted"}))
    assert d["runbook"]["title"] == "Our pool runbook"
    assert d["runbook"]["source"] == "runbooks_dir" and d["score"] == 1.0


def test_write_tools_are_absent_for_a_bundle(bad_deploy: Path) -> None:
    names = set(tool_names(_server(bad_deploy)))
    assert names == {"list_firing_alerts", "get_active_incidents", "get_incident_timeline",
                     "get_runbook"}
    # Even with writes enabled a bundle has no backend that can write: still none.
    ctx = ServerContext.for_bundle("alerts", bad_deploy, writes_enabled=True)
    assert set(tool_names(create_server(ctx))) == names
