"""`obsbench demo` on the embedded default: generate, import, show the incident."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from obsbench.cli.main import app


def test_demo_shows_the_incident_and_its_changes(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    runner = CliRunner()
    result = runner.invoke(app, ["demo", "bad-deploy-db-pool", "--out", str(out)],
                           env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "bad-deploy-db-pool" in text
    # The paging alert, the rollout that caused it and the bundle path a user can reuse.
    assert "HighErrorRate" in text and "critical" in text
    assert "deploy 2.3.1" in text
    assert str(out) in text
    assert (out / "bundle.toml").exists()
    # A second run reuses the generated bundle and the cached import.
    again = runner.invoke(app, ["demo", "bad-deploy-db-pool", "--out", str(out)],
                          env={"COLUMNS": "160"})
    assert again.exit_code == 0
    assert "(from cache)" in again.stderr


def test_demo_unknown_scenario_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "bad-deploy", "--out", str(tmp_path / "b")])
    assert result.exit_code == 2
    assert "unknown scenario 'bad-deploy'" in result.stderr
    assert "bad-deploy-db-pool" in result.stderr  # a close name is suggested
