"""Every scenario's bundle imports into the embedded store with nothing skipped."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from obsbench.scenarios import SCENARIOS, GenerationResult
from obsbench_servers.store import TelemetryStore


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_imports_with_nothing_skipped(name: str, bundle: Callable[..., GenerationResult]) -> None:
    result = bundle(name)
    with TelemetryStore.open(result.out_dir) as store:
        problems = [(f.path, i.line, i.severity, i.reason) for f in store.report.files
                    for i in f.issues]
        assert problems == []
        assert all(f.skipped == 0 for f in store.report.files)
        imported = {f.path: f for f in store.report.files}
        # Every OpenMetrics sample, log record and span the simulator wrote is in the store.
        for rel, n in result.samples_by_file().items():
            assert imported[rel].records["samples"] == n, rel
        counts = store.counts()
        assert counts["logs"] == result.counts["log_records"]
        assert counts["spans"] == result.counts["spans"]
        assert counts["alerts"] == result.counts["alerts"]
        assert counts["k8s_objects"] == result.counts["k8s_objects"]
        assert counts["incidents"] == result.counts.get("incidents", 0)
        assert counts["runbooks"] == result.counts["runbooks"]
        (window_end,) = store.query("SELECT value FROM bundle_info WHERE key = 'window_end'")[0]
        assert window_end == result.window["end"]
        # The agent-facing manifest of the store has no truth.
        assert store.manifest.without_truth().truth is None
