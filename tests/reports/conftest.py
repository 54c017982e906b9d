"""Shared fixtures for the report tests: real tool calls over scenario bundles, made once.

The batch-table-lock investigation is hand-made (the conclusion is written here) but its
evidence comes from real calls through the hub over the scenario's bundle, plus the calls
``collect_timeline_evidence`` adds, so the timeline is read from real tool outputs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from obsbench.agent.model import Finding, InvestigationResult, RootCause
from obsbench.evidence import EvidenceStore
from obsbench.hub import Hub
from obsbench.reports.collect import collect_timeline_evidence
from obsbench.scenarios import GenerationResult
from obsbench.scope import resolve_scope

BTL_WINDOW = {"start": "2026-03-18T00:30:00Z", "end": "2026-03-18T05:30:00Z"}


def _tool_ids(store: EvidenceStore, tool: str) -> list[str]:
    return [e.id for e in store if f"{e.server}_{e.tool}" == tool and not e.is_error]


@pytest.fixture(scope="session")
def btl(bundle: Callable[..., GenerationResult], tmp_path_factory: pytest.TempPathFactory
        ) -> dict[str, Any]:
    """The batch-table-lock bundle, its truth, and a result whose evidence is real."""
    gen = bundle("batch-table-lock")
    mp = pytest.MonkeyPatch()
    # The run's shared store cache (as ``bundle_dir`` uses): each bundle is imported once.
    # (the same directory tests/conftest.py's run_shared_dir gives bundle_dir)
    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base)
    mp.setenv("OBSBENCH_CACHE_DIR", str(root / "obsbench-store-cache"))

    async def go() -> tuple[InvestigationResult, EvidenceStore]:
        async with Hub(resolve_scope(bundle=Path(gen.out_dir))) as hub:
            await hub.call("metrics_query_range", {
                "expr": 'pg_locks_count{mode="sharerowexclusivelock"}', **BTL_WINDOW})
            await hub.call("infra_get_recent_deployments", dict(BTL_WINDOW))
            await collect_timeline_evidence(hub, BTL_WINDOW)
            store = hub.evidence
        locks = _tool_ids(store, "metrics_query_range")
        deploys = _tool_ids(store, "infra_get_recent_deployments")
        events = _tool_ids(store, "infra_get_events")
        patterns = _tool_ids(store, "logs_get_error_patterns")
        result = InvestigationResult(
            question="Why is checkout failing to place orders?", window=dict(BTL_WINDOW),
            root_causes=[RootCause(
                "nightly-reconcile", "database", 0.8,
                "the nightly-reconcile CronJob held a SHARE ROW EXCLUSIVE lock on orders",
                [*events, *locks])],
            answer=f"nightly-reconcile locked orders [{locks[0]}] and started at 02:00 "
                   f"[{events[0]}].",
            agent="test",
            contributing=[Finding("orders' Hikari pool filled with blocked connections",
                                  patterns, "orders")],
            ruled_out=[Finding("orders 5.4.2 rolled out 42 minutes earlier; its errors are "
                               "lock timeouts", deploys, "orders")],
            actions=[Finding("terminate the blocking session; batch the UPDATE", locks)],
            not_checked=["traces"], tool_calls=len(store))
        return result, store

    try:
        result, store = anyio.run(go)
    finally:
        mp.undo()
    return {"gen": gen, "truth": gen.truth, "result": result, "store": store}
