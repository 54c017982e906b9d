"""Alertmanager, Prometheus and PagerDuty adapters against recorded upstream payloads.

Alertmanager and Prometheus bodies are live captures (../shared/fixtures/
{alertmanager,prometheus}, read in place). PagerDuty publishes no licensed list
envelopes or error bodies (../shared/README.md "Gaps"): the single incident and log
entry objects are PagerDuty's own (its MCP server's tests); the list envelopes
(``{"incidents": [...], "limit", "offset", "more"}``), the notes list and the error
body (``{"error": {"message", "code", "errors"}}``) are written here from the shapes
documented in fixtures/pagerduty/PROVENANCE.md, and say so where they are built.
Every backend is served through ``httpx.MockTransport`` (the ``transport`` option),
so the real client, auth, size caps and error mapping run.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from alerts_support import accept, audit_records, call, data, load, text, tool_names

from obsbench_servers.alerts.server import create_server
from obsbench_servers.common.backend import (
    AlertmanagerBackend,
    PagerDutyBackend,
    PrometheusAlertsBackend,
)
from obsbench_servers.common.context import ServerContext
from obsbench_servers.store.importers.alertmanager import label_fingerprint

AM_URL = "http://am.test:9093"
PROM_URL = "http://prom.test:9090"
TOKEN = "pd-Tok3n-never-shown"

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def am_dir(fixtures: Path) -> Path:
    return fixtures / "alertmanager" / "captured_alertmanager_0.25.0"


@pytest.fixture
def pd_dir(fixtures: Path) -> Path:
    return fixtures / "pagerduty"


def _ctx(handler: Handler, *backends: Any, writes: bool = False) -> ServerContext:
    return ServerContext("alerts", list(backends), profile="rec", writes_enabled=writes,
                         options={"transport": httpx.MockTransport(handler)})


def _am() -> AlertmanagerBackend:
    return AlertmanagerBackend(type="alertmanager", url=AM_URL, name="am")


def _pd(**kw: Any) -> PagerDutyBackend:
    return PagerDutyBackend(type="pagerduty", name="pd", from_email="oncall@example.com",
                            auth={"kind": "api_key", "secret": "env:PD_TOKEN"},
                            **kw).with_secret(TOKEN)


def _json(body: Any, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, content=orjson.dumps(body),
                          headers={"Content-Type": "application/json", **headers})


# ----------------------------------------------------------------------------- Alertmanager


def test_alertmanager_recorded_payload_alerts_and_groups(am_dir: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        if req.url.path == "/api/v2/alerts":
            return httpx.Response(200, content=(am_dir / "get_alerts.json").read_bytes())
        if req.url.path == "/api/v2/alerts/groups":
            return httpx.Response(200, content=(am_dir / "get_alerts_groups.json").read_bytes())
        return httpx.Response(404)

    d = data(call(create_server(_ctx(handler, _am())), "list_firing_alerts", {}))
    by_fp = {a["fingerprint"]: a for a in d["alerts"]}
    assert by_fp["a7772284daaec55b"]["silenced_by"] == ["e475299a-7fda-4d9c-a39c-0101a4b4afcf"]
    assert by_fp["d58a35b9c1bb2ed8"]["inhibited_by"] == ["a75c299eba9ce7ad"]
    assert d["counts"] == {"firing": 2, "silenced": 1, "inhibited": 1, "pending": 0,
                           "by_severity": {"critical": 1, "warning": 1}}
    assert d["alerts"][0]["fingerprint"] == "a75c299eba9ce7ad"  # the critical one first
    assert {g["labels"]["alertname"] for g in d["groups"]} >= {"AlwaysFiring",
                                                                "KubePodCrashLooping"}
    params = seen[0].url.params
    assert params.get_list("silenced") == ["true"] and params.get_list("inhibited") == ["true"]
    hidden = data(call(create_server(_ctx(handler, _am())), "list_firing_alerts",
                       {"include_suppressed": False}))
    assert {a["fingerprint"] for a in hidden["alerts"]} == {"51c1e8f18e960fc7",
                                                            "a75c299eba9ce7ad"}


@pytest.mark.parametrize(("status", "body", "expect"), [
    (400, "error_400_post_silence_ends_before_starts.json", "start time must be before end"),
    (422, "error_422_post_silence_missing_fields.json", "comment in body is required"),
])
def test_alertmanager_recorded_payload_silence_errors(am_dir: Path, status: int, body: str,
                                                      expect: str) -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        if req.method == "POST":
            return httpx.Response(status, content=(am_dir / body).read_bytes(),
                                  headers={"Content-Type": "application/json"})
        return httpx.Response(200, content=b"[]")

    srv = create_server(_ctx(handler, _am(), writes=True))
    r = call(srv, "create_silence", {"matchers": 'alertname="TargetDown"', "comment": "c"},
             elicit=accept())
    assert r.is_error and expect in text(r) and str(status) in text(r)
    (rec,) = audit_records()
    assert rec["outcome"] == "failed" and expect in rec["reason"]


# An unknown silence id on DELETE: Alertmanager 0.25 answers 500 with the JSON string
# "silence not found" (seen on the real server; the live test checks it); the capture's
# GET of an unknown silence is an empty 404, which newer releases also use for DELETE.
@pytest.mark.parametrize(("missing_status", "missing_body"), [
    (404, b""), (500, b'"silence not found"\n')], ids=["404-empty", "500-0.25"])
def test_alertmanager_recorded_payload_silence_created_and_missing(
        am_dir: Path, missing_status: int, missing_body: bytes) -> None:
    bodies: list[Any] = []

    def handler(req: httpx.Request) -> httpx.Response:
        if req.method == "POST":
            bodies.append(orjson.loads(req.content))
            return httpx.Response(200, content=(am_dir / "post_silence_created.json").read_bytes())
        if req.method == "DELETE":
            return httpx.Response(missing_status, content=missing_body,
                                  headers={"Content-Type": "application/json"})
        return httpx.Response(200, content=b"[]")

    srv = create_server(_ctx(handler, _am(), writes=True))
    d = data(call(srv, "create_silence", {"matchers": 'alertname="TargetDown",instance=~"127.*"',
                                          "duration": "2h", "comment": "capture"},
                  elicit=accept("carol")))
    assert d["silence_id"] == "e475299a-7fda-4d9c-a39c-0101a4b4afcf"
    (body,) = bodies
    assert body["createdBy"] == "carol" and body["comment"] == "capture"
    assert body["matchers"] == [
        {"name": "alertname", "value": "TargetDown", "isRegex": False, "isEqual": True},
        {"name": "instance", "value": "127.*", "isRegex": True, "isEqual": True}]
    r = call(srv, "expire_silence", {"silence_id": "00000000-0000-0000-0000-000000000000"},
             elicit=accept())
    assert r.is_error and text(r).startswith("error (not_found): Alertmanager am has no silence")


def test_alertmanager_expire_internal_error_is_not_called_missing() -> None:
    """A 500 that is not "silence not found" stays a backend failure, with its words."""
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(500, content=b'"failed to persist snapshot"',
                              headers={"Content-Type": "application/json"})

    srv = create_server(_ctx(handler, _am(), writes=True))
    r = call(srv, "expire_silence", {"silence_id": "00000000-0000-0000-0000-000000000000"},
             elicit=accept())
    assert r.is_error and text(r).startswith("error (backend):")
    assert "failed to persist snapshot" in text(r)
    assert [x["outcome"] for x in audit_records()] == ["failed"]


@pytest.mark.parametrize(("response", "expect"), [
    (httpx.Response(200, content=b"<!doctype html><html><body>Login</body></html>",
                    headers={"Content-Type": "text/html"}), "HTML page instead of JSON"),
    (httpx.Response(200, content=b'[{"labels": {"alertname": "X"'), "not JSON"),
    (httpx.Response(200, content=b'{"status": "success"}'), "not a list"),
    (httpx.Response(401, content=b"Unauthorized"), "credentials were refused"),
])
def test_alertmanager_bad_answers_are_clear_errors(response: httpx.Response, expect: str
                                                   ) -> None:
    srv = create_server(_ctx(lambda req: response, _am()))
    r = call(srv, "list_firing_alerts", {})
    assert r.is_error and expect in text(r)


def test_unreachable_alertmanager_and_the_server_keeps_serving() -> None:
    calls = {"n": 0}

    def handler(req: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] <= 3:  # the read is tried three times (idempotent), then it gives up
            raise httpx.ConnectError("[Errno 111] Connection refused", request=req)
        return httpx.Response(200, content=b"[]")

    srv = create_server(_ctx(handler, _am()))
    r = call(srv, "list_firing_alerts", {})
    assert r.is_error and "connection refused" in text(r) and "hint:" in text(r)
    assert calls["n"] == 3
    assert not call(srv, "list_firing_alerts", {}).is_error


# ----------------------------------------------------------------------------- Prometheus


def test_prometheus_recorded_payload_firing_and_pending(fixtures: Path, am_dir: Path) -> None:
    captured = fixtures / "prometheus" / "captured_prometheus_2.42.0" / "alerts.json"

    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.host == "prom.test":
            return httpx.Response(200, content=captured.read_bytes())
        if req.url.path == "/api/v2/alerts":
            return httpx.Response(200, content=(am_dir / "get_alerts.json").read_bytes())
        return httpx.Response(200, content=b"[]")

    prom = PrometheusAlertsBackend(type="prometheus", url=PROM_URL, name="prom")
    d = data(call(create_server(_ctx(handler, prom)), "list_firing_alerts", {}))
    states = sorted((a["alertname"], a["state"]) for a in d["alerts"])
    assert states == [("AlwaysFiring", "firing"), ("SlowToFire", "pending"),
                      ("SlowToFire", "pending"), ("TargetDown", "firing")]
    target = next(a for a in d["alerts"] if a["alertname"] == "TargetDown")
    assert target["fingerprint"] == label_fingerprint(target["labels"])
    assert d["counts"]["pending"] == 2
    # With Alertmanager too, an alert both report (AM adds external labels) is listed once;
    # the pending ones only Prometheus knows stay.
    both = data(call(create_server(_ctx(handler, _am(), prom)), "list_firing_alerts", {}))
    names = sorted(a["alertname"] for a in both["alerts"])
    assert names == ["AlwaysFiring", "KubePodCrashLooping", "KubePodCrashLooping", "SlowToFire",
                     "SlowToFire", "TargetDown"]
    assert next(a for a in both["alerts"] if a["alertname"] == "AlwaysFiring")["source"] == "am"


# ----------------------------------------------------------------------------- PagerDuty


class FakePagerDuty:
    """Serves the recorded objects in the documented envelopes (written here, see top)."""

    def __init__(self, pd_dir: Path) -> None:
        self.incident = load(pd_dir / "mcp_tests_incident.json")
        second = copy.deepcopy(self.incident)
        second.update(id="PINCIDENT124", incident_number=124, title="Second incident",
                      urgency="low", status="acknowledged")
        self.incidents = [self.incident, second]
        self.log = [load(pd_dir / "mcp_tests_log_entry.json"),
                    load(pd_dir / "mcp_tests_service_change_log_entry.json")]
        self.requests: list[httpx.Request] = []
        self.fail_first_with_429 = False

    def __call__(self, req: httpx.Request) -> httpx.Response:
        self.requests.append(req)
        path = req.url.path
        if self.fail_first_with_429:
            self.fail_first_with_429 = False
            return _json({"error": {"message": "Rate Limit Exceeded", "code": 2020}}, 429,
                         **{"Retry-After": "0"})
        if path == "/incidents" and req.method == "GET":
            offset = int(req.url.params.get("offset", "0"))
            page = self.incidents[offset:offset + 1]  # one per page: pagination is exercised
            return _json({"incidents": page, "limit": 1, "offset": offset,
                          "more": offset + 1 < len(self.incidents)},
                         **{"ratelimit-remaining": "3", "ratelimit-reset": "20"})
        if path == "/incidents/PINCIDENT123" and req.method == "GET":
            return _json({"incident": self.incident})
        if path == "/incidents/PINCIDENT123" and req.method == "PUT":
            acked = {**self.incident, "status": "acknowledged"}
            return _json({"incident": acked})
        if path == "/incidents/PINCIDENT123/log_entries":
            return _json({"log_entries": self.log, "limit": 100, "offset": 0, "more": False})
        if path == "/incidents/PINCIDENT123/notes" and req.method == "GET":
            # The notes list shape of PROVENANCE.md (no licensed example to copy).
            return _json({"notes": [{"id": "PNOTE1", "content": "rolled back 2.3.1",
                                     "created_at": "2015-10-06T21:40:00Z",
                                     "user": {"id": "PUSER123", "type": "user_reference",
                                              "summary": "John Doe"},
                                     "channel": {"summary": "The PagerDuty website"}}]})
        if path == "/incidents/PINCIDENT123/notes" and req.method == "POST":
            content = orjson.loads(req.content)["note"]["content"]
            return _json({"note": {"id": "PNOTE2", "content": content,
                                   "created_at": "2015-10-06T22:00:00Z",
                                   "user": {"summary": "On Call"}}}, 201)
        # The generic error body PagerDuty documents (message, code, errors).
        return _json({"error": {"message": "Not Found", "code": 2100,
                                "errors": ["Incident Not Found"]}}, 404)


def test_pagerduty_recorded_payload_incidents_with_pagination(pd_dir: Path) -> None:
    pd = FakePagerDuty(pd_dir)
    r = call(create_server(_ctx(pd, _pd(service_ids=["PSERVICE123"]))), "get_active_incidents",
             {})
    d = data(r)
    assert [i["id"] for i in d["incidents"]] == ["PINCIDENT123", "PINCIDENT124"]  # high first
    first = d["incidents"][0]
    assert first["status"] == "triggered" and first["urgency"] == "high"
    assert first["service"] == "PSERVICE123" and first["number"] == 123
    gets = [q for q in pd.requests if q.url.path == "/incidents"]
    assert [q.url.params["offset"] for q in gets] == ["0", "1"]
    assert gets[0].url.params.get_list("statuses[]") == ["triggered", "acknowledged"]
    assert gets[0].url.params.get_list("service_ids[]") == ["PSERVICE123"]
    assert gets[0].headers["Authorization"] == f"Token token={TOKEN}"
    assert gets[0].headers["Accept"] == "application/vnd.pagerduty+json;version=2"
    assert any("rate limit nearly spent: 3 requests left" in w
               for w in (r.structured_content or {})["warnings"])
    assert TOKEN not in text(r) and TOKEN not in orjson.dumps(r.structured_content).decode()


def test_pagerduty_recorded_payload_pagination_is_capped_and_says_so(pd_dir: Path) -> None:
    """An account that always has "more" is read for MAX_PAGES pages, then a warning."""
    from obsbench_servers.alerts.backends.pagerduty import MAX_PAGES

    pd = FakePagerDuty(pd_dir)
    many = []
    for n in range(MAX_PAGES + 5):
        inc = copy.deepcopy(pd.incident)
        inc.update(id=f"PMANY{n:03d}", incident_number=1000 + n)
        many.append(inc)
    pd.incidents = many
    r = call(create_server(_ctx(pd, _pd())), "get_active_incidents", {})
    d = data(r)
    assert len(d["incidents"]) == MAX_PAGES
    assert len([q for q in pd.requests if q.url.path == "/incidents"]) == MAX_PAGES
    warnings = (r.structured_content or {})["warnings"]
    assert any(f"more than {MAX_PAGES} active incidents ({MAX_PAGES} pages read)" in w
               for w in warnings), warnings


def test_pagerduty_recorded_payload_timeline(pd_dir: Path) -> None:
    d = data(call(create_server(_ctx(FakePagerDuty(pd_dir), _pd())), "get_incident_timeline",
                  {"incident_id": "PINCIDENT123"}))
    entries = [(e["source"], e["kind"], e["summary"]) for e in d["entries"]]
    assert ("incident", "trigger", "Triggered via the website (John Doe)") in entries
    note = next(e for e in d["entries"] if e["kind"] == "note")
    assert "rolled back 2.3.1" in note["summary"] and note["time"] == "2015-10-06T21:40:00Z"
    assert "service_change" in {k for _, k, _ in entries}
    assert [e["time"] for e in d["entries"]] == sorted(e["time"] for e in d["entries"])
    by_number = data(call(create_server(_ctx(FakePagerDuty(pd_dir), _pd())),
                          "get_incident_timeline", {"incident_id": "#123"}))
    assert by_number["incident"]["id"] == "PINCIDENT123"


def test_pagerduty_unknown_incident_recorded_error_body(pd_dir: Path) -> None:
    r = call(create_server(_ctx(FakePagerDuty(pd_dir), _pd())), "get_incident_timeline",
             {"incident_id": "PINCIDENT125"})
    assert r.is_error
    assert "no incident 'PINCIDENT125'" in text(r)
    assert "PINCIDENT123" in text(r) or "PINCIDENT124" in text(r)


def test_pagerduty_expired_token_is_a_clear_error(pd_dir: Path) -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return _json({"error": {"message": "Unauthorized", "code": 2006,
                                "errors": ["Invalid or expired API key"]}}, 401)

    r = call(create_server(_ctx(handler, _pd())), "get_active_incidents", {})
    assert r.is_error
    assert "401" in text(r) and "credentials were refused" in text(r)
    assert "set-secret" in text(r) and TOKEN not in text(r)


def test_recorded_payload_pagerduty_429_is_retried_for_reads(pd_dir: Path) -> None:
    pd = FakePagerDuty(pd_dir)
    pd.fail_first_with_429 = True
    d = data(call(create_server(_ctx(pd, _pd())), "get_active_incidents", {}))
    assert len(d["incidents"]) == 2
    assert pd.requests[0].url == pd.requests[1].url  # the same page, asked again


def test_recorded_payload_pagerduty_writes_need_confirmation_and_send_from(pd_dir: Path) -> None:
    pd = FakePagerDuty(pd_dir)
    srv = create_server(_ctx(pd, _pd(), writes=True))
    names = set(tool_names(srv))
    assert {"acknowledge_alert", "add_incident_note"} <= names
    assert {"create_silence", "expire_silence"}.isdisjoint(names)  # no Alertmanager here
    refused = call(srv, "acknowledge_alert", {"incident_id": "PINCIDENT123"})
    assert refused.is_error and "was not performed" in text(refused)
    assert not [q for q in pd.requests if q.method != "GET"]
    d = data(call(srv, "acknowledge_alert", {"incident_id": "PINCIDENT123",
                                             "user": "lea@example.com"}, elicit=accept("lea")))
    assert d["incident"]["status"] == "acknowledged" and d["confirmed_by"] == "lea"
    (put,) = [q for q in pd.requests if q.method == "PUT"]
    assert put.headers["From"] == "lea@example.com"
    assert orjson.loads(put.content) == {"incident": {"type": "incident_reference",
                                                      "status": "acknowledged"}}
    d = data(call(srv, "add_incident_note", {"incident_id": "PINCIDENT123",
                                             "note": "rolling back"}, elicit=accept("lea")))
    (post,) = [q for q in pd.requests if q.method == "POST"]
    assert post.headers["From"] == "oncall@example.com"  # the backend's from_email
    assert d["note"]["note"] == "rolling back"
    assert [(x["tool"], x["outcome"]) for x in audit_records()] == [
        ("acknowledge_alert", "refused"), ("acknowledge_alert", "done"),
        ("add_incident_note", "done")]
    # Bad input is refused before anyone is asked, and audited as such.
    r = call(srv, "add_incident_note", {"incident_id": "PINCIDENT123", "note": "  "},
             elicit=accept())
    assert r.is_error and "the note is empty" in text(r)


def test_recorded_payload_alertmanager_and_pagerduty_together(pd_dir: Path, am_dir: Path) -> None:
    pd = FakePagerDuty(pd_dir)

    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.host == "am.test":
            name = "get_alerts.json" if req.url.path == "/api/v2/alerts" else \
                "get_alerts_groups.json"
            return httpx.Response(200, content=(am_dir / name).read_bytes())
        return pd(req)

    srv = create_server(_ctx(handler, _am(), _pd(), writes=True))
    assert {"create_silence", "expire_silence", "acknowledge_alert",
            "add_incident_note"} <= set(tool_names(srv))
    alerts = call(srv, "list_firing_alerts", {})
    assert len(data(alerts)["alerts"]) == 4
    incidents = data(call(srv, "get_active_incidents", {}))
    assert incidents["origin"] == "pagerduty" and len(incidents["incidents"]) == 2
    timeline = data(call(srv, "get_incident_timeline", {"incident_id": "PINCIDENT123"}))
    assert {e["source"] for e in timeline["entries"]} >= {"incident"}


def test_a_huge_answer_is_capped_with_a_clear_error(am_dir: Path) -> None:
    body = (am_dir / "get_alerts.json").read_bytes()
    small = AlertmanagerBackend(type="alertmanager", url=AM_URL, name="am",
                                limits={"max_response_bytes": len(body) // 2})
    r = call(create_server(_ctx(lambda req: httpx.Response(200, content=body), small)),
             "list_firing_alerts", {})
    assert r.is_error and "larger than" in text(r) and "max_response_bytes" in text(r)


def test_writes_are_sent_once_even_when_the_backend_fails(pd_dir: Path) -> None:
    """Reads retry 503s; a write never does (a retried POST could create two silences)."""
    sent: list[tuple[str, str]] = []

    def handler(req: httpx.Request) -> httpx.Response:
        sent.append((req.method, req.url.path))
        if req.method == "GET" and req.url.host == "am.test":
            return httpx.Response(200, content=b"[]")
        if req.method == "GET":
            return FakePagerDuty(pd_dir)(req)
        return httpx.Response(503, content=b"upstream unavailable")

    srv = create_server(_ctx(handler, _am(), _pd(), writes=True))
    for tool, args in (("create_silence", {"matchers": 'alertname="X"', "comment": "c"}),
                       ("expire_silence", {"silence_id": "00000000-0000-0000-0000-000000000000"}),
                       ("acknowledge_alert", {"incident_id": "PINCIDENT123"}),
                       ("add_incident_note", {"incident_id": "PINCIDENT123", "note": "n"})):
        r = call(srv, tool, args, elicit=accept())
        assert r.is_error and "503" in text(r), (tool, text(r))
    writes = [s for s in sent if s[0] != "GET"]
    assert writes == [("POST", "/api/v2/silences"),
                      ("DELETE", "/api/v2/silence/00000000-0000-0000-0000-000000000000"),
                      ("PUT", "/incidents/PINCIDENT123"), ("POST", "/incidents/PINCIDENT123/notes")]
    assert [x["outcome"] for x in audit_records()] == ["failed"] * 4
    sent.clear()
    flaky = {"n": 0}

    def read_handler(req: httpx.Request) -> httpx.Response:
        flaky["n"] += 1
        if flaky["n"] == 1:
            return httpx.Response(503, content=b"upstream unavailable")
        return httpx.Response(200, content=b"[]")

    d = data(call(create_server(_ctx(read_handler, _am())), "list_firing_alerts", {}))
    assert d["alerts"] == [] and flaky["n"] >= 2  # the read was tried again
