"""``obsbench infra ...`` on a bundle: text and JSON on stdout, errors on stderr, exit codes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from obsbench.cli.main import app


def test_infra_commands_on_a_bundle(bundle_dir: Callable[..., Path]) -> None:
    out = str(bundle_dir("memory-leak-oom"))
    runner = CliRunner()
    status = runner.invoke(app, ["infra", "status", "inventory", "--bundle", out])
    assert status.exit_code == 0, status.stderr
    assert "CrashLoopBackOff" in status.stdout and "OOMKilled" in status.stdout
    as_json = runner.invoke(app, ["infra", "status", "inventory", "--bundle", out, "--json"])
    doc = json.loads(as_json.stdout)
    assert doc["kind"] == "table" and doc["data"]["workload"]["name"] == "inventory"
    deploys = runner.invoke(app, ["infra", "deployments", "--bundle", out, "--since", "2h",
                                  "--json"])
    doc = json.loads(deploys.stdout)
    assert doc["time_range"] == {"start": "2026-03-20T14:00:00Z", "end": "2026-03-20T16:00:00Z"}
    assert any(c.get("workload") == "checkout" for c in doc["data"]["changes"])  # the herring
    events = runner.invoke(app, ["infra", "events", "--bundle", out, "-s", "inventory",
                                 "--since", "4h", "-t", "Warning", "--json"])
    assert {g["type"] for g in json.loads(events.stdout)["data"]["groups"]} == {"Warning"}
    usage = runner.invoke(app, ["infra", "usage", "inventory", "--bundle", out, "--since", "4h"])
    assert usage.exit_code == 0 and "recommendation:" in usage.stdout
    for cmd in (["autoscaling", "inventory"], ["probes", "inventory"]):
        r = runner.invoke(app, ["infra", *cmd, "--bundle", out])
        assert r.exit_code == 0, r.stderr


def test_infra_cli_errors(bundle_dir: Callable[..., Path], tmp_path: Path) -> None:
    out = str(bundle_dir("memory-leak-oom"))
    runner = CliRunner()
    unknown = runner.invoke(app, ["infra", "status", "inventroy", "--bundle", out])
    assert unknown.exit_code == 1 and "did you mean 'inventory'" in unknown.stderr
    assert unknown.stdout == ""
    both = runner.invoke(app, ["infra", "events", "--bundle", out, "--since", "1h",
                               "--start", "now-2h"])
    assert both.exit_code == 2
    missing = runner.invoke(app, ["infra", "status", "x", "--bundle", str(tmp_path / "nope")])
    assert missing.exit_code == 2
