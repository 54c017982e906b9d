"""The Kubernetes adapter against upstream objects served as an API (see k8s_fake.py).

Recorded payloads: the k9s captures and the k8s.io/api round-trip objects in
../shared/fixtures/kubernetes, read in place. List envelopes, the CrashLoopBackOff /
OOMKilled container status and the Status error bodies are written from the
documented shapes (tests/infra/data/README.md), as ../shared/README.md asks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from k8s_fake import NS, SECRET_VALUE, TOKEN, FakeCluster, kubeconfig
from mcp import Client

from obsbench_servers.common.backend import KubernetesBackend
from obsbench_servers.common.context import ServerContext
from obsbench_servers.common.timeutil import parse_rfc3339_ns
from obsbench_servers.infra import autoscaling, changes, status
from obsbench_servers.infra.k8s import event_from_object, pod_summary
from obsbench_servers.infra.server import create_server
from obsbench_servers.infra.workloads import Workload


def _call(cluster: FakeCluster, tmp_path: Path, tool: str, args: dict[str, Any],
          at: str | None = None, **options: Any) -> Any:
    import anyio

    backend = KubernetesBackend(type="kubernetes", kubeconfig=kubeconfig(tmp_path),
                                context="prod-ro", name="prod")
    ctx = ServerContext("infra", [backend], profile="rec",
                        at_ns=parse_rfc3339_ns(at) if at else None,
                        options={"transport": httpx.MockTransport(cluster), **options})

    async def go() -> Any:
        async with Client(create_server(ctx)) as c:
            return await c.call_tool(tool, args)

    return anyio.run(go)


def _text(r: Any) -> str:
    return "\n".join(getattr(c, "text", "") for c in r.content)


def test_service_status_recorded_payload_crashloop_oomkilled(fixtures: Path,
                                                             tmp_path: Path) -> None:
    cluster = FakeCluster(fixtures)
    # "now" pinned to just after the captured cluster's events (2019).
    r = _call(cluster, tmp_path, "get_service_status", {"service": "icx-db"},
              at="2019-07-14T06:00:00Z")
    assert not r.is_error, _text(r)
    d = r.structured_content["data"]
    assert d["workload"] == {"kind": "Deployment", "name": "icx-db", "namespace": NS}
    assert d["replicas"]["desired"] == 2 and d["replicas"]["ready"] == 1
    assert d["waiting_reasons"] == {"CrashLoopBackOff": 1}
    assert d["last_termination_reasons"] == {"OOMKilled (exit 137)": 1}
    assert [p["name"] for p in d["pods"]] == ["icx-db-5f8c9d7b6c-x2k9q", "icx-db-5f8c9d7b6c-7hq2m"]
    assert d["pods"][0]["revision"] == "2" and d["pods"][0]["restarts"] == 7
    assert d["images"] == {"icx-db": "postgres:9.6-alpine"}
    assert not d["healthy"]
    text = _text(r)
    assert "CrashLoopBackOff, last OOMKilled (exit 137)" in text
    assert "condition Available=False (MinimumReplicasUnavailable)" in text
    assert "BackOff x12" in text
    pods_req = next(q for q in cluster.requests if q.url.path.endswith("/pods"))
    assert pods_req.url.path == f"/api/v1/namespaces/{NS}/pods"
    assert pods_req.url.params["labelSelector"] == "app=icx-db"
    assert all(q.headers["Authorization"] == f"Bearer {TOKEN}" for q in cluster.requests)
    assert TOKEN not in text


def test_recorded_payload_forbidden_resource_names_the_permission_and_returns_the_rest(
        fixtures: Path, tmp_path: Path) -> None:
    cluster = FakeCluster(fixtures, forbidden={"/api/v1/events",
                                               f"/api/v1/namespaces/{NS}/events"})
    r = _call(cluster, tmp_path, "get_service_status", {"service": "icx-db"})
    assert not r.is_error, _text(r)
    sc = r.structured_content
    assert sc["data"]["waiting_reasons"] == {"CrashLoopBackOff": 1}  # the rest is there
    missing = sc["data"]["missing_permissions"]
    assert {(m["verb"], m["resource"], m["namespace"]) for m in missing} == {
        ("list", "events", "*"), ("list", "events", NS)}
    assert any(f"missing permission: list events in namespace {NS}" in w
               for w in sc["warnings"])
    assert "cannot list resource" in missing[0]["message"]  # the API server's own words


def test_recorded_payload_cluster_wide_refusal_falls_back_to_the_context_namespace(
        fixtures: Path, tmp_path: Path) -> None:
    cluster = FakeCluster(fixtures, forbidden={"/apis/apps/v1/deployments",
                                               "/apis/apps/v1/statefulsets",
                                               "/apis/apps/v1/daemonsets"})
    r = _call(cluster, tmp_path, "get_service_status", {"service": "icx-db"})
    assert not r.is_error, _text(r)
    warnings = r.structured_content["warnings"]
    assert any("cannot list deployments in all namespaces; showing namespace 'icx'" in w
               for w in warnings)
    assert f"/apis/apps/v1/namespaces/{NS}/deployments" in {q.url.path for q in cluster.requests}
    # The context's namespace, not the kubeconfig's current-context's (prod-ro was chosen).
    assert "elsewhere" not in " ".join(q.url.path for q in cluster.requests)


def test_recorded_payload_expired_token_is_a_clear_error(fixtures: Path, tmp_path: Path) -> None:
    r = _call(FakeCluster(fixtures, unauthorized=True), tmp_path, "get_events", {})
    assert r.is_error
    text = _text(r)
    assert "401" in text and "expired" in text and TOKEN not in text


def test_recorded_payload_unknown_service_suggests_close_names(
        fixtures: Path, tmp_path: Path) -> None:
    r = _call(FakeCluster(fixtures), tmp_path, "get_service_status", {"service": "icx-bd"})
    assert r.is_error and "did you mean 'icx-db'" in _text(r)
    r = _call(FakeCluster(fixtures), tmp_path, "get_service_status",
              {"service": "icx-db", "namespace": "../kube-system"})
    assert r.is_error and "not a valid Kubernetes namespace" in _text(r)


def test_recorded_payload_rollouts_and_config_edits_never_show_secret_values(
        fixtures: Path, tmp_path: Path) -> None:
    cluster = FakeCluster(fixtures)
    r = _call(cluster, tmp_path, "get_recent_deployments",
              {"start": "2019-07-14T00:00:00Z", "end": "2019-07-15T00:00:00Z"})
    assert not r.is_error, _text(r)
    d = r.structured_content["data"]
    kinds = [(c["kind"], c.get("workload") or c.get("name")) for c in d["changes"]]
    assert kinds == [("rollout", "icx-db"), ("configmap", "icx-db-config"),
                     ("secret", "icx-creds"), ("rollout", "icx-db")]
    newest = d["changes"][0]
    assert newest["revision"] == 2 and newest["change_kinds"] == ["image"]
    assert newest["images"] == [{"container": "icx-db", "from": "postgres:9.2-alpine",
                                 "to": "postgres:9.6-alpine"}]
    assert newest["change_cause"] == "bump postgres to 9.6" and newest["current"]
    assert newest["who"] == "kubectl-set" and newest["who_source"] == "managedFields"
    secret = next(c for c in d["changes"] if c["kind"] == "secret")
    assert secret["keys"] == [] and secret["preview"] is None and secret["who"] == \
        "vault-injector"
    assert secret["used_by"] == ["icx-db"]  # the Deployment's secretKeyRef
    dumped = orjson.dumps(r.structured_content).decode() + _text(r)
    assert SECRET_VALUE not in dumped
    secrets_req = next(q for q in cluster.requests if q.url.path.endswith("/secrets"))
    assert "as=PartialObjectMetadataList" in secrets_req.headers["Accept"]


def test_recorded_payload_pagination_follows_continue(fixtures: Path, tmp_path: Path) -> None:
    cluster = FakeCluster(fixtures, page_size=1)
    r = _call(cluster, tmp_path, "get_service_status", {"service": "icx-db"})
    assert len(r.structured_content["data"]["pods"]) == 2
    pod_pages = [q for q in cluster.requests if q.url.path.endswith("/pods")]
    assert [q.url.params.get("continue") for q in pod_pages] == [None, "1"]


def test_recorded_payload_usage_from_metrics_server_without_a_metrics_backend(
        fixtures: Path, tmp_path: Path) -> None:
    r = _call(FakeCluster(fixtures), tmp_path, "get_resource_utilization", {"service": "icx-db"})
    assert not r.is_error, _text(r)
    (c,) = r.structured_content["data"]["containers"]
    assert c["current"] == {"pods": "2", "cpu_max": "250m", "memory_max": "480Mi"}
    assert "recommendation" not in c
    assert any("no metrics backend" in w for w in r.structured_content["warnings"])


def test_recorded_payload_schema_complete_objects_are_read(fixtures: Path) -> None:
    """The k8s.io/api round-trip objects (every field set, placeholder values) parse."""
    base = fixtures / "kubernetes" / "api_roundtrip_schema_complete"

    def load(name: str) -> dict[str, Any]:
        return orjson.loads((base / name).read_bytes())  # type: ignore[no-any-return]

    pod = pod_summary(load("core.v1.Pod.json"))
    assert pod["containers"] and pod["containers"][0]["name"] == "nameValue"
    core = event_from_object(load("core.v1.Event.json"))
    new = event_from_object(load("events.k8s.io.v1.Event.json"))
    assert core.reason == new.reason == "reasonValue"
    assert new.message == "noteValue" and core.message == "messageValue"
    assert new.count > 0 and new.first_ns is not None
    for hpa in ("autoscaling.v2.HorizontalPodAutoscaler.json",
                "autoscaling.v1.HorizontalPodAutoscaler.json"):
        h = autoscaling.hpa_summary(load(hpa))
        assert h["metrics"], hpa
    dep = load("apps.v1.Deployment.json")
    w = Workload("Deployment", dep["metadata"]["name"], dep["metadata"]["namespace"], dep)
    assert status.replica_counts(w)["desired"] == dep["spec"]["replicas"]
    rs = load("apps.v1.ReplicaSet.json")
    diff = changes.diff_templates(rs["spec"]["template"], dep["spec"]["template"])
    assert set(diff) == {"images", "config_hashes", "resources", "env", "probes"}


@pytest.mark.parametrize("tool", ["get_autoscaling_events", "check_health_checks"])
def test_recorded_payload_other_tools_work_on_the_live_shape(fixtures: Path, tmp_path: Path,
                                                             tool: str) -> None:
    r = _call(FakeCluster(fixtures), tmp_path, tool, {"service": "icx-db", "window": "100000h"})
    assert not r.is_error, _text(r)
    if tool == "check_health_checks":
        risks = r.structured_content["data"]["containers"][0]["findings"]
        assert any("no readiness probe" in f for f in risks)
    else:
        assert "has no HorizontalPodAutoscaler" in r.structured_content["summary"]


def test_recorded_payload_alert_timeline_takes_changes_from_the_cluster(
        fixtures: Path, tmp_path: Path) -> None:
    """With ``options["infra"]`` (the profile's cluster), an Alertmanager group's timeline
    includes the cluster's rollouts and Warning events of the same window."""
    import anyio

    from obsbench_servers.alerts.server import create_server as alerts_server
    from obsbench_servers.common.backend import AlertmanagerBackend

    cluster = FakeCluster(fixtures)
    alerts = [{"labels": {"alertname": "KubePodCrashLooping", "severity": "critical",
                          "namespace": NS, "pod": "icx-db-5f8c9d7b6c-x2k9q"},
               "annotations": {"summary": "icx-db is crash looping"},
               "startsAt": "2019-07-14T05:42:00Z", "endsAt": "2019-07-14T07:00:00Z",
               "updatedAt": "2019-07-14T05:43:00Z", "fingerprint": "0123456789abcdef",
               "receivers": [{"name": "pager"}],
               "status": {"state": "active", "silencedBy": [], "inhibitedBy": []}}]
    groups = [{"labels": {"alertname": "KubePodCrashLooping"}, "receiver": {"name": "pager"},
               "alerts": alerts}]

    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.host == "am.test":
            body = groups if req.url.path.endswith("/groups") else alerts
            return httpx.Response(200, content=orjson.dumps(body))
        return cluster(req)

    k8s = KubernetesBackend(type="kubernetes", kubeconfig=kubeconfig(tmp_path),
                            context="prod-ro")
    ctx = ServerContext("alerts", [AlertmanagerBackend(type="alertmanager",
                                                       url="http://am.test:9093")],
                        at_ns=parse_rfc3339_ns("2019-07-14T06:00:00Z"),
                        options={"transport": httpx.MockTransport(handler), "infra": k8s})

    async def go() -> Any:
        async with Client(alerts_server(ctx)) as c:
            (inc,) = (await c.call_tool("get_active_incidents", {})).structured_content[
                "data"]["incidents"]
            return await c.call_tool("get_incident_timeline", {"incident_id": inc["id"]})

    r = anyio.run(go)
    assert not r.is_error, _text(r)
    entries = r.structured_content["data"]["entries"]
    order = [(e["source"], e["kind"]) for e in entries]
    assert order.index(("change", "rollout")) < order.index(("alert", "firing"))
    assert ("kubernetes", "BackOff") in order
    rollout = next(e for e in entries if e["kind"] == "rollout" and e["detail"]["revision"] == 2)
    assert rollout["time"] == "2019-07-14T05:30:00Z" and "postgres:9.6" in rollout["summary"]


def test_recorded_payload_list_cut_at_the_limit_is_reported(fixtures: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    """A list stopped at MAX_ITEMS says so in the warnings (never a silent cut)."""
    from obsbench_servers.infra.backends import kubernetes

    monkeypatch.setattr(kubernetes, "MAX_ITEMS", 1)
    cluster = FakeCluster(fixtures, page_size=1)
    r = _call(cluster, tmp_path, "get_service_status", {"service": "icx-db"})
    assert not r.is_error, _text(r)
    assert [p["name"] for p in r.structured_content["data"]["pods"]] == [
        "icx-db-5f8c9d7b6c-x2k9q"]
    assert any(f"pods in namespace '{NS}': stopped after 1 objects (limit 1)" in w
               for w in r.structured_content["warnings"]), r.structured_content["warnings"]
    # Uncut lists say nothing.
    monkeypatch.setattr(kubernetes, "MAX_ITEMS", 5_000)
    full = _call(FakeCluster(fixtures, page_size=1), tmp_path, "get_service_status",
                 {"service": "icx-db"})
    assert not any("stopped after" in w for w in full.structured_content["warnings"])


@pytest.mark.parametrize(("response", "expect"), [
    (httpx.Response(200, content=b"<!DOCTYPE html><html><body>Sign in</body></html>",
                    headers={"Content-Type": "text/html"}), "HTML page instead of JSON"),
    (httpx.Response(200, content=b'{"kind": "DeploymentList", "items": ['),
     "not JSON"),
    (httpx.Response(200, content=b'{"kind": "Status"}'), "answered no items list"),
    (httpx.Response(429, content=b'{"kind":"Status","code":429}',
                    headers={"Retry-After": "120"}), "429"),
    (httpx.Response(200, content=b'{"items": [' + b'{"metadata": {}},' * 20_000 + b'{}]}'),
     "larger than"),
    (None, "connection refused"),
], ids=["html", "truncated", "no-items", "429-long-retry", "huge", "refused"])
def test_recorded_payload_bad_api_answers_are_clear_errors_and_the_server_keeps_serving(
        fixtures: Path, tmp_path: Path, response: httpx.Response | None, expect: str) -> None:
    import anyio

    cluster = FakeCluster(fixtures)
    broken = {"on": True}

    def handler(req: httpx.Request) -> httpx.Response:
        if not broken["on"]:
            return cluster(req)
        if response is None:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=req)
        return response

    backend = KubernetesBackend(type="kubernetes", kubeconfig=kubeconfig(tmp_path),
                                context="prod-ro", name="prod",
                                limits={"max_response_bytes": 200_000})
    ctx = ServerContext("infra", [backend], profile="rec",
                        options={"transport": httpx.MockTransport(handler)})

    async def go() -> tuple[Any, Any]:
        async with Client(create_server(ctx)) as c:
            bad = await c.call_tool("get_service_status", {"service": "icx-db"})
            broken["on"] = False
            good = await c.call_tool("get_service_status", {"service": "icx-db"})
            return bad, good

    bad, good = anyio.run(go)
    assert bad.is_error and expect in _text(bad), _text(bad)
    assert "hint:" in _text(bad) and TOKEN not in _text(bad)
    assert not good.is_error and good.structured_content["data"]["workload"]["name"] == "icx-db"
