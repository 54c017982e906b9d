"""Kubernetes objects and Lists, Events of both APIs, and runbooks with front matter."""

from __future__ import annotations

import json
from pathlib import Path

K9S = "kubernetes/k9s_captured_objects"
ROUNDTRIP = "kubernetes/api_roundtrip_schema_complete"


def test_single_objects_from_real_clusters(fixtures: Path, load, q) -> None:
    con, report = load(*[(fixtures / K9S / f"{n}.json", "kubernetes")
                         for n in ("dp", "rs", "po", "ev", "hpa")])
    objs = {r["kind"]: r for r in q(con, "SELECT * FROM k8s_objects")}
    rs = objs["ReplicaSet"]
    assert (rs["namespace"], rs["name"], rs["owner_kind"], rs["owner_name"]) == (
        "icx", "icx-db-7d4b578979", "Deployment", "icx-db")
    assert rs["annotations_json"]["deployment.kubernetes.io/revision"] == "1"
    assert rs["created_at_ns"] == 1_563_080_057_000_000_000  # 2019-07-14T04:54:17Z
    assert objs["Deployment"]["uid"] == "6f6143bc-a5f3-11e9-990f-42010a800218"
    assert objs["Pod"]["raw_json"]["status"]["phase"] == "Running"
    assert q(con, "SELECT * FROM k8s_events") == [{
        "namespace": "default", "name": "hello-1567197780-mn4mv.15bfce150bd764dd",
        "type": "Normal", "reason": "Pulled",
        "message": 'Successfully pulled image "blang/busybox-bash"', "object_kind": "Pod",
        "object_name": "hello-1567197780-mn4mv", "first_ns": 1_567_197_785_000_000_000,
        "last_ns": 1_567_197_785_000_000_000, "count": 1, "source_component": "kubelet"}]
    assert report.skipped == 0


def test_events_of_both_apis_use_their_own_time_fields(fixtures: Path, load, q) -> None:
    con, _ = load((fixtures / ROUNDTRIP / "core.v1.Event.json", "kubernetes"),
                  (fixtures / ROUNDTRIP / "events.k8s.io.v1.Event.json", "kubernetes"))
    got = {r["message"]: r for r in q(con, "SELECT * FROM k8s_events")}
    core, new = got["messageValue"], got["noteValue"]
    assert (core["first_ns"], core["last_ns"], core["count"], core["source_component"]) == (
        1_136_077_261_000_000_000, 1_167_613_261_000_000_000, 8, "componentValue")
    assert (new["first_ns"], new["last_ns"], new["count"], new["source_component"]) == (
        1_009_846_861_000_002_000, 1_009_846_861_000_002_000, 1, "reportingControllerValue")
    assert (new["object_kind"], new["object_name"]) == ("kindValue", "nameValue")


def test_api_server_list_items_take_kind_from_the_list(fixtures: Path, tmp_path: Path, load, q,
                                                       w) -> None:
    # Built from the real objects (no upstream List response exists), as the API server
    # serves them: items without kind/apiVersion, the list's kind first.
    pods = []
    for name in ("po", "po_init"):
        obj = json.loads((fixtures / K9S / f"{name}.json").read_text())
        obj.pop("kind")
        obj.pop("apiVersion")
        pods.append(obj)
    pods[1]["metadata"]["name"] = "nginx-init"
    pod_list = {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "9"},
                "items": pods}
    kubectl = {"apiVersion": "v1", "items": [
        json.loads((fixtures / K9S / "dp.json").read_text()),
        json.loads((fixtures / K9S / "ev.json").read_text()), {"metadata": {}}],
        "kind": "List", "metadata": {}}
    con, report = load((w(tmp_path / "pods.json", json.dumps(pod_list)), "kubernetes"),
                       (w(tmp_path / "all.json", json.dumps(kubectl, indent=2)), "kubernetes"))
    got = q(con, "SELECT kind, api_version, name FROM k8s_objects ORDER BY kind, name")
    assert got == [{"kind": "Deployment", "api_version": "apps/v1", "name": "icx-db"},
                   {"kind": "Event", "api_version": "v1",
                    "name": "hello-1567197780-mn4mv.15bfce150bd764dd"},
                   {"kind": "Pod", "api_version": "v1", "name": "nginx"},
                   {"kind": "Pod", "api_version": "v1", "name": "nginx-init"}]
    raw = q(con, "SELECT raw_json FROM k8s_objects WHERE name = 'nginx'")[0]["raw_json"]
    assert raw["kind"] == "Pod" and raw["apiVersion"] == "v1"
    assert [i.reason for i in report.files[1].issues] == [
        "not a Kubernetes object: item #3 has no kind or metadata.name"]


def test_every_upstream_kubernetes_object_imports(fixtures: Path, load, q) -> None:
    files = sorted((fixtures / "kubernetes").glob("*/*.json"))
    con, report = load(*[(p, "kubernetes") for p in files])
    assert report.skipped == 0
    assert q(con, "SELECT count(*) AS n FROM k8s_objects")[0]["n"] == len(files)
    kinds = {r["kind"] for r in q(con, "SELECT DISTINCT kind FROM k8s_objects")}
    assert kinds == {"Pod", "Deployment", "ReplicaSet", "Event", "HorizontalPodAutoscaler",
                     "NodeMetrics", "PodMetrics"}


def test_runbooks_front_matter_and_titles(tmp_path: Path, load, q, w) -> None:
    w(tmp_path / "runbooks" / "db.md", """---
title: Database connection pool exhausted
alerts: [DBPoolExhausted, HighLatency]
services: user-api
owner: team-data
---
# Ignored heading

1. Check `pg_stat_activity`.
""")
    w(tmp_path / "runbooks" / "cert.md", """+++
alerts = ["CertificateExpiring"]
+++
# Certificate expiry

Renew with cert-manager.
""")
    w(tmp_path / "runbooks" / "plain.md", "Just notes.\n")
    w(tmp_path / "runbooks" / "broken.md", "---\nalerts: [unclosed\n---\n# Broken\n")
    files = [(p, "runbook") for p in sorted((tmp_path / "runbooks").glob("*.md"))]
    con, report = load(*files, root=tmp_path)
    got = {r["path"]: r for r in q(con, "SELECT * FROM runbooks")}
    db = got["runbooks/db.md"]
    assert db["title"] == "Database connection pool exhausted"
    assert db["alerts_json"] == ["DBPoolExhausted", "HighLatency"]
    assert db["services_json"] == ["user-api"]
    assert db["front_matter_json"]["owner"] == "team-data"
    assert db["body"].startswith("# Ignored heading") and "pg_stat_activity" in db["body"]
    cert = got["runbooks/cert.md"]
    assert (cert["title"], cert["alerts_json"]) == ("Certificate expiry", ["CertificateExpiring"])
    assert got["runbooks/plain.md"]["title"] == "plain"
    assert got["runbooks/broken.md"]["title"] == "Broken"
    reasons = {f.path: [i.reason.split(":")[0] for i in f.issues] for f in report.files}
    assert reasons["runbooks/broken.md"] == ["bad front matter", "no alerts"]
    assert reasons["runbooks/plain.md"] == ["no alerts"]
    assert reasons["runbooks/db.md"] == []
