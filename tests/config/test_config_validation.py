"""A validation error names the file (or variable), the key path and the fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from obsbench.config import ConfigValidationError, Problem, load_config
from obsbench_servers.common.backend import BACKEND_TYPES, PrometheusBackend
from obsbench_servers.common.errors import ConfigError


def _problems(path: Path, env: dict[str, str] | None = None) -> list[Problem]:
    with pytest.raises(ConfigValidationError) as info:
        load_config(path, env=env or {})
    return info.value.problems


def _only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def test_misspelt_key_names_file_key_path_and_suggests_the_right_key(
    write_config: Callable[[str], Path],
) -> None:
    path = write_config(
        '[profiles.prod.metrics]\ntype = "prometheus"\nurl = "http://prom:9090"\n'
        "[profiles.prod.metrics.timeouts]\nreed = 10\n"
    )
    p = _only(_problems(path))
    assert p.source == str(path)
    assert p.key == "profiles.prod.metrics.timeouts.reed"
    assert "unknown key 'reed'" in p.message
    assert "did you mean 'read'" in p.fix
    text = str(p)
    assert text.startswith(f"{path}: profiles.prod.metrics.timeouts.reed: ")


def test_misspelt_signal_table_suggests_the_signal(write_config: Callable[[str], Path]) -> None:
    path = write_config('[profiles.prod.metric]\ntype = "prometheus"\nurl = "http://p:9090"\n')
    p = _only(_problems(path))
    assert p.key == "profiles.prod.metric"
    assert "did you mean 'metrics'" in p.fix


def test_unknown_key_without_a_close_match_lists_the_allowed_keys(
    write_config: Callable[[str], Path],
) -> None:
    path = write_config(
        '[profiles.prod.metrics]\ntype = "loki"\nurl = "http://l:3100"\n[profiles.prod]\nzzz = 1\n'
    )
    problems = _problems(path)
    by_key = {p.key: p for p in problems}
    assert "writes_enabled" in by_key["profiles.prod.zzz"].fix
    # And the wrong backend type for the signal, with what is allowed:
    assert (
        "prometheus, thanos, mimir, victoriametrics, local"
        in by_key["profiles.prod.metrics.type"].fix
    )


def test_wrong_type_says_what_was_expected(write_config: Callable[[str], Path]) -> None:
    path = write_config(
        '[profiles.prod.metrics]\ntype = "prometheus"\nurl = "http://prom:9090"\n'
        'timeouts = { read = "fast" }\nlimits = { max_series = -3 }\n'
        '[profiles.prod]\nwrites_enabled = "maybe"\n'
    )
    by_key = {p.key: p for p in _problems(path)}
    read = by_key["profiles.prod.metrics.timeouts.read"]
    assert "expected a number" in read.message and "'fast'" in read.message
    assert "read = 30" in read.fix
    assert "must be > 0" in by_key["profiles.prod.metrics.limits.max_series"].message
    assert "true or false" in by_key["profiles.prod.writes_enabled"].message


def test_unknown_backend_type_suggests_the_closest(write_config: Callable[[str], Path]) -> None:
    path = write_config('[profiles.prod.metrics]\ntype = "promethus"\nurl = "http://p:9090"\n')
    p = _only(_problems(path))
    assert p.key == "profiles.prod.metrics.type"
    assert "unknown metrics backend type 'promethus'" in p.message
    assert "did you mean 'prometheus'" in p.fix


def test_alert_sources_are_addressed_by_index(write_config: Callable[[str], Path]) -> None:
    path = write_config(
        '[[profiles.prod.alerts]]\ntype = "alertmanager"\nurl = "http://am:9093"\n'
        '[[profiles.prod.alerts]]\ntype = "pagerdutty"\n'
    )
    p = _only(_problems(path))
    assert p.key == "profiles.prod.alerts[1].type"
    assert "did you mean 'pagerduty'" in p.fix


def test_missing_type_and_missing_url_are_explained(write_config: Callable[[str], Path]) -> None:
    path = write_config(
        '[profiles.a.logs]\nurl = "http://loki:3100"\n[profiles.b.logs]\ntype = "loki"\n'
    )
    by_key = {p.key: p for p in _problems(path)}
    assert "loki, elasticsearch, opensearch, adx, local" in by_key["profiles.a.logs.type"].fix
    assert by_key["profiles.b.logs"].message == 'a "loki" backend needs url'
    assert 'url = "http://loki' in by_key["profiles.b.logs"].fix


def test_a_secret_value_in_the_file_is_refused_without_echoing_it(
    write_config: Callable[[str], Path],
) -> None:
    path = write_config(
        '[profiles.prod.metrics]\ntype = "prometheus"\nurl = "http://p:9090"\n'
        'auth = { kind = "bearer", secret = "hunter2-real-token" }\n'
    )
    with pytest.raises(ConfigValidationError) as info:
        load_config(path, env={})
    p = _only(info.value.problems)
    assert p.key == "profiles.prod.metrics.auth.secret"
    assert "keyring:obsbench/NAME" in p.fix
    assert "hunter2" not in str(info.value) + str(info.value.hint)


def test_credentials_in_a_url_are_refused(write_config: Callable[[str], Path]) -> None:
    path = write_config('[profiles.p.logs]\ntype = "loki"\nurl = "https://u:pw@loki:3100"\n')
    p = _only(_problems(path))
    assert p.key == "profiles.p.logs.url"
    assert "auth.username" in p.fix


def test_credential_headers_must_go_through_auth(write_config: Callable[[str], Path]) -> None:
    path = write_config(
        '[profiles.p.logs]\ntype = "loki"\nurl = "https://loki"\n'
        'headers = { Authorization = "Bearer abc" }\n'
    )
    p = _only(_problems(path))
    assert p.key == "profiles.p.logs.headers"
    assert 'kind = "header"' in p.fix


def test_auth_kind_needs_its_parts(write_config: Callable[[str], Path]) -> None:
    path = write_config(
        '[profiles.p.metrics]\ntype = "prometheus"\nurl = "https://p"\n'
        'auth = { kind = "basic", secret = "env:PW" }\n'
        '[profiles.q.metrics]\ntype = "prometheus"\nurl = "https://p"\n'
        'auth = { kind = "bearr", secret = "env:PW" }\n'
    )
    by_key = {p.key: p for p in _problems(path)}
    assert "needs username" in by_key["profiles.p.metrics.auth"].message
    assert "did you mean 'bearer'" in by_key["profiles.q.metrics.auth.kind"].fix


def test_pagerduty_requires_a_token(write_config: Callable[[str], Path]) -> None:
    path = write_config('[[profiles.p.alerts]]\ntype = "pagerduty"\n')
    p = _only(_problems(path))
    assert p.key == "profiles.p.alerts[0]"
    assert 'kind = "api_key"' in p.fix


def test_default_profile_must_name_a_profile(write_config: Callable[[str], Path]) -> None:
    path = write_config('default_profile = "prd"\n[profiles.prod]\nbundle = "/tmp/x"\n')
    p = _only(_problems(path))
    assert p.key == "default_profile"
    assert "did you mean 'prod'" in p.fix


def test_bad_regex_and_runbook_host(write_config: Callable[[str], Path]) -> None:
    path = write_config(
        '[profiles.p]\nbundle = "/b"\nredaction = ["(unclosed"]\n'
        'allowed_runbook_hosts = ["https://wiki.example.com/x"]\n'
    )
    by_key = {p.key: p for p in _problems(path)}
    assert "not a valid regular expression" in by_key["profiles.p.redaction[0]"].message
    assert "no scheme" in by_key["profiles.p.allowed_runbook_hosts[0]"].fix


def test_unknown_theme_suggests_a_shipped_one(write_config: Callable[[str], Path]) -> None:
    path = write_config('[ui]\ntheme = "obsbench-drak"\n')
    p = _only(_problems(path))
    assert p.key == "ui"
    assert "did you mean 'obsbench-dark'" in p.fix


def test_toml_syntax_error_names_file_and_line(write_config: Callable[[str], Path]) -> None:
    path = write_config('default_profile = "demo"\n[profiles.demo\nbundle = "x"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert info.value.message.startswith(f"{path}:2:")
    assert "not valid TOML" in info.value.message


def test_every_problem_is_reported_at_once(write_config: Callable[[str], Path]) -> None:
    path = write_config(
        '[profiles.a.metrics]\ntype = "x"\n[profiles.b.logs]\ntype = "y"\n'
        '[agent]\nprovider = "claude"\n'
    )
    keys = {p.key for p in _problems(path)}
    assert keys == {"profiles.a.metrics.type", "profiles.b.logs.type", "agent.provider"}


def test_relative_paths_are_relative_to_the_config_file(
    write_config: Callable[[str], Path],
) -> None:
    path = write_config('[profiles.demo]\nbundle = "bundles/demo"\nrunbooks_dir = "~/rb"\n')
    cfg = load_config(path, env={}).config
    prof = cfg.profiles["demo"]
    assert prof.bundle == path.parent / "bundles" / "demo"
    assert prof.runbooks_dir == Path("~/rb").expanduser()
    # The bundle shortcut fills every signal with the embedded backend.
    assert [(s, b.type) for s, b in prof.backends()] == [
        ("metrics", "local"),
        ("logs", "local"),
        ("traces", "local"),
        ("alerts", "local"),
        ("infra", "local"),
    ]


def test_every_backend_type_validates(write_config: Callable[[str], Path], tmp_path: Path) -> None:
    """One profile using every backend type, as docs/configuration.md shows them."""
    path = write_config(f"""
