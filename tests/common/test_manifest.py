"""bundle.toml: strict where it matters, forgiving where forward compatibility needs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from obsbench_servers.common.errors import BadInputError
from obsbench_servers.store.bundle import Manifest, bundle_files, classify, unrecognised_files


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_manifest_with_truth_and_unknown_table(tmp_path: Path) -> None:
    _write(tmp_path / "bundle.toml", """
name = "x"
[window]
start = "2026-03-10T12:00:00Z"
end = "2026-03-10T14:00:00Z"
[truth]
service = "user-api"
kind = "deploy"
onset = "2026-03-10T13:00:00Z"
[scenario]
seed = 7
""")
    m = Manifest.load(tmp_path)
    assert m.truth is not None and m.truth.service == "user-api"
    assert m.window is not None and m.window.end_ns - m.window.start_ns == 7200 * 10**9
    assert m.without_truth().truth is None
    assert m.model_extra == {"scenario": {"seed": 7}}


def test_manifest_errors_name_the_key(tmp_path: Path) -> None:
    _write(tmp_path / "bundle.toml", """
name = "x"
[truth]
service = "a"
kind = "gremlins"
onset = "2026-03-10T13:00:00Z"
""")
    with pytest.raises(BadInputError) as info:
        Manifest.load(tmp_path)
    assert "truth.kind" in info.value.message
    assert "bundle.toml" in info.value.message


def test_manifest_bad_time_and_bad_toml(tmp_path: Path) -> None:
    _write(tmp_path / "bundle.toml", 'name = "x"\n[window]\nstart = "soon"\nend = "later"\n')
    with pytest.raises(BadInputError, match=r"window\.start"):
        Manifest.load(tmp_path)
    _write(tmp_path / "bundle.toml", "name = \n")
    with pytest.raises(BadInputError, match="not valid TOML"):
        Manifest.load(tmp_path)


def test_missing_manifest_takes_the_directory_name(tmp_path: Path) -> None:
    assert Manifest.load(tmp_path).name == tmp_path.name


def test_layout_classifies_by_place_and_suffix(tmp_path: Path) -> None:
    files = {
        "metrics/a.om": "openmetrics",
        "metrics/b.om.gz": "openmetrics",
        "metrics/c.otlp.json": "otlp-metrics",
        "logs/x.jsonl": "jsonl-logs",
        "logs/y.otlp.json": "otlp-logs",
        "traces/t.otlp.json": "otlp-traces",
        "traces/j.jaeger.json": "jaeger",
        "alerts/a.json": "alertmanager",
        "incidents/p.json": "pagerduty",
        "k8s/pods.json": "kubernetes",
        "runbooks/r.md": "runbook",
    }
    for rel in files:
        _write(tmp_path / rel, "")
    _write(tmp_path / "notes.txt", "")
    _write(tmp_path / "logs/readme.txt", "")
    assert {str(p.relative_to(tmp_path)): f for p, f in bundle_files(tmp_path)} == files
    assert classify(tmp_path, tmp_path / "traces" / "t.json") is None
    assert [p.name for p in unrecognised_files(tmp_path)] == ["readme.txt", "notes.txt"]
    order = [f for _, f in bundle_files(tmp_path)]
    assert order.index("openmetrics") < order.index("jsonl-logs") < order.index("runbook")
