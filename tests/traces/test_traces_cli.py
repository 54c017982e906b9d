"""``obsbench traces ...``: the same tools from the command line, with the CLI's conventions."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from obsbench.cli.main import app

runner = CliRunner()
ONSET, AFTER = "2026-03-10T13:46:18Z", "2026-03-10T14:46:18Z"


def test_slow_show_compare_deps_breakdown_and_services(bundle_dir: Callable[..., Path]) -> None:
    b = str(bundle_dir("bad-deploy-db-pool"))
    res = runner.invoke(app, ["traces", "slow", "user-api", "--bundle", b, "--start", ONSET,
                              "--end", AFTER, "-n", "2", "--json"])
    assert res.exit_code == 0, res.output
    slow = json.loads(res.stdout)
    assert slow["kind"] == "spans" and len(slow["data"]["traces"]) == 2
    tid = slow["data"]["traces"][0]["trace_id"]

    res = runner.invoke(app, ["traces", "show", tid, "--bundle", b])
    assert res.exit_code == 0 and res.stdout.startswith(f"trace {tid}: ")
    assert "critical path" in res.stdout

    res = runner.invoke(app, ["traces", "span", tid, "user-api SELECT users", "--bundle", b,
                              "--json"])
    assert res.exit_code == 0, res.output
    (rec,) = json.loads(res.stdout)["data"]["spans"]
    assert (rec["service"], rec["name"]) == ("user-api", "SELECT users")

    res = runner.invoke(app, ["traces", "compare", slow["data"]["traces"][1]["trace_id"], tid,
                              "--bundle", b, "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["data"]["b"]["trace_id"] == tid

    res = runner.invoke(app, ["traces", "deps", "user-api", "--bundle", b, "--since", "30m"])
    assert res.exit_code == 0 and "user-api -> postgres" in res.stdout
    assert "[range: 2026-03-10T14:30:00Z .. 2026-03-10T15:00:00Z]" in res.stdout

    res = runner.invoke(app, ["traces", "breakdown", "api-gateway", "--bundle", b, "--start",
                              ONSET, "--end", AFTER, "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["data"]["top_service"] == "user-api"

    res = runner.invoke(app, ["traces", "errors", "--bundle", b, "--since", "1h", "--end",
                              AFTER, "--json"])
    assert res.exit_code == 0
    assert json.loads(res.stdout)["time_range"] == {"start": ONSET, "end": AFTER}

    res = runner.invoke(app, ["traces", "services", "user-api", "--bundle", b])
    assert res.exit_code == 0 and "GET /v1/users/{id}" in res.stdout


def test_exit_codes_for_tool_errors_and_usage(bundle_dir: Callable[..., Path]) -> None:
    b = str(bundle_dir("bad-deploy-db-pool"))
    res = runner.invoke(app, ["traces", "show", "ab" * 16, "--bundle", b])
    assert res.exit_code == 1 and "not in this bundle" in res.stderr and res.stdout == ""
    res = runner.invoke(app, ["traces", "slow", "--bundle", b, "--since", "1h", "--start",
                              "now-2h"])
    assert res.exit_code == 2 and "not both" in res.stderr
    res = runner.invoke(app, ["traces", "slow", "--bundle", "/no/such/bundle"])
    assert res.exit_code == 2
