"""Differential test: the embedded PromQL engine against a real Prometheus, on the same data.

One Prometheus for the module, on a TSDB backfilled with promtool from the same OpenMetrics
the embedded store imports: a scenario bundle (real exporter naming, histograms, counter
resets at restarts) and tests/metrics/data/edge.om (hand-made: resets, gaps beyond the
lookback, NaN/+Inf, irregular scrapes). Every expression (curated, plus generated from the
grammar) is evaluated as an instant query and as a range query with explicit times on both;
label sets must be identical, values equal within 1e-9 relative, NaN and missing points
agree. Prometheus's evaluation interval is set to 1m, the engine's default for subqueries
without a step.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from tests.conftest import run_shared_dir
from tests.metrics import promql_cases as pc
from tests.metrics.conftest import DATA, _edge_bundle

from livestack import LiveServer, promtool_backfill, require, start_prometheus
from obsbench.scenarios import ensure_bundle
from obsbench_servers.metrics.promql.engine import Engine
from obsbench_servers.metrics.promql.storage import StoreSource
from obsbench_servers.store import TelemetryStore

pytestmark = pytest.mark.live

SCENARIO = "bad-deploy-db-pool"
SCENARIO_END = 1773154800  # 2026-03-10T15:00:00Z
EDGE_EXPRS = pc.CURATED_EDGE + pc.generated(pc.EDGE_SELECTORS, 110, seed=1)
SCENARIO_EXPRS = pc.CURATED_SCENARIO + pc.generated(pc.SCENARIO_SELECTORS, 60, seed=2)
# instant time, and (start, end, step) of the range queries: deliberately not aligned
EDGE_TIMES = (pc.EDGE_START + 3600 + 17.3, (pc.EDGE_START + 600 + 7, pc.EDGE_START + 7500, 37))
SCENARIO_TIMES = (SCENARIO_END - 1500.25, (SCENARIO_END - 3 * 3600 + 11, SCENARIO_END, 60))


@dataclass
class Pair:
    prometheus: LiveServer
    engines: dict[str, Engine]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    require("promtool")
    root = run_shared_dir(tmp_path_factory, "obsbench-bundles")
    scenario = ensure_bundle(SCENARIO, root / f"{SCENARIO}-7", seed=7).out_dir
    edge = _edge_bundle(run_shared_dir(tmp_path_factory, "metrics-bundles"))
    work = tmp_path_factory.mktemp("promdiff")
    tsdb = work / "tsdb"
    tsdb.mkdir()
    for om in [*sorted((scenario / "metrics").glob("*.om")), DATA / "edge.om"]:
        promtool_backfill(om, tsdb)
    cache = run_shared_dir(tmp_path_factory, "obsbench-store-cache")
    stores = {"edge": TelemetryStore.open(edge, cache=cache),
              "scenario": TelemetryStore.open(scenario, cache=cache)}
    config = "global:\n  scrape_interval: 1h\n  evaluation_interval: 1m\n"
    with start_prometheus(tsdb, work / "prom", config=config) as prom:
        yield Pair(prom, {k: Engine(StoreSource(v)) for k, v in stores.items()})
    for st in stores.values():
        st.close()


def _compare(pair: Pair, data: str, expr: str, kind: str) -> None:
    t, (start, end, step) = EDGE_TIMES if data == "edge" else SCENARIO_TIMES
    eng = pair.engines[data]
    client = pair.prometheus.client
    if kind == "instant":
        resp = client.get("/api/v1/query", params={"query": expr, "time": t}).json()
    else:
        resp = client.get("/api/v1/query_range", params={
            "query": expr, "start": start, "end": end, "step": step}).json()
    embedded: dict[str, Any] | None = None
    error: str | None = None
    try:
        if kind == "instant":
            embedded = eng.instant(expr, round(t * 1000))
        else:
            embedded = eng.range(expr, round(start * 1000), round(end * 1000), step * 1000)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    if resp["status"] != "success":
        assert error is not None, f"Prometheus refused ({resp.get('error')}), embedded answered"
        return
    assert error is None, f"Prometheus answered, embedded failed: {error}"
    assert embedded is not None
    ties = kind == "range" and ("topk" in expr or "bottomk" in expr)
    problem = pc.diff(resp["data"], embedded, ties=ties)
    assert problem is None, problem


def test_enough_expressions() -> None:
    assert len(EDGE_EXPRS) + len(SCENARIO_EXPRS) >= 200


def test_the_comparisons_are_not_vacuous(pair: Pair) -> None:
    """At least 200 expressions, instant and range, give Prometheus data to compare against:
    an empty result or an error on both sides agrees trivially, so it does not count."""
    with_data = {"instant": 0, "range": 0}
    for data, exprs in (("edge", EDGE_EXPRS), ("scenario", SCENARIO_EXPRS)):
        t, (start, end, step) = EDGE_TIMES if data == "edge" else SCENARIO_TIMES
        for expr in exprs:
            for kind, path, params in (
                    ("instant", "/api/v1/query", {"query": expr, "time": t}),
                    ("range", "/api/v1/query_range",
                     {"query": expr, "start": start, "end": end, "step": step})):
                resp = pair.prometheus.client.get(path, params=params).json()
                if resp["status"] == "success" and resp["data"]["result"]:
                    with_data[kind] += 1
    assert min(with_data.values()) >= 200, with_data


@pytest.mark.parametrize("kind", ["instant", "range"])
@pytest.mark.parametrize("expr", EDGE_EXPRS)
def test_edge_cases_match_prometheus(pair: Pair, expr: str, kind: str) -> None:
    _compare(pair, "edge", expr, kind)


@pytest.mark.parametrize("kind", ["instant", "range"])
@pytest.mark.parametrize("expr", SCENARIO_EXPRS)
def test_scenario_queries_match_prometheus(pair: Pair, expr: str, kind: str) -> None:
    _compare(pair, "scenario", expr, kind)


@pytest.mark.parametrize("expr", ["vector(1e-5)", "vector(1e-7)", "vector(1e16)", "vector(1e21)",
                                  "vector(1/3)", "vector(2^70)", "vector(-1e-9)",
                                  "vector(0 * -1)"])
def test_values_are_formatted_byte_for_byte_like_prometheus(pair: Pair, expr: str) -> None:
    t = EDGE_TIMES[0]
    prom = pair.prometheus.client.get("/api/v1/query", params={"query": expr, "time": t}).json()
    mine = pair.engines["edge"].instant(expr, round(t * 1000))
    assert mine == prom["data"]
