"""``obsbench alerts ...`` reads on a bundle, and writes refused on a read-only scope."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from alerts_support import audit_records
from typer.testing import CliRunner

from obsbench.cli.main import app


def test_alerts_reads_on_a_bundle(bundle_dir: Callable[..., Path]) -> None:
    out = str(bundle_dir("bad-deploy-db-pool"))
    runner = CliRunner()
    firing = runner.invoke(app, ["alerts", "firing", "--bundle", out, "-f",
                                 'severity="critical"'])
    assert firing.exit_code == 0, firing.stderr
    assert firing.stdout.startswith("1 alerts firing (1 critical)")
    incidents = runner.invoke(app, ["alerts", "incidents", "--bundle", out, "--json",
                                    "--at", "2026-03-10T13:58:00Z"])
    doc = json.loads(incidents.stdout)
    assert [i["status"] for i in doc["data"]["incidents"]] == ["triggered"]
    timeline = runner.invoke(app, ["alerts", "timeline", "P3ETBPP", "--bundle", out,
                                   "--since", "30m"])
    assert timeline.exit_code == 0, timeline.stderr
    assert "13:46:18Z change" in timeline.stdout
    assert "13:19:18Z" not in timeline.stdout  # 37 minutes before the incident: outside 30m
    runbook = runner.invoke(app, ["alerts", "runbook", "DBConnectionPoolExhausted",
                                  "--bundle", out])
    assert runbook.exit_code == 0 and "pool" in runbook.stdout.lower()
    unknown = runner.invoke(app, ["alerts", "timeline", "PNOPE", "--bundle", out])
    assert unknown.exit_code == 1 and "no incident 'PNOPE'" in unknown.stderr


def test_writes_on_a_bundle_are_refused_with_exit_2(bundle_dir: Callable[..., Path]) -> None:
    out = str(bundle_dir("bad-deploy-db-pool"))
    runner = CliRunner()
    for args in (["silence", 'alertname="HighErrorRate"', "-c", "x"],
                 ["expire", "e475299a-7fda-4d9c-a39c-0101a4b4afcf"],
                 ["ack", "P3ETBPP"], ["note", "P3ETBPP", "hello"]):
        r = runner.invoke(app, ["alerts", *args, "--yes", "--bundle", out])
        assert r.exit_code == 2, (args, r.stderr)
        assert "writes_enabled" in r.stderr
    assert [x["outcome"] for x in audit_records()] == ["refused"] * 4
