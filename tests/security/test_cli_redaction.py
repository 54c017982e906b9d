"""`obsbench <signal> <tool>` applies the profile's own redaction patterns too."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from obsbench.cli.main import app


def test_cli_tool_call_uses_the_profiles_redaction_patterns(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = tmp_path / "b"
    (bundle / "logs").mkdir(parents=True)
    (bundle / "bundle.toml").write_text(
        'name = "t"\n[window]\nstart = "2026-03-10T11:00:00Z"\nend = "2026-03-10T15:00:00Z"\n')
    (bundle / "logs" / "a.jsonl").write_text(
        '{"ts": "2026-03-10T14:00:00Z", "service": "api", "level": "error", '
        '"message": "order failed for customer ACME-884213 at step 3"}\n')
    config = tmp_path / "config.toml"
    config.write_text(
        f'default_profile = "inc"\n[profiles.inc]\nbundle = "{bundle}"\n'
        '[profiles.inc.redaction]\npatterns = ["ACME-\\\\d{6}"]\n')
    monkeypatch.setenv("OBSBENCH_CONFIG", str(config))
    runner = CliRunner()
    redacted = runner.invoke(app, ["logs", "search", "--profile", "inc", "--contains",
                                   "order failed", "--json"])
    assert redacted.exit_code == 0, redacted.output
    assert "order failed for customer" in redacted.stdout
    assert "ACME-884213" not in redacted.stdout
    # The same bundle without the profile's pattern shows the value: the pattern did it.
    plain = runner.invoke(app, ["logs", "search", "--bundle", str(bundle), "--contains",
                                "order failed", "--json"])
    assert plain.exit_code == 0, plain.output
    assert "ACME-884213" in plain.stdout
