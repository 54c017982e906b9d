"""`obsbench doctor` against real servers: Prometheus, Alertmanager, VictoriaMetrics, TLS and
basic auth, a refused port, a server that never answers, a 401, and a local bundle."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from config_support import (
    BASIC_PASSWORD,
    BASIC_USER,
    PKI,
    closed_port_url,
    silent_server,
    unauthorized_server,
)
from typer.testing import Result

from livestack import PROMETHEUS, LiveServer

live = pytest.mark.live


def _doctor(run_cli: Callable[..., Result], *args: str) -> tuple[int, dict[str, Any]]:
    result = run_cli("doctor", "--json", *args)
    return result.exit_code, json.loads(result.stdout)


def _binary_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    m = re.search(r"version (\S+)", out.stdout + out.stderr)
    assert m, out
    return m.group(1)


@live
def test_real_prometheus_and_alertmanager(
    prometheus: LiveServer,
    alertmanager: LiveServer,
    write_config: Callable[[str], Path],
    run_cli: Callable[..., Result],
) -> None:
    write_config(f"""
default_profile = "lab"
[profiles.lab.metrics]
type = "prometheus"
url = "{prometheus.url}"
[[profiles.lab.alerts]]
type = "alertmanager"
url = "{alertmanager.url}"
[[profiles.lab.alerts]]
type = "prometheus"
name = "prometheus rules"
url = "{prometheus.url}"
""")
    code, doc = _doctor(run_cli)
    assert code == 0, doc
    assert doc["ok"] is True and doc["profile"] == "lab"
    metrics, am, rules = doc["checks"]
    assert (metrics["signal"], metrics["status"]) == ("metrics", "ok")
    assert metrics["version"] == _binary_version(PROMETHEUS)
    assert metrics["data"]["buildinfo"]["goVersion"].startswith("go")
    assert (am["type"], am["status"]) == ("alertmanager", "ok")
    assert am["version"] == _binary_version(str(alertmanager.proc.args[0]))  # type: ignore[index]
    assert am["detail"] == "cluster disabled"
    assert rules["name"] == "prometheus rules" and rules["status"] == "ok"
    text = run_cli("doctor")
    assert text.exit_code == 0
    assert "OK" in text.stdout and metrics["version"] in text.stdout
    assert "3 ok, 0 with warnings, 0 failing" in text.stderr


@live
def test_real_victoria_metrics(
    victoria_metrics: LiveServer,
    write_config: Callable[[str], Path],
    run_cli: Callable[..., Result],
) -> None:
    write_config(
        f'[profiles.vm.metrics]\ntype = "victoriametrics"\nurl = "{victoria_metrics.url}"\n'
    )
    code, doc = _doctor(run_cli)
    assert code == 0, doc
    check = doc["checks"][0]
    assert check["status"] == "ok"
    # Debian's build stamps no version (buildinfo {} and vm_app_version{version=""}): say so.
    if check["version"] is None:
        assert "does not report its version" in check["detail"]
    else:
        assert check["version"].startswith("v")


@live
def test_tls_client_certificate_and_basic_auth_against_real_prometheus(  # noqa: PLR0917
    secure_prometheus: LiveServer,
    pki: PKI,
    write_config: Callable[[str], Path],
    run_cli: Callable[..., Result],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    good = tmp_path / "pw"
    good.write_text(BASIC_PASSWORD + "\n")
    good.chmod(0o600)
    monkeypatch.setenv("WRONG_PW", "not-the-password")
    url = secure_prometheus.url
    auth_ok = f'auth = {{ kind = "basic", username = "{BASIC_USER}", secret = "file:{good}" }}'
    auth_bad = f'auth = {{ kind = "basic", username = "{BASIC_USER}", secret = "env:WRONG_PW" }}'
    full_tls = (
        f'tls = {{ ca_file = "{pki.ca}", cert_file = "{pki.client_cert}", '
        f'key_file = "{pki.client_key}" }}'
    )
    insecure_tls = (
        f'tls = {{ insecure_skip_verify = true, cert_file = "{pki.client_cert}", '
        f'key_file = "{pki.client_key}" }}'
    )
    write_config(f"""
[profiles.no-ca.metrics]
type = "prometheus"
url = "{url}"
{auth_ok}

[profiles.no-client-cert.metrics]
type = "prometheus"
url = "{url}"
{auth_ok}
tls = {{ ca_file = "{pki.ca}" }}

[profiles.wrong-password.metrics]
type = "prometheus"
url = "{url}"
{auth_bad}
{full_tls}

[profiles.good.metrics]
type = "prometheus"
url = "{url}"
{auth_ok}
{full_tls}

[profiles.plain-http.metrics]
type = "prometheus"
url = "{url.replace("https://", "http://")}"

[profiles.insecure.metrics]
type = "prometheus"
url = "{url}"
{auth_ok}
{insecure_tls}
""")
    outcomes = {}
    for profile in ("no-ca", "no-client-cert", "wrong-password", "good", "plain-http", "insecure"):
        code, doc = _doctor(run_cli, "--profile", profile, "--timeout", "5")
        check = doc["checks"][0]
        outcomes[profile] = (code, check["status"], check.get("reason"))
        if profile == "no-ca":
            assert "tls.ca_file" in check["hint"]
        if profile == "good":
            assert check["version"] == _binary_version(PROMETHEUS)
        if profile == "insecure":
            assert "verification is disabled" in check["warnings"][0]
    assert outcomes == {
        "no-ca": (1, "fail", "tls"),
        "no-client-cert": (1, "fail", "tls"),
        "wrong-password": (1, "fail", "unauthorized"),
        "good": (0, "ok", None),
        "plain-http": (1, "fail", "wrong_scheme"),
        "insecure": (0, "warn", None),  # it works, and doctor says what it costs
    }


def test_refused_hanging_and_unauthorized_backends_fail_with_reasons(
    write_config: Callable[[str], Path],
    run_cli: Callable[..., Result],
) -> None:
    with silent_server() as hung, unauthorized_server() as (denied, _):
        write_config(f"""
