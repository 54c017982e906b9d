"""Every scenario's OpenMetrics backfills into real Prometheus with nothing lost.

For each scenario: generate the small bundle, run the real ``promtool tsdb
create-blocks-from openmetrics`` on every ``.om`` file into one TSDB, start real
Prometheus on it, and check that the samples Prometheus holds (block stats,
and ``count_over_time`` summed over every series at an explicit time covering
the window) equal exactly what the simulator reported writing. Then the
alerts the simulator derived from its rule evaluator are re-checked with the
same PromQL on real Prometheus. Prometheus is stopped by PID.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from livestack import (
    PROMETHEUS,
    PROMTOOL,
    LiveServer,
    block_samples,
    promtool_backfill,
    require,
    start_prometheus,
)
from obsbench.scenarios import SCENARIOS, ensure_bundle
from obsbench.scenarios.timeline import parse_time

pytestmark = pytest.mark.live


def _batches(prom: LiveServer, start: int, end: int) -> list[list[str]]:
    """Metric names grouped so that no two series of a group share their non-name labels
    (``count_over_time`` drops the name; colliding label sets would be an error)."""
    series = prom.get("/api/v1/series", **{"match[]": '{__name__=~".+"}', "start": start,
                                            "end": end})["data"]
    labelsets: dict[str, set[tuple[tuple[str, str], ...]]] = defaultdict(set)
    for s in series:
        name = s.pop("__name__")
        labelsets[name].add(tuple(sorted(s.items())))
    batches: list[tuple[list[str], set[tuple[tuple[str, str], ...]]]] = []
    for name in sorted(labelsets):
        for names, taken in batches:
            if not (labelsets[name] & taken):
                names.append(name)
                taken.update(labelsets[name])
                break
        else:
            batches.append(([name], set(labelsets[name])))
    return [names for names, _ in batches]


def _count_samples(prom: LiveServer, start: int, end: int) -> int:
    total = 0
    at = end + 1
    rng = f"{end - start + 2}s"
    for names in _batches(prom, start, end):
        q = f'sum(count_over_time({{__name__=~"{"|".join(names)}"}}[{rng}]))'
        data = prom.get("/api/v1/query", query=q, time=at)["data"]["result"]
        total += int(float(data[0]["value"][1])) if data else 0
    return total


def _bundles(factory: pytest.TempPathFactory) -> Path:
    """The run's shared bundle cache (the same place tests/scenarios generates into)."""
    base = factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "obsbench-bundles"
    root.mkdir(parents=True, exist_ok=True)
    return root


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_promtool_backfill_keeps_every_sample(name: str, tmp_path: Path,
                                              tmp_path_factory: pytest.TempPathFactory) -> None:
    require(PROMTOOL)
    require(PROMETHEUS)
    result = ensure_bundle(name, _bundles(tmp_path_factory) / f"{name}-7")
    expected = result.samples_by_file()
    tsdb = tmp_path / "tsdb"
    # Each file is its own promtool run (as an operator backfills exported files); two at a
    # time, since promtool is single-threaded.
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda rel: promtool_backfill(result.out_dir / rel, tsdb), sorted(expected)))
    written = sum(expected.values())
    assert block_samples(tsdb) == written
    start, end = parse_time(result.window["start"]), parse_time(result.window["end"])
    with start_prometheus(tsdb, tmp_path / "prometheus") as prom:
        assert _count_samples(prom, start, end) == written
        _check_alerts(prom, result.out_dir, end - int(SCENARIOS[name].hours * 3600))


def _check_alerts(prom: LiveServer, bundle: Path, detail_start: int) -> None:
    """Each alert that started inside the window: its rule's PromQL is true on real
    Prometheus at that moment (or one evaluation later, for flapping edges)."""
    alerts = json.loads((bundle / "alerts" / "alertmanager.json").read_text())
    checked = 0
    for a in alerts:
        starts = parse_time(a["startsAt"][:19] + "Z")
        if starts < detail_start + 600:
            continue  # started before the window: the data to re-derive it is not here
        expr = urllib.parse.parse_qs(urllib.parse.urlparse(a["generatorURL"]).query)["g0.expr"][0]
        found = False
        for t in (starts, starts + 60):
            result = prom.get("/api/v1/query", query=expr, time=t)["data"]["result"]
            subject = {k: v for k, v in a["labels"].items()
                       if k in ("service", "pod", "instance", "persistentvolumeclaim",
                                "horizontalpodautoscaler", "job_name")}
            if any(all(r["metric"].get(k, v) == v for k, v in subject.items()) for r in result):
                found = True
                break
        assert found, f"{a['labels']['alertname']} {a['labels']}: `{expr}` false at {starts}"
        checked += 1
    assert checked >= 1