[profiles.all.metrics]
type = "mimir"
url = "https://mimir.example.com/prometheus"
tenant = "team-a"
auth = {{ kind = "basic", username = "svc", secret = "keyring:obsbench/mimir" }}
tls = {{ ca_file = "{tmp_path}/ca.pem", insecure_skip_verify = false }}
limits = {{ max_range = "7d", requests_per_second = 5 }}

[profiles.all.logs]
type = "adx"
cluster = "https://c.westeurope.kusto.windows.net"
database = "logs"
azure_tenant_id = "00000000-0000-0000-0000-000000000000"
auth = {{ kind = "azure_ad", username = "app-client-id", secret = "env:ADX_SECRET" }}

[profiles.all.traces]
type = "jaeger"
url = "http://jaeger:16686"

[[profiles.all.alerts]]
type = "pagerduty"
auth = {{ kind = "api_key", secret = "file:~/.pd-token" }}
service_ids = ["PABC123"]

[[profiles.all.alerts]]
type = "prometheus"
url = "http://prometheus:9090"

[profiles.all.infra]
type = "kubernetes"
context = "prod"
namespace = "shop"

[profiles.es.logs]
type = "opensearch"
url = "https://os:9200"
index = "app-*"
fields = {{ service = "kubernetes.labels.app" }}
auth = {{ kind = "header", header = "X-Api-Token", secret = "env:OS_TOKEN" }}
""")
    cfg = load_config(path, env={}).config
    prof = cfg.profiles["all"]
    assert prof.metrics is not None and prof.metrics.type == "mimir"
    assert prof.logs is not None and prof.logs.type == "adx"
    assert [a.type for a in prof.alerts] == ["pagerduty", "prometheus"]
    assert prof.alerts[0].url == "https://api.pagerduty.com"  # type: ignore[union-attr]
    assert prof.metrics.limits.max_range_ns == 7 * 86400 * 10**9
    assert isinstance(prof.metrics, PrometheusBackend)
    assert prof.metrics.tenant_header_name == "X-Scope-OrgID"
    es = cfg.profiles["es"].logs
    assert es is not None and es.fields.service == "kubernetes.labels.app"  # type: ignore[union-attr]
    assert es.fields.timestamp == "@timestamp"  # type: ignore[union-attr]


def test_the_documented_examples_validate(write_config: Callable[[str], Path]) -> None:
    """Every ```toml block of docs/configuration.md is a valid config, one backend type each."""
    import re

    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", doc, re.DOTALL)
    assert blocks
    cfg = load_config(write_config("\n".join(blocks)), env={}).config
    types = {b.type for prof in cfg.profiles.values() for _, b in prof.backends()}
    documented = {t for ts in BACKEND_TYPES.values() for t in ts}
    assert types == documented