[profiles.broken.metrics]
type = "prometheus"
url = "{closed_port_url()}"
[profiles.broken.logs]
type = "loki"
url = "{hung}"
[[profiles.broken.alerts]]
type = "alertmanager"
url = "{denied}"
""")
        t0 = time.monotonic()
        code, doc = _doctor(run_cli, "--timeout", "1")
        elapsed = time.monotonic() - t0
    assert code == 1 and doc["ok"] is False
    by_signal = {c["signal"]: c for c in doc["checks"]}
    refused, hung_check, denied_check = by_signal["metrics"], by_signal["logs"], by_signal["alerts"]
    assert (refused["status"], refused["reason"]) == ("fail", "refused")
    assert "listening" in refused["hint"]
    assert (hung_check["reason"], hung_check["latency_ms"] < 3000) == ("timeout", True)
    assert "did not answer in time" in hung_check["message"]
    assert denied_check["reason"] == "unauthorized" and "401" in denied_check["message"]
    assert "authentication required" in denied_check["message"]
    # The checks run concurrently: the hung one does not add to the others.
    assert elapsed < 4
    text = run_cli("doctor", "--timeout", "1")
    assert text.exit_code == 1
    assert "FAIL" in text.stdout and "refused" in text.stdout and "→" in text.stdout
    assert "0 ok, 0 with warnings, 3 failing" in text.stderr


def test_local_bundle_reports_counts_and_caches(
    tiny_bundle: Path, write_config: Callable[[str], Path], run_cli: Callable[..., Result]
) -> None:
    write_config(f'default_profile = "offline"\n[profiles.offline]\nbundle = "{tiny_bundle}"\n')
    code, doc = _doctor(run_cli)
    assert code == 0, doc
    checks = doc["checks"]
    assert [c["signal"] for c in checks] == ["metrics", "logs", "traces", "alerts", "infra"]
    assert all(c["status"] == "warn" or c["status"] == "ok" for c in checks)
    first = checks[0]
    assert first["version"] == "embedded"
    assert first["data"]["counts"]["logs"] == 2
    assert first["data"]["counts"]["spans"] == 0
    assert first["detail"].startswith("tiny: logs 2")
    code, again = _doctor(run_cli)
    assert code == 0 and again["checks"][0]["data"]["cached"] is True
    text = run_cli("doctor")
    assert "metrics, logs, traces, alerts, infra" in text.stdout  # one row for the shared bundle


def test_local_bundle_problems(
    tmp_path: Path, write_config: Callable[[str], Path], run_cli: Callable[..., Result]
) -> None:
    bad = tmp_path / "bad-bundle"
    (bad / "logs").mkdir(parents=True)
    (bad / "logs" / "app.jsonl").write_text(
        '{"ts": "2024-05-01T10:00:00Z", "service": "a", "level": "info", "message": "fine"}\n'
        "this is not json\n"
    )
    write_config(
        f'[profiles.missing]\nbundle = "{tmp_path / "nowhere"}"\n'
        f'[profiles.bad.logs]\ntype = "local"\nbundle = "{bad}"\n'
    )
    code, doc = _doctor(run_cli, "--profile", "missing")
    assert code == 1
    check = doc["checks"][0]
    assert check["reason"] == "missing_bundle" and "obsbench demo" in check["hint"]
    code, doc = _doctor(run_cli, "--profile", "bad")
    assert code == 0
    check = doc["checks"][0]
    assert check["status"] == "warn" and check["data"]["skipped"] == 1
    assert "app.jsonl:2" in check["warnings"][0]


def test_invalid_config_exits_2(
    write_config: Callable[[str], Path], run_cli: Callable[..., Result]
) -> None:
    path = write_config('[profiles.p.metrics]\ntype = "prometheus"\nurl = "http://x"\ntimout = 3\n')
    result = run_cli("doctor", "--json")
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert doc["error"] == "config" and doc["problems"][0]["key"] == "profiles.p.metrics.timout"
    result = run_cli("doctor")
    assert result.exit_code == 2
    assert f"{path}: profiles.p.metrics.timout: unknown key" in result.stderr
    assert "did you mean 'timeouts'" in result.stderr


def test_no_profile_and_unknown_profile_are_usage_errors(
    write_config: Callable[[str], Path], run_cli: Callable[..., Result]
) -> None:
    result = run_cli("doctor")
    assert result.exit_code == 2 and "config init" in result.stderr
    write_config('[profiles.empty]\ndescription = "nothing yet"\n')
    result = run_cli("doctor", "--json")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["message"] == "profile 'empty' configures no backend"
    write_config('[profiles.prod]\nbundle = "/b"\n[profiles.stage]\nbundle = "/c"\n')
    result = run_cli("doctor")
    assert result.exit_code == 2 and "--profile NAME (one of: prod, stage)" in result.stderr
    result = run_cli("doctor", "--profile", "prd")
    assert result.exit_code == 2 and "did you mean 'prod'" in result.stderr
    result = run_cli("doctor", "--profile", "prd", "--json")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["hint"].startswith("did you mean 'prod'")
