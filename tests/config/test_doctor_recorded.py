"""`obsbench doctor` for backends that cannot run here, over httpx.MockTransport.

"recorded-payload" tests serve upstream bodies from ../shared/fixtures in place;
"documented-payload" tests serve bodies written from the vendor's documented
response shape (no upstream sample exists), and say so.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from config_support import PKI, SECRET

from obsbench.cli.doctor_cmd import run_doctor
from obsbench_servers.common.backend import BackendBase

Handler = Callable[[httpx.Request], httpx.Response]


def _json(path: Path) -> Any:
    return json.loads(path.read_text())


def _doctor(
    capsys: pytest.CaptureFixture[str],
    routes: dict[tuple[str, str], Any],
    seen: list[httpx.Request] | None = None,
    profile: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """Run doctor with every backend answered from ``routes`` ((host, path) -> body/response)."""

    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        key = (request.url.host, request.url.path)
        body = routes.get(key)
        if body is None:
            return httpx.Response(404, text="404 page not found")
        if isinstance(body, httpx.Response):
            return body
        if isinstance(body, str):
            return httpx.Response(200, text=body)
        return httpx.Response(200, json=body)

    def transport_for(backend: BackendBase) -> httpx.BaseTransport:
        return httpx.MockTransport(handler)

    code = run_doctor(profile, json_out=True, timeout=5, transport_for=transport_for)
    return code, json.loads(capsys.readouterr().out)


def test_prometheus_family_recorded_payload(
    fixtures: Path,
    write_config: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_config("""
[profiles.p.metrics]
type = "prometheus"
url = "http://prom:9090"
[[profiles.p.alerts]]
type = "prometheus"
url = "http://thanos:10902"
[profiles.m.metrics]
type = "mimir"
url = "http://mimir:8080/prometheus"
tenant = "team-a"
""")
    routes = {
        ("prom", "/api/v1/status/buildinfo"): _json(
            fixtures / "prometheus/docs_status_buildinfo.json"
        ),
        ("thanos", "/api/v1/status/buildinfo"): _json(
            fixtures / "prometheus/captured_prometheus_2.42.0/status_buildinfo.json"
        ),
        # This Mimir serves no buildinfo: doctor falls back to a trivial query.
        ("mimir", "/prometheus/api/v1/query"): _json(
            fixtures / "prometheus/captured_prometheus_2.42.0/query_scalar.json"
        ),
    }
    code, doc = _doctor(capsys, routes, profile="p")
    assert code == 0
    assert [c["version"] for c in doc["checks"]] == ["2.13.1", "2.42.0+ds"]
    seen: list[httpx.Request] = []
    code, doc = _doctor(capsys, routes, seen, profile="m")
    assert code == 0
    check = doc["checks"][0]
    assert check["version"] is None and "buildinfo is not served" in check["detail"]
    assert [r.url.path for r in seen] == [
        "/prometheus/api/v1/status/buildinfo",
        "/prometheus/api/v1/query",
    ]
    assert all(r.headers["x-scope-orgid"] == "team-a" for r in seen)


def test_alertmanager_recorded_payload(
    fixtures: Path,
    write_config: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_config('[[profiles.p.alerts]]\ntype = "alertmanager"\nurl = "http://am:9093"\n')
    status = _json(fixtures / "alertmanager/captured_alertmanager_0.25.0/get_status.json")
    code, doc = _doctor(capsys, {("am", "/api/v2/status"): status})
    assert code == 0
    check = doc["checks"][0]
    assert (check["version"], check["detail"]) == ("0.25.0", "cluster disabled")


def test_victoriametrics_documented_payload_version_from_metrics(
    write_config: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_config('[profiles.p.metrics]\ntype = "victoriametrics"\nurl = "http://vm:8428"\n')
    metrics = (
        'vm_app_version{version="victoria-metrics-20240301-v1.99.0", '
        'short_version="v1.99.0"} 1\nvm_app_uptime_seconds 12\n'
    )
    routes = {
        ("vm", "/api/v1/status/buildinfo"): {"status": "success", "data": {}},
        ("vm", "/metrics"): metrics,
    }
    code, doc = _doctor(capsys, routes)
    assert code == 0 and doc["checks"][0]["version"] == "v1.99.0"


def test_loki_documented_payload(
    write_config: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Body from the Loki HTTP API docs' /loki/api/v1/status/buildinfo example."""
    write_config('[profiles.p.logs]\ntype = "loki"\nurl = "http://loki:3100"\ntenant = "t1"\n')
    body = {
        "version": "2.9.7",
        "revision": "efc4d2f009",
        "branch": "HEAD",
        "buildUser": "root@707324a28e25",
        "buildDate": "2024-04-10T09:07:00Z",
        "goVersion": "",
    }
    seen: list[httpx.Request] = []
    code, doc = _doctor(capsys, {("loki", "/loki/api/v1/status/buildinfo"): body}, seen)
    assert code == 0 and doc["checks"][0]["version"] == "2.9.7"
    assert seen[0].headers["x-scope-orgid"] == "t1"


