"""The live helpers start real VictoriaMetrics and Alertmanager, and scenario data round-trips.

VictoriaMetrics ingests a scenario's OpenMetrics (its import API wants
millisecond timestamps) and counts the same samples; Alertmanager accepts the
scenario's alerts and computes the same fingerprints the simulator wrote.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from livestack import (
    ALERTMANAGER,
    VICTORIA,
    require,
    start_alertmanager,
    start_victoria_metrics,
)
from obsbench.scenarios import ensure_bundle
from obsbench.scenarios.timeline import parse_time

pytestmark = pytest.mark.live


def _bundle(factory: pytest.TempPathFactory, name: str) -> Path:
    base = factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "obsbench-bundles"
    return ensure_bundle(name, root / f"{name}-7").out_dir


def test_victoria_metrics_counts_the_same_samples(tmp_path: Path,
                                                  tmp_path_factory: pytest.TempPathFactory
                                                  ) -> None:
    require(VICTORIA)
    out = _bundle(tmp_path_factory, "certificate-expiry")
    text = (out / "metrics" / "blackbox.om").read_text()
    lines, samples = [], 0
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        series, value, ts = line.rsplit(" ", 2)
        lines.append(f"{series} {value} {int(ts) * 1000}")
        samples += 1
    manifest = (out / "bundle.toml").read_text()
    end = parse_time(manifest.split('end = "')[1].split('"')[0])
    with start_victoria_metrics(tmp_path / "vm") as vm:
        r = vm.client.post("/api/v1/import/prometheus", content="\n".join(lines) + "\n")
        assert r.status_code == 204, r.text
        vm.client.get("/internal/force_flush")
        total = 0.0
        for _ in range(50):
            res = vm.get("/api/v1/query", query='sum(count_over_time({__name__=~"probe_.+"}[5h]))',
                         time=end + 1)["data"]["result"]
            total = float(res[0]["value"][1]) if res else 0.0
            if total == samples:
                break
            time.sleep(0.2)
        assert total == samples
    assert vm.proc.poll() is not None, "stopped by PID"


def test_alertmanager_agrees_on_fingerprints(tmp_path: Path,
                                             tmp_path_factory: pytest.TempPathFactory) -> None:
    require(ALERTMANAGER)
    out = _bundle(tmp_path_factory, "bad-deploy-db-pool")
    ours = json.loads((out / "alerts" / "alertmanager.json").read_text())
    now = datetime.now(UTC)
    payload = [{"labels": a["labels"], "annotations": a["annotations"],
                "generatorURL": a["generatorURL"],
                "startsAt": (now - timedelta(minutes=5)).isoformat(),
                "endsAt": (now + timedelta(hours=1)).isoformat()} for a in ours]
    with start_alertmanager(tmp_path / "am") as am:
        r = am.client.post("/api/v2/alerts", json=payload)
        assert r.status_code == 200, r.text
        got = am.get("/api/v2/alerts")
    assert {a["fingerprint"] for a in got} == {a["fingerprint"] for a in ours}
    assert {a["labels"]["alertname"] for a in got} >= {"HighErrorRate", "CPUThrottlingHigh"}
