"""The post-mortem of batch-table-lock (scenario (d)): its timeline comes from the data.

Checked against the bundle's [truth] and against the real tool outputs the lines cite:
the CronJob start at the onset, the alerts' real start and end times, the job failure
and the lock release before the alerts clear, the orders deploy red herring placed
before the onset and marked as ruled out; and never a line without evidence.
"""

from __future__ import annotations

import json
import re
from typing import Any

from obsbench.agent.model import Finding
from obsbench.reports import build_postmortem
from obsbench.reports.postmortem import NOT_RESOLVED
from obsbench_servers.common.timeutil import parse_rfc3339_ns

MIN = 60 * 10**9


def _payload_text(store: Any, ids: list[str]) -> str:
    return " ".join(json.dumps(store.get(i).payload) for i in ids)


def test_every_timeline_line_has_a_real_timestamp_from_its_evidence(btl: dict[str, Any]) -> None:
    pm = build_postmortem(btl["result"], btl["store"])
    assert len(pm.timeline.entries) >= 20
    for e in pm.timeline.entries:
        assert e.evidence, e
        assert all(i in btl["store"] for i in e.evidence)
        # The time is the one a cited tool returned (RFC 3339 text, or epoch ns for events).
        text = _payload_text(btl["store"], e.evidence)
        assert e.time[:-1] in text or str(e.time_ns) in text, (e.time, e.text)
    times = [e.time_ns for e in pm.timeline.entries]
    assert times == sorted(times)


def test_batch_table_lock_timeline_matches_truth(btl: dict[str, Any]) -> None:
    truth, store = btl["truth"], btl["store"]
    onset = parse_rfc3339_ns(truth["onset"])
    pm = build_postmortem(btl["result"], store)
    entries = pm.timeline.entries

    # The CronJob start is the trigger, at the onset, from the Kubernetes events.
    trig = pm.moments["trigger"]
    assert trig.time == truth["onset"]
    assert "CronJob/nightly-reconcile" in trig.text
    assert {store.get(i).tool for i in trig.evidence} == {"get_events"}

    # Impact starts within minutes after the onset, detection is the first paging alert.
    start = parse_rfc3339_ns(pm.moments["impact_start"].time or "")
    assert onset <= start < onset + 5 * MIN
    det = pm.moments["detection"]
    assert "HighErrorRate" in det.text
    assert onset < parse_rfc3339_ns(det.time or "") < onset + 10 * MIN

    # Alert lines: every HighErrorRate start/end is the alert's startsAt/endsAt in the data.
    firing = [e for e in entries if e.category == "alert-firing" and "HighErrorRate" in e.text]
    resolved = [e for e in entries if e.category == "alert-resolved"
                and "HighErrorRate" in e.text]
    assert {e.service for e in firing} == {"checkout", "orders", "frontend", "api-gateway"}
    assert len(resolved) == 4
    for e in firing + resolved:
        key = "starts_at" if e.category == "alert-firing" else "ends_at"
        assert f'"{key}": "{e.time}"' in _payload_text(store, e.evidence)

    # The job fails and the lock is released ~2.5 h after the onset, before the alerts clear.
    failed = [e for e in entries if e.category == "job-failed"]
    assert len(failed) == 1 and "nightly-reconcile" in failed[0].text
    release = [e for e in entries if e.category == "metric-change"
               and "sharerowexclusivelock" in e.text and e.text.endswith("1 -> 0")]
    take = [e for e in entries if e.category == "metric-change"
            and "sharerowexclusivelock" in e.text and e.text.endswith("0 -> 1")]
    assert len(release) == 1 and len(take) == 1
    assert onset <= take[0].time_ns <= onset + 2 * MIN
    held = release[0].time_ns - take[0].time_ns
    assert 140 * MIN <= held <= 160 * MIN  # "for ~2.5 h"
    last_clear = max(e.time_ns for e in resolved)
    assert failed[0].time_ns <= last_clear and release[0].time_ns <= last_clear

    # Resolution: resolved, when the last paging alert cleared, with the recovery signals.
    assert pm.status == "resolved"
    assert pm.moments["resolution"].time is not None
    assert parse_rfc3339_ns(pm.moments["resolution"].time) == last_clear
    res_text = " ".join(c.text for c in pm.resolution)
    assert "recovery signal" in res_text and "BackoffLimitExceeded" in res_text
    assert "1 -> 0" in res_text

    # The red herring: the orders deploy, at its real time, before the onset, ruled out.
    herring = next(h for h in truth["red_herrings"] if h.startswith("deploy orders"))
    when = re.search(r"rolled out at (\S+)", herring)
    assert when is not None
    deploy = [e for e in entries if e.category == "change" and e.service == "orders"]
    assert len(deploy) == 1
    assert deploy[0].time == when.group(1) and deploy[0].time_ns < onset
    assert deploy[0].note is not None and deploy[0].note.startswith("ruled out")
    # Seen by two tools, it is one line citing both.
    assert {store.get(i).tool for i in deploy[0].evidence} == {
        "get_recent_deployments", "get_incident_timeline"}
    # ... and it sits before the CronJob start in the timeline.
    assert entries.index(deploy[0]) < next(i for i, e in enumerate(entries)
                                           if e.category == "job-start")


