"""``obsbench import FILES... --out DIR`` end to end, through typer as a user runs it."""

from __future__ import annotations

import gzip
import json
import tomllib
from pathlib import Path

from typer.testing import CliRunner

from obsbench.cli.main import app
from obsbench_servers.store import TelemetryStore


def _run(*args: object) -> tuple[int, str, str]:
    """``obsbench import ARGS...`` through the real typer app: exit code, stdout, stderr."""
    result = CliRunner().invoke(app, ["import", *map(str, args)])
    return result.exit_code, result.stdout, result.stderr


def test_import_builds_a_bundle_from_exports(fixtures: Path, tmp_path: Path, w) -> None:
    om = w(tmp_path / "src" / "scrape.txt", "up{job=\"api\"} 1 1795495200\nup{job=\"api\"} 1 "
                                            "1795495215\n# EOF\n")
    logs = w(tmp_path / "src" / "app.log.gz", gzip.compress(
        b'{"ts":"2026-11-24T04:30:00Z","service":"api","message":"boot"}\n'))
    junk = w(tmp_path / "src" / "notes.bin", b"\x00\x01 nothing here")
    out = tmp_path / "bundle"
    sources = [fixtures / "otlp/trace.json",
               fixtures / "alertmanager/captured_alertmanager_0.25.0/get_alerts.json",
               fixtures / "kubernetes/k9s_captured_objects/rs.json", om, logs, junk,
               tmp_path / "missing.json"]
    code, stdout, stderr = _run(*sources, "--out", out, "--name", "capture", "--json")
    assert code == 0, stderr
    doc = json.loads(stdout)
    placed = {Path(p["source"]).name: (p["dest"], p["format"]) for p in doc["placed"]}
    assert placed == {
        "trace.json": ("traces/trace.otlp.json", "otlp-traces"),
        "get_alerts.json": ("alerts/get_alerts.json", "alertmanager"),
        "rs.json": ("k8s/rs.json", "kubernetes"),
        "scrape.txt": ("metrics/scrape.om", "openmetrics"),  # seconds: OpenMetrics
        "app.log.gz": ("logs/app.jsonl.gz", "jsonl-logs"),  # gzip kept
    }
    assert {Path(s["source"]).name: s["reason"].split(" (")[0] for s in doc["not_imported"]} == {
        "notes.bin": "format not recognised", "missing.json": "no such file"}
    assert doc["records"] == {"alerts": 4, "k8s_objects": 1, "logs": 1, "samples": 2,
                              "series": 1, "spans": 1}
    assert gzip.decompress((out / "logs" / "app.jsonl.gz").read_bytes()).startswith(b'{"ts"')
    assert not (out / "notes.bin").exists()
    manifest = tomllib.loads((out / "bundle.toml").read_text())
    # Window: the trace (2018) to the alerts (2026), rounded out to whole seconds.
    assert manifest == {"name": "capture", "window": {"start": "2018-12-13T14:51:00Z",
                                                      "end": "2026-11-24T04:41:00Z"}}
    assert doc["bundle"]["window"] == manifest["window"]
    assert "notes.bin: not imported: format not recognised" in stderr
    assert "imported 5 files" in stderr
    # The import is cached under the final manifest: opening the bundle imports nothing.
    with TelemetryStore.open(out) as store:
        assert store.report.cached
        assert store.counts()["spans"] == 1
        assert dict(store.query("SELECT key, value FROM bundle_info"))["window_start"] == (
            "2018-12-13T14:51:00Z")


def test_importing_again_never_overwrites(fixtures: Path, tmp_path: Path, w) -> None:
    out = tmp_path / "b"
    trace = fixtures / "otlp/trace.json"
    assert _run(trace, "--out", out)[0] == 0
    code, stdout, _ = _run(trace, "--out", out, "--json")
    assert code == 0
    assert json.loads(stdout)["placed"][0]["action"] == "already in bundle"
    other = w(tmp_path / "x" / "trace.json", (fixtures / "otlp/jaeger_memstore_otel_traces_01.json"
                                              ).read_bytes())
    code, stdout, _ = _run(other, "--out", out, "--json")
    doc = json.loads(stdout)
    assert doc["placed"][0]["dest"] == "traces/trace-2.otlp.json"
    assert (out / "traces" / "trace.otlp.json").read_bytes() == trace.read_bytes()
    assert doc["records"]["spans"] == 5
    assert tomllib.loads((out / "bundle.toml").read_text())["name"] == "b"


def test_nothing_importable_exits_1(tmp_path: Path, w) -> None:
    junk = w(tmp_path / "a.txt", "just words\n")
    code, stdout, stderr = _run(junk, "--out", tmp_path / "out", "--json")
    assert code == 1
    assert json.loads(stdout)["not_imported"][0]["reason"].startswith("format not recognised")
    assert "error: nothing could be imported" in stderr and "hint:" in stderr
    assert not (tmp_path / "out").exists()


def test_files_whose_every_record_is_bad_exit_1(tmp_path: Path, w) -> None:
    bad = w(tmp_path / "m.om", "up 1\nup 2\n# EOF\n")  # samples without timestamps
    code, _, stderr = _run(bad, "--out", tmp_path / "out")
    assert code == 1
    assert "no timestamp" in stderr and "error: no records were imported" in stderr


def test_an_invalid_existing_manifest_stops_before_any_change(fixtures: Path, tmp_path: Path,
                                                              w) -> None:
    out = tmp_path / "b"
    w(out / "bundle.toml", "name = \n")
    code, _, stderr = _run(fixtures / "otlp/trace.json", "--out", out)
    assert code == 1 and "not valid TOML" in stderr
    assert not (out / "traces").exists()
