"""The incident simulator: realistic telemetry bundles with a known root cause.

``generate(name, out_dir, seed=..., scale=...)`` writes one scenario's bundle
(OpenMetrics, OTLP traces/logs/metrics, JSONL logs, Kubernetes Lists,
Alertmanager alerts, PagerDuty incidents, runbooks, ``bundle.toml`` with
``[truth]``) and returns a ``GenerationResult`` with exact counts per file.
``SCENARIOS`` is the registry; ``list_scenarios()`` describes them without
giving the root cause away. See docs/scenarios.md.
"""

from __future__ import annotations

from typing import Any

from obsbench.scenarios.catalog import SCENARIOS, Scenario
from obsbench.scenarios.generator import (
    DEFAULT_SEED,
    SCALES,
    GenerationResult,
    Scale,
    build_world,
    ensure_bundle,
    generate,
    get_scenario,
    load_result,
)

__all__ = [
    "DEFAULT_SEED", "SCALES", "SCENARIOS", "GenerationResult", "Scale", "Scenario",
    "build_world", "ensure_bundle", "generate", "get_scenario", "list_scenarios", "load_result",
]


def list_scenarios(*, show_truth: bool = False) -> list[dict[str, Any]]:
    """Every scenario: name, description, kind, services where symptoms show (no truth)."""
    out = []
    for sc in SCENARIOS.values():
        item: dict[str, Any] = {"name": sc.name, "description": sc.description, "kind": sc.kind,
                                "services": list(sc.symptoms), "window_hours":
                                sc.hours if not sc.history_days else sc.history_days * 24,
                                "default_end": sc.anchor_end}
        if show_truth:
            item["truth"] = {"service": sc.truth_service, "kind": sc.kind,
                             "contributing": list(sc.contributing)}
        out.append(item)
    return out