def test_standing_noise_is_context_not_timeline(btl: dict[str, Any]) -> None:
    pm = build_postmortem(btl["result"], btl["store"])
    window_start = parse_rfc3339_ns(btl["result"].window["start"])
    assert pm.timeline.before_window
    assert all("CPUThrottlingHigh" in e.text and e.time_ns < window_start
               for e in pm.timeline.before_window)
    assert not any("CPUThrottlingHigh" in e.text for e in pm.timeline.entries)
    # An active alert's endsAt (an expiry in the future) is never read as a resolution.
    assert not any(e.category == "alert-resolved" and "KubeJobFailed" in e.text
                   for e in pm.timeline.entries)


def test_window_ending_mid_incident_is_not_resolved(btl: dict[str, Any]) -> None:
    import copy

    result = copy.deepcopy(btl["result"])
    result.window = {"start": result.window["start"], "end": "2026-03-18T03:00:00Z"}
    pm = build_postmortem(result, btl["store"])
    assert pm.status == NOT_RESOLVED
    assert pm.moments["resolution"].time is None
    assert pm.resolution[0].text.startswith(NOT_RESOLVED)
    assert "HighErrorRate" in pm.resolution[0].text
    assert NOT_RESOLVED in pm.duration
    assert all(e.time_ns <= parse_rfc3339_ns("2026-03-18T03:00:00Z")
               for e in pm.timeline.entries)


def test_markdown_and_json_carry_the_brief_structure(btl: dict[str, Any]) -> None:
    pm = build_postmortem(btl["result"], btl["store"])
    md = pm.to_markdown()
    heads = ["## Summary", "## Duration", "## Impact", "## Timeline (UTC)", "## Root cause",
             "## Contributing factors", "## Resolution", "## Prevention checklist",
             "## Lessons learned", "## Evidence"]
    positions = [md.index(h) for h in heads]
    assert positions == sorted(positions)
    rows = [line for line in md.splitlines() if line.startswith("| 2026-")]
    assert len(rows) == len(pm.timeline.entries)
    assert all(re.search(r"\[E\d+(, E\d+)*\] \|$", r) for r in rows)
    assert "- [ ] Batch jobs work in bounded batches" in md  # the database checklist
    assert "- [ ] Action from the investigation: terminate the blocking session" in md
    data = pm.to_dict()
    assert data["status"] == "resolved" and data["root_causes"][0]["service"] == \
        "nightly-reconcile"
    assert data["timeline"]["entries"][0]["evidence"]
    assert {r["id"] for r in data["evidence"]} == {e.id for e in btl["store"]}
    lesson_text = " ".join(c["text"] for c in data["lessons"])
    assert "none named nightly-reconcile" in lesson_text
    assert "Detection took" in lesson_text


def test_unresolved_citations_are_flagged_never_fact(btl: dict[str, Any]) -> None:
    import copy

    result = copy.deepcopy(btl["result"])
    result.answer += " Also the disk was full [E999]."
    result.root_causes[0].evidence.append("E998")
    result.contributing.append(Finding("made up", ["E997"]))
    pm = build_postmortem(result, btl["store"])
    assert pm.unresolved_citations == ["E999", "E998", "E997"]
    assert "E998" not in pm.root_causes[0]["evidence"]
    assert pm.root_causes[0]["unresolved"] == ["E998"]
    md = pm.to_markdown()
    assert "E998: no such evidence" in md and "E997: no such evidence" in md
    assert "**Unresolved citations:** E999, E998, E997" in md


def test_failed_calls_add_no_lines(btl: dict[str, Any]) -> None:
    from obsbench.evidence import Evidence
    from obsbench.reports import build_timeline

    events = next(e for e in btl["store"] if e.tool == "get_events")
    assert build_timeline([events]).entries
    failed = Evidence.from_tool_result("E1", "infra", "get_events", {}, events.payload,
                                       "error: boom", is_error=True)
    assert build_timeline([failed]).entries == []
