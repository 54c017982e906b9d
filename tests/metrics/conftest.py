"""Fixtures of the metrics tests: small bundles, an in-process metrics server, tool calls.

``edge_bundle`` is a bundle around ``data/edge.om`` (written for obsbench by
``data/make_edge.py``: counter resets, gaps beyond the lookback, NaN/+Inf, irregular
scrapes) linked in place, never copied. ``stale_bundle`` holds an OTLP gauge with a
no-recorded-value point, which the store keeps as Prometheus's stale marker.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from tests.conftest import run_shared_dir

from obsbench_servers.common.context import ServerContext
from obsbench_servers.metrics.server import create_server

DATA = Path(__file__).parent / "data"
EDGE_START = 1767225600  # 2026-01-01T00:00:00Z
STALE_START = EDGE_START


def _edge_bundle(root: Path) -> Path:
    b = root / "edge-bundle"
    (b / "metrics").mkdir(parents=True, exist_ok=True)
    link = b / "metrics" / "edge.om"
    if not link.exists():
        with contextlib.suppress(FileExistsError):  # another xdist worker made it first
            link.symlink_to(DATA / "edge.om")
    (b / "bundle.toml").write_text(
        'name = "edge"\n[window]\nstart = "2026-01-01T00:00:00Z"\nend = "2026-01-01T02:00:00Z"\n')
    return b


def _stale_bundle(root: Path) -> Path:
    b = root / "stale-bundle"
    (b / "metrics").mkdir(parents=True, exist_ok=True)
    points = []
    for i in range(20):
        t = STALE_START + i * 60
        if i == 10:  # OTLP "no recorded value": the store keeps a Prometheus stale marker
            points.append({"flags": 1, "timeUnixNano": str(t * 10**9)})
        else:
            points.append({"asDouble": float(i), "timeUnixNano": str(t * 10**9)})
    doc = {"resourceMetrics": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
        "scopeMetrics": [{"metrics": [{"name": "g", "gauge": {"dataPoints": points}}]}]}]}
    (b / "metrics" / "g.otlp.json").write_text(json.dumps(doc))
    (b / "bundle.toml").write_text(
        'name = "stale"\n[window]\nstart = "2026-01-01T00:00:00Z"\nend = "2026-01-01T00:30:00Z"\n')
    return b


@pytest.fixture
def edge_bundle(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
                ) -> Path:
    root = run_shared_dir(tmp_path_factory, "metrics-bundles")
    monkeypatch.setenv("OBSBENCH_CACHE_DIR", str(run_shared_dir(tmp_path_factory,
                                                                "obsbench-store-cache")))
    return _edge_bundle(root)


@pytest.fixture
def stale_bundle(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
                 ) -> Path:
    root = run_shared_dir(tmp_path_factory, "metrics-bundles")
    monkeypatch.setenv("OBSBENCH_CACHE_DIR", str(run_shared_dir(tmp_path_factory,
                                                                "obsbench-store-cache")))
    return _stale_bundle(root)


ToolCall = Callable[..., Any]


def call_tools(ctx: ServerContext, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """Call tools in order on one in-process server (one MCP session); return the results."""
    server = create_server(ctx)

    async def go() -> list[Any]:
        async with Client(server) as client:
            return [await client.call_tool(name, args) for name, args in calls]

    try:
        return anyio.run(go)
    finally:
        ctx.close()


def text(result: Any) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content)
