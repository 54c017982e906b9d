"""``obsbench postmortem``: from a saved investigation (--from) and live with the offline agent."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from obsbench.cli.main import app


def _saved(btl: dict[str, Any], path: Path) -> Path:
    doc = btl["result"].to_dict(evidence=[e.to_dict() for e in btl["store"]])
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_from_saved_investigation_markdown_json_and_out(btl: dict[str, Any],
                                                       tmp_path: Path) -> None:
    saved = _saved(btl, tmp_path / "inv.json")
    res = CliRunner().invoke(app, ["postmortem", "--from", str(saved)])
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("# Post-mortem: nightly-reconcile (database) incident")
    assert "| 2026-03-18T02:00:00Z | Normal SuccessfulCreate on CronJob/nightly-reconcile" \
        in res.stdout

    res = CliRunner().invoke(app, ["postmortem", "--from", str(saved), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["report"] == "postmortem" and data["status"] == "resolved"
    assert data["moments"]["trigger"]["time"] == btl["truth"]["onset"]
    assert data["capacity"] == {"report": "capacity", "containers": []}

    out = tmp_path / "pm.md"
    res = CliRunner().invoke(app, ["postmortem", "--from", str(saved), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert res.stdout == "" and out.read_text().startswith("# Post-mortem:")


def test_bad_inputs_are_usage_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.json"
    junk.write_text("<html>not json</html>")
    res = CliRunner().invoke(app, ["postmortem", "--from", str(junk)])
    assert res.exit_code == 2 and "is not JSON" in res.stderr
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    res = CliRunner().invoke(app, ["postmortem", "--from", str(other)])
    assert res.exit_code == 2 and "not the JSON of an investigation" in res.stderr
    res = CliRunner().invoke(app, ["postmortem", "--from", str(other), "--bundle", str(tmp_path)])
    assert res.exit_code == 2 and "--from reads a saved investigation" in res.stderr
    res = CliRunner().invoke(app, ["postmortem", "--from", str(tmp_path / "missing.json")])
    assert res.exit_code == 2 and "cannot read" in res.stderr


def test_live_offline_postmortem_cites_only_its_own_evidence(
        bundle_dir: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    path = bundle_dir("batch-table-lock")
    res = CliRunner().invoke(app, ["postmortem", "--bundle", str(path), "--agent", "offline",
                                   "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    ids = {e["id"] for e in data["evidence"]}
    # The extra timeline calls went through the same hub: their ids continue the sequence.
    tools = {e["tool"] for e in data["evidence"]}
    assert {"infra_get_events", "alerts_get_incident_timeline"} <= tools
    assert data["timeline"]["entries"]
    for entry in data["timeline"]["entries"]:
        assert entry["evidence"] and set(entry["evidence"]) <= ids
    assert data["status"] == "resolved"
    assert any(e["category"] == "job-start" and e["time"] == "2026-03-18T02:00:00Z"
               for e in data["timeline"]["entries"])
    assert os.path.isdir(path)