def test_elasticsearch_and_opensearch_documented_payload_with_recorded_404(
    fixtures: Path,
    write_config: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GET / bodies from the Elasticsearch/OpenSearch docs; the 404 is an upstream fixture."""
    write_config("""
[profiles.es.logs]
type = "elasticsearch"
url = "https://es:9200"
index = "logs-*"
auth = { kind = "api_key", secret = "env:ES_KEY" }
[profiles.mislabelled.logs]
type = "elasticsearch"
url = "https://os:9200"
index = "students1"
""")
    es_root = {
        "name": "es-1",
        "cluster_name": "prod",
        "version": {"number": "8.13.4", "build_flavor": "default", "lucene_version": "9.10.0"},
        "tagline": "You Know, for Search",
    }
    os_root = {
        "name": "os-1",
        "cluster_name": "prod",
        "version": {"distribution": "opensearch", "number": "2.13.0", "lucene_version": "9.10.0"},
        "tagline": "The OpenSearch Project: https://opensearch.org/",
    }
    not_found = httpx.Response(
        404, json=_json(fixtures / "opensearch/docs_error_404_index_not_found.json")
    )
    routes = {
        ("es", "/"): es_root,
        ("es", "/logs-*/_count"): {"count": 1234, "_shards": {}},
        ("os", "/"): os_root,
        ("os", "/students1/_count"): not_found,
    }
    monkeypatch.setenv("ES_KEY", SECRET)
    seen: list[httpx.Request] = []
    code, doc = _doctor(capsys, routes, seen, profile="es")
    assert code == 0
    check = doc["checks"][0]
    assert (check["status"], check["version"]) == ("ok", "8.13.4")
    assert check["detail"] == "elasticsearch 8.13.4, 1,234 docs in logs-*"
    assert seen[0].headers["authorization"] == f"ApiKey {SECRET}"
    code, doc = _doctor(capsys, routes, profile="mislabelled")
    check = doc["checks"][0]
    assert code == 0 and check["status"] == "warn" and check["version"] == "2.13.0"
    assert any("set type = 'opensearch'" in w for w in check["warnings"])
    assert any("no index matches 'students1'" in w for w in check["warnings"])


def test_jaeger_recorded_payload_v3_fallback(
    fixtures: Path,
    write_config: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Jaeger main removed GET /api/services; doctor falls back to /api/v3/services."""
    write_config('[profiles.p.traces]\ntype = "jaeger"\nurl = "http://jaeger:16686"\n')
    code, doc = _doctor(
        capsys, {("jaeger", "/api/v3/services"): _json(fixtures / "jaeger/api_v3_GetServices.json")}
    )
    assert code == 0
    check = doc["checks"][0]
    assert check["data"] == {"services": 1, "api": "v3"} and check["version"] is None
    # The v1 shape (documented in the fixtures' PROVENANCE: no upstream sample exists).
    code, doc = _doctor(
        capsys,
        {
            ("jaeger", "/api/services"): {
                "data": ["frontend", "checkout"],
                "total": 2,
                "limit": 0,
                "offset": 0,
                "errors": None,
            }
        },
    )
    assert doc["checks"][0]["data"] == {"services": 2, "api": "v1"}


def test_tempo_documented_payload(
    write_config: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    write_config('[profiles.p.traces]\ntype = "tempo"\nurl = "http://tempo:3200"\n')
    body = {
        "version": "2.4.1",
        "revision": "f13d6b3",
        "branch": "HEAD",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "go1.21.8",
    }
    code, doc = _doctor(capsys, {("tempo", "/api/status/buildinfo"): body})
    assert code == 0 and doc["checks"][0]["version"] == "2.4.1"
    code, doc = _doctor(capsys, {("tempo", "/ready"): "ready"})  # older Tempo: no buildinfo
    assert code == 0 and "does not serve buildinfo" in doc["checks"][0]["detail"]


def test_pagerduty_documented_payload(
    write_config: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PD_TOKEN", SECRET)
    write_config(
        '[[profiles.p.alerts]]\ntype = "pagerduty"\nservice_ids = ["PGOOD01", "PGONE02"]\n'
        'auth = { kind = "api_key", secret = "env:PD_TOKEN" }\n'
    )
    host = "api.pagerduty.com"
    routes = {
        (host, "/abilities"): {"abilities": ["teams", "read_only_users", "urgencies"]},
        (host, "/services/PGOOD01"): {"service": {"id": "PGOOD01", "name": "checkout"}},
        (host, "/services/PGONE02"): httpx.Response(
            404, json={"error": {"message": "Not Found", "code": 2100}}
        ),
    }
    seen: list[httpx.Request] = []
    code, doc = _doctor(capsys, routes, seen)
    assert code == 0
    check = doc["checks"][0]
    assert check["status"] == "warn" and check["version"] == "REST API v2"
    assert check["detail"] == "token valid; account has 3 abilities"
    assert check["warnings"] == ["service id 'PGONE02' was not found (alerts.service_ids)"]
    assert seen[0].headers["authorization"] == f"Token token={SECRET}"
    assert seen[0].headers["accept"] == "application/vnd.pagerduty+json;version=2"
    routes[(host, "/abilities")] = httpx.Response(
        401, json={"error": {"message": "Authentication failed", "code": 2006}}
    )
    code, doc = _doctor(capsys, routes)
    assert code == 1 and doc["checks"][0]["reason"] == "unauthorized"
    assert "Authentication failed" in doc["checks"][0]["message"]


def test_adx_recorded_payload(
    fixtures: Path,
    write_config: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ADX_TOKEN", SECRET)
    write_config(
        '[profiles.p.logs]\ntype = "adx"\ncluster = "https://help.kusto.windows.net"\n'
        'database = "Samples"\nauth = { kind = "bearer", secret = "env:ADX_TOKEN" }\n'
    )
    seen: list[httpx.Request] = []
    code, doc = _doctor(
        capsys,
        {
            ("help.kusto.windows.net", "/v1/rest/mgmt"): _json(
                fixtures / "kusto/versionshowcommandresult.json"
            )
        },
        seen,
    )
    assert code == 0
    check = doc["checks"][0]
    assert check["version"] == "1.0.6693.14577"
    assert check["detail"] == "Engine KustoMain_2018.04.29.5"
    assert seen[0].method == "POST"
    assert json.loads(seen[0].content) == {"db": "Samples", "csl": ".show version"}
    assert seen[0].headers["authorization"] == f"Bearer {SECRET}"


def test_kubernetes_documented_payload_from_kubeconfig(
    write_config: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    pki: PKI,
) -> None:
    """/version body from the Kubernetes API docs; credentials from a kubeconfig context."""
    ca_data = base64.b64encode(pki.ca.read_bytes()).decode()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(f"""
apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: prod-cluster
  cluster:
    server: https://k8s.prod.example.com:6443
    certificate-authority-data: {ca_data}
- name: dev-cluster
  cluster:
    server: https://k8s.dev.example.com:6443
users:
- name: prod-user
  user:
    token: {SECRET}
- name: eks-user
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
contexts:
- name: prod
  context: {{cluster: prod-cluster, user: prod-user, namespace: shop}}
- name: dev
  context: {{cluster: dev-cluster, user: eks-user}}
""")
    write_config(
        f'[profiles.prod.infra]\ntype = "kubernetes"\nkubeconfig = "{kubeconfig}"\n'
        'context = "prod"\n'
        f'[profiles.dev.infra]\ntype = "kubernetes"\nkubeconfig = "{kubeconfig}"\n'
        f'[profiles.typo.infra]\ntype = "kubernetes"\nkubeconfig = "{kubeconfig}"\n'
        'context = "prd"\n'
    )
    version = {
        "major": "1",
        "minor": "29",
        "gitVersion": "v1.29.2",
        "gitCommit": "4b8e819",
        "gitTreeState": "clean",
        "buildDate": "2024-02-14T10:32:40Z",
        "goVersion": "go1.21.7",
        "compiler": "gc",
        "platform": "linux/amd64",
    }
    routes = {
        ("k8s.prod.example.com", "/version"): version,
        ("k8s.dev.example.com", "/version"): version,
    }
    seen: list[httpx.Request] = []
    code, doc = _doctor(capsys, routes, seen, profile="prod")
    assert code == 0
    check = doc["checks"][0]
    assert check["version"] == "v1.29.2" and check["detail"] == "Kubernetes v1.29.2 (linux/amd64)"
    assert seen[0].headers["authorization"] == f"Bearer {SECRET}"
    code, doc = _doctor(capsys, routes, profile="dev")  # current-context, exec plugin user
    check = doc["checks"][0]
    assert code == 0 and check["status"] == "warn"
    assert "(aws), which obsbench does not run" in check["warnings"][0]
    code, doc = _doctor(capsys, routes, profile="typo")
    check = doc["checks"][0]
    assert code == 1 and check["reason"] == "config"
    assert "did you mean 'prod'" in check["hint"]
    assert SECRET not in json.dumps(doc)
