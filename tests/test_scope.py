"""Scopes: --bundle / --profile / --at resolve into server contexts; serve refuses unsafe binds."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from obsbench.cli.main import app
from obsbench.scope import resolve_scope
from obsbench_servers.common.backend import LocalBackend
from obsbench_servers.common.errors import ConfigError
from obsbench_servers.common.timeutil import NS_PER_S, parse_rfc3339_ns

END = "2026-03-10T15:00:00Z"


def _bundle(tmp_path: Path) -> Path:
    b = tmp_path / "b"
    (b / "logs").mkdir(parents=True)
    (b / "bundle.toml").write_text(
        f'name = "t"\n[window]\nstart = "2026-03-10T11:00:00Z"\nend = "{END}"\n')
    (b / "logs" / "a.jsonl").write_text(
        '{"ts": "2026-03-10T14:00:00Z", "service": "api", "level": "error", "message": "boom"}\n')
    return b


def test_bundle_scope_gives_every_signal_the_local_store(tmp_path: Path) -> None:
    scope = resolve_scope(bundle=_bundle(tmp_path))
    for signal in ("metrics", "logs", "traces", "alerts", "infra"):
        ctx = scope.context(signal)
        assert len(ctx.backends) == 1 and isinstance(ctx.backends[0], LocalBackend)
    ctx = scope.context("logs")
    # "now" for a bundle is the end of its window, so since=1h is its last hour.
    assert ctx.now_ns() == parse_rfc3339_ns(END)
    r = ctx.time_range(default_since="1h")
    assert r.end_ns - r.start_ns == 3600 * NS_PER_S
    assert ctx.store().counts()["logs"] == 1
    ctx.close()


def test_at_is_relative_to_the_bundle_end(tmp_path: Path) -> None:
    scope = resolve_scope(bundle=_bundle(tmp_path), at="now-30m")
    assert scope.at_ns == parse_rfc3339_ns(END) - 1800 * NS_PER_S
    assert scope.context("metrics").now_ns() == scope.at_ns


def test_scope_errors_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not both"):
        resolve_scope(profile="x", bundle=tmp_path)
    with pytest.raises(ConfigError) as info:
        resolve_scope(bundle=tmp_path / "missing")
    assert "scenarios generate" in (info.value.hint or "")
    with pytest.raises(ConfigError) as info:
        resolve_scope()  # no config file at all in the isolated test home
    assert "obsbench config init" in (info.value.hint or "")


def test_serve_refuses_non_loopback_and_unknown_servers(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["serve", "metrics", "--transport", "http", "--host", "0.0.0.0",
                            "--bundle", str(_bundle(tmp_path))])
    assert r.exit_code == 2 and "refusing to serve on 0.0.0.0" in r.stderr
    r = runner.invoke(app, ["serve", "metrix", "--bundle", str(tmp_path)])
    assert r.exit_code == 2 and "unknown server 'metrix'" in r.stderr


def test_profile_scope_hands_cross_signal_backends_to_infra_and_alerts() -> None:
    """Infra reads usage history from the metrics backend; alerts read rollouts from infra."""
    from obsbench.config import Profile
    from obsbench.scope import Scope

    profile = Profile.model_validate({
        "metrics": {"type": "prometheus", "url": "http://prom:9090"},
        "infra": {"type": "kubernetes"},
        "alerts": [{"type": "alertmanager", "url": "http://am:9093"}],
    })
    scope = Scope("live", profile)
    infra, alerts, logs = scope.context("infra"), scope.context("alerts"), scope.context("logs")
    assert infra.options["metrics"].url.startswith("http://prom:9090")
    assert alerts.options["infra"].type == "kubernetes"
    assert "metrics" not in alerts.options and not logs.options
