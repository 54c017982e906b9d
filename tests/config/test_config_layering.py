"""Layering: the file, then OBSBENCH_* environment variables, then --set overrides."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from obsbench.config import ConfigValidationError, load_config
from obsbench_servers.common.backend import BackendBase


def _url(backend: object) -> str | None:
    assert isinstance(backend, BackendBase)
    return backend.url


BASE = """\
default_profile = "prod-eu"

[profiles.prod-eu.metrics]
type = "prometheus"
url = "http://from-file:9090"
timeouts = { read = 30 }

[profiles.prod-eu.logs]
type = "loki"
url = "http://loki:3100"

[[profiles.prod-eu.alerts]]
type = "alertmanager"
url = "http://am-file:9093"

[profiles.other]
bundle = "/tmp/bundle"
"""


def test_file_then_env_then_override(write_config: Callable[[str], Path]) -> None:
    path = write_config(BASE)
    env = {"OBSBENCH_PROFILES__PROD_EU__METRICS__URL": "http://from-env:9090"}
    # file only
    assert (
        _url(load_config(path, env={}).config.profiles["prod-eu"].metrics)
        == "http://from-file:9090"
    )
    # env beats file
    loaded = load_config(path, env=env)
    assert _url(loaded.config.profiles["prod-eu"].metrics) == "http://from-env:9090"
    var = "OBSBENCH_PROFILES__PROD_EU__METRICS__URL"
    assert loaded.sources == {"profiles.prod-eu.metrics.url": f"environment variable {var}"}
    # override beats env
    loaded = load_config(
        path, env=env, overrides=["profiles.prod-eu.metrics.url=http://from-cli:9090"]
    )
    assert _url(loaded.config.profiles["prod-eu"].metrics) == "http://from-cli:9090"
    assert loaded.sources["profiles.prod-eu.metrics.url"] == "--set profiles.prod-eu.metrics.url"
    # untouched keys keep the file's values
    assert _url(loaded.config.profiles["prod-eu"].logs) == "http://loki:3100"


def test_env_values_are_typed_and_keys_match_loosely(write_config: Callable[[str], Path]) -> None:
    path = write_config(BASE)
    env = {
        "OBSBENCH_DEFAULT_PROFILE": "other",
        "OBSBENCH_PROFILES__PROD_EU__METRICS__TIMEOUTS__READ": "45",
        "OBSBENCH_PROFILES__PROD_EU__WRITES_ENABLED": "true",
        "OBSBENCH_PROFILES__PROD_EU__LOGS__TENANT": "123",
        "OBSBENCH_PROFILES__PROD_EU__ALLOWED_RUNBOOK_HOSTS": '["wiki.example.com","git.x.org"]',
        "OBSBENCH_PROFILES__PROD_EU__ALERTS__0__URL": "http://am-env:9093",
        # Settings of the process, not config keys: ignored by the layering.
        "OBSBENCH_CACHE_DIR": "/somewhere",
        "OBSBENCH_SECRETS_STORE": "file",
        "OBSBENCH_SOMETHING_ELSE": "x",
    }
    cfg = load_config(path, env=env).config
    prof = cfg.profiles["prod-eu"]
    assert cfg.default_profile == "other"
    assert isinstance(prof.metrics, BackendBase) and isinstance(prof.logs, BackendBase)
    assert prof.metrics.timeouts.read == 45.0
    assert prof.writes_enabled is True
    assert prof.logs.tenant == "123"
    assert prof.allowed_runbook_hosts == ["wiki.example.com", "git.x.org"]
    assert _url(prof.alerts[0]) == "http://am-env:9093"


def test_env_can_define_a_whole_profile(tmp_path: Path) -> None:
    absent = tmp_path / "nowhere" / "config.toml"
    env = {
        "OBSBENCH_PROFILES__CI__METRICS__TYPE": "prometheus",
        "OBSBENCH_PROFILES__CI__METRICS__URL": "http://prom:9090",
    }
    loaded = load_config(absent, env=env)
    assert not loaded.exists
    name, prof = loaded.profile()
    assert name == "ci" and prof.metrics is not None and _url(prof.metrics) == "http://prom:9090"


def test_a_bad_env_value_is_blamed_on_the_variable(write_config: Callable[[str], Path]) -> None:
    path = write_config(BASE)
    with pytest.raises(ConfigValidationError) as info:
        load_config(
            path,
            env={
                "OBSBENCH_PROFILES__PROD_EU__METRICS__TIMOUTS__READ": "5",
                "OBSBENCH_PROFILES__PROD_EU__METRICS__TIMEOUTS__CONNECT": "soon",
            },
        )
    by_key = {p.key: p for p in info.value.problems}
    typo = by_key["profiles.prod-eu.metrics.timouts"]
    assert typo.source == "environment variable OBSBENCH_PROFILES__PROD_EU__METRICS__TIMOUTS__READ"
    assert "did you mean 'timeouts'" in typo.fix
    connect = by_key["profiles.prod-eu.metrics.timeouts.connect"]
    assert (
        connect.source
        == "environment variable OBSBENCH_PROFILES__PROD_EU__METRICS__TIMEOUTS__CONNECT"
    )
    assert "'soon'" in connect.message


def test_cli_set_overrides_in_show(
    write_config: Callable[[str], Path],
    run_cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_config(BASE)
    monkeypatch.setenv("OBSBENCH_PROFILES__PROD_EU__METRICS__TIMEOUTS__READ", "40")
    result = run_cli(
        "config",
        "show",
        "--json",
        "--profile",
        "prod-eu",
        "--set",
        "profiles.prod-eu.metrics.timeouts.read=50",
        "--set",
        "profiles.prod-eu.alerts[0].url=http://am-cli:9093",
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    metrics = data["profiles"]["prod-eu"]["metrics"]
    assert metrics["timeouts"]["read"] == 50.0
    assert metrics["timeouts"]["connect"] == 5.0  # defaults shown in JSON
    assert data["profiles"]["prod-eu"]["alerts"][0]["url"] == "http://am-cli:9093"
    assert set(data["profiles"]) == {"prod-eu"}
    assert data["sources"]["profiles.prod-eu.metrics.timeouts.read"].startswith("--set")


def test_bad_set_syntax_is_a_usage_error(
    write_config: Callable[[str], Path], run_cli: Callable[..., Result]
) -> None:
    write_config(BASE)
    result = run_cli("config", "show", "--set", "profiles.prod-eu.metrics.url")
    assert result.exit_code == 2
    assert "has no '='" in result.stderr


def test_env_values_cannot_smuggle_extra_keys(write_config: Callable[[str], Path]) -> None:
    path = write_config(BASE)
    env = {"OBSBENCH_PROFILES__PROD_EU__LOGS__TENANT": '"a"\nwrites_enabled = true'}
    prof = load_config(path, env=env).config.profiles["prod-eu"]
    assert isinstance(prof.logs, BackendBase)
    assert prof.logs.tenant == '"a"\nwrites_enabled = true'  # kept as text, nothing else set
    assert prof.writes_enabled is False
