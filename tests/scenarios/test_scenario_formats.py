"""The files are what real exporters write: OpenMetrics promtool accepts, OTLP/JSON, JSONL logs
with both stack-trace styles, Kubernetes Lists, and counts that match the files exactly."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from pathlib import Path

from scenario_data import jsonl, k8s_items, parse_om, spans

from obsbench.scenarios import GenerationResult

TYPE = re.compile(r"^# TYPE (\S+) (counter|gauge|histogram|summary|unknown)$")


def test_openmetrics_files_are_backfillable(bundle: Callable[..., GenerationResult]) -> None:
    result = bundle("bad-deploy-db-pool")
    counts = result.samples_by_file()
    assert len(counts) >= 14
    for rel, expected in counts.items():
        path = result.out_dir / rel
        lines = path.read_text().splitlines()
        assert lines[-1] == "# EOF"
        families: list[str] = []
        current = None
        samples = 0
        last_ts: dict[str, int] = {}
        for line in lines[:-1]:
            m = TYPE.match(line)
            if m:
                assert m.group(1) not in families, f"{rel}: family {m.group(1)} interleaved"
                families.append(m.group(1))
                current = m.group(1)
                if m.group(2) == "counter":
                    assert not current.endswith("_total")
                continue
            if line.startswith("#"):
                continue
            samples += 1
            name = line.split("{", 1)[0].split(" ", 1)[0]
            assert current and name.startswith(current), f"{rel}: {name} outside its family"
            series, _, _rest = line.rpartition("} ") if "}" in line else line.partition(" ")
            ts = int(line.rsplit(" ", 1)[1])
            assert 1.7e9 < ts < 1.9e9, "timestamps are epoch seconds"
            assert last_ts.get(series, 0) < ts, f"{rel}: samples of a series out of order"
            last_ts[series] = ts
        assert samples == expected, rel


def test_counters_never_go_backwards_except_restarts(bundle_dir: Callable[..., Path]) -> None:
    out = bundle_dir("memory-leak-oom")
    series = parse_om(out / "metrics" / "inventory.om", {"http_requests_total"})
    resets = 0
    for (_, _labels), pts in series.items():
        for (_, a), (_, b) in itertools.pairwise(pts):
            if b < a:
                resets += 1
    assert resets > 0, "OOM-killed containers restart their counters"
    kube = parse_om(out / "metrics" / "kube-state-metrics.om",
                    {"kube_pod_container_status_restarts_total"})
    for pts in kube.values():
        assert all(b >= a for (_, a), (_, b) in itertools.pairwise(pts))


def test_histograms_are_consistent(bundle_dir: Callable[..., Path]) -> None:
    out = bundle_dir("external-dependency-slowdown")
    s = parse_om(out / "metrics" / "payment.om", {"http_server_requests_seconds_bucket",
                                                   "http_server_requests_seconds_count"})
    by_series: dict[tuple, dict[str, list]] = {}
    for (name, labels), pts in s.items():
        d = dict(labels)
        le = d.pop("le", None)
        key = tuple(sorted(d.items()))
        by_series.setdefault(key, {})[le or name] = pts
    for buckets in by_series.values():
        special = ("+Inf", "http_server_requests_seconds_count")
        les = sorted((k for k in buckets if k not in special),
                     key=float)
        inf = buckets["+Inf"]
        assert buckets["http_server_requests_seconds_count"] == inf
        for k in range(len(inf)):
            vals = [buckets[le][k][1] for le in les] + [inf[k][1]]
            assert vals == sorted(vals), "buckets are cumulative in le"


def test_traces_are_otlp_trees(bundle_dir: Callable[..., Path]) -> None:
    out = bundle_dir("bad-deploy-db-pool")
    first = json.loads((out / "traces" / "otel-collector.otlp.json").read_text().split("\n")[0])
    assert set(first) == {"resourceSpans"}
    by_trace: dict[str, dict[str, dict]] = {}
    services: dict[str, str] = {}
    for svc, sp in spans(out):
        assert re.fullmatch(r"[0-9a-f]{32}", sp["traceId"])
        assert re.fullmatch(r"[0-9a-f]{16}", sp["spanId"])
        by_trace.setdefault(sp["traceId"], {})[sp["spanId"]] = sp
        services[sp["spanId"]] = svc
    skewed = 0
    kinds = set()
    for tr in by_trace.values():
        roots = [s for s in tr.values() if not s["parentSpanId"]]
        assert len(roots) == 1 and services[roots[0]["spanId"]] == "api-gateway"
        for sp in tr.values():
            kinds.add(sp["kind"])
            if sp["parentSpanId"]:
                parent = tr[sp["parentSpanId"]]
                if int(sp["startTimeUnixNano"]) < int(parent["startTimeUnixNano"]):
                    skewed += 1
    assert kinds == {2, 3, 4, 5}
    assert skewed > 0, "a few traces carry clock skew between services"
    db = [sp for svc, sp in spans(out) if any(a["key"] == "db.system" for a in sp["attributes"])]
    assert {next(a["value"]["stringValue"] for a in sp["attributes"] if a["key"] == "db.system")
            for sp in db} == {"postgresql", "redis"}
    errors = [sp for _, sp in spans(out) if sp["status"].get("code") == 2]
    assert errors and all(sp["events"][0]["name"] == "exception" for sp in errors
                          if sp.get("events"))


def test_logs_formats_and_stack_traces(bundle_dir: Callable[..., Path]) -> None:
    out = bundle_dir("bad-deploy-db-pool")
    py = list(jsonl(out / "logs" / "user-api.jsonl"))
    for r in py:
        assert {"ts", "service", "message", "pod"} <= set(r)
    # Python tracebacks arrive one record per line (as stdout collected line by line).
    idx = [k for k, r in enumerate(py) if r["message"] == "Traceback (most recent call last):"]
    assert idx
    k = idx[0]
    assert py[k + 1]["message"].startswith('  File "') and "level" not in py[k + 1]
    finals = []
    for k in idx:
        j = k + 1
        while py[j]["message"].startswith("  "):
            assert py[j]["pod"] == py[k]["pod"] and "level" not in py[j]
            j += 1
        assert j - k >= 3
        assert re.match(r"[a-zA-Z_.]+(Error|Exception): ", py[j]["message"])
        finals.append(py[j]["message"])
    assert any(m.startswith("sqlalchemy.exc.TimeoutError: QueuePool limit") for m in finals)
    # Spring logs a Java stack trace inside one record.
    out_d = bundle_dir("batch-table-lock")
    java = [r for r in jsonl(out_d / "logs" / "orders.jsonl") if r.get("level") == "error"]
    assert java and all("\n\tat " in r["message"] for r in java)
    # Go (zap) errors carry their stack in the record; Node prints its stack line by line.
    go = [r for r in jsonl(out / "logs" / "checkout.jsonl") if r.get("level") == "error"]
    assert go and all("\n" in r["message"] and "error" in r for r in go)
    node = [r["message"] for r in jsonl(out / "logs" / "frontend.jsonl")]
    assert any(m.startswith("    at ") for m in node)
    # .NET logs go out as OTLP with the exception as attributes.
    otlp = (out / "logs" / "notification.otlp.json").read_text().splitlines()
    doc = json.loads(otlp[0])
    assert doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["severityText"]
    trace_ids = {sp["traceId"] for _, sp in spans(out)}
    assert sum(1 for r in py if r.get("trace_id") in trace_ids) > 100


def test_kubernetes_lists(bundle_dir: Callable[..., Path]) -> None:
    out = bundle_dir("bad-deploy-db-pool")
    for name, kind in (("deployments", "Deployment"), ("replicasets", "ReplicaSet"),
                       ("pods", "Pod"), ("events", "Event"),
                       ("horizontalpodautoscalers", "HorizontalPodAutoscaler"),
                       ("configmaps", "ConfigMap"), ("statefulsets", "StatefulSet")):
        items = k8s_items(out, name)
        assert items and {i["kind"] for i in items} == {kind}
        for i in items:
            assert i["metadata"]["name"] and i["metadata"]["uid"]
    pods = k8s_items(out, "pods")
    names = {p["metadata"]["name"] for p in pods}
    assert any(re.fullmatch(r"user-api-[bcdfghjklmnpqrstvwxz2456789]{9,10}-"
                            r"[bcdfghjklmnpqrstvwxz2456789]{5}", n) for n in names)
    rs = {r["metadata"]["name"]: r for r in k8s_items(out, "replicasets")}
    for p in pods:
        owner = p["metadata"]["ownerReferences"][0]
        if owner["kind"] == "ReplicaSet":
            assert owner["name"] in rs
            assert p["metadata"]["labels"]["pod-template-hash"] == \
                rs[owner["name"]]["metadata"]["labels"]["pod-template-hash"]
    for r in rs.values():
        ann = r["metadata"]["annotations"]
        assert ann["deployment.kubernetes.io/revision"].isdigit()
        assert ann["kubernetes.io/change-cause"]
    hpa = k8s_items(out, "horizontalpodautoscalers")[0]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert {c["type"] for c in hpa["status"]["conditions"]} == {"AbleToScale", "ScalingActive",
                                                                 "ScalingLimited"}
    reasons = {e["reason"] for e in k8s_items(out, "events")}
    assert {"ScalingReplicaSet", "Pulled", "Started", "Scheduled"} <= reasons


def test_runbooks_have_front_matter(bundle_dir: Callable[..., Path]) -> None:
    out = bundle_dir("bad-deploy-db-pool")
    books = sorted((out / "runbooks").glob("*.md"))
    assert len(books) >= 8
    alerts = set()
    for b in books:
        text = b.read_text()
        m = re.match(r"---\nalerts: \[([^\]]+)\]\n", text)
        assert m, b.name
        alerts |= {a.strip() for a in m.group(1).split(",")}
    fired = {a["labels"]["alertname"] for a in
             json.loads((out / "alerts" / "alertmanager.json").read_text())}
    assert fired - {"NightlyReconcileBacklogHigh"} <= alerts
