"""Agent benchmark: what obsbench adds around the model in an LLM investigation.

One command:  python benchmarks/bench_agent.py [--scenario NAME] [--seed N] [--repeat N]

On a small scenario bundle (imported once, then from the store cache), measures with
the model's own thinking time taken out:

- hub connect: the five servers in-process, and as five stdio subprocesses;
- a scripted investigation through the loop (4 model turns, 12 tool calls of the
  kinds a model makes: alerts, golden signals, anomalies, error patterns, deployments,
  slow traces, latency breakdown, dependencies, ...), model turns answered at once:
  wall time, tool time, and the loop's own overhead per turn;
- the Anthropic provider's cost of one streamed turn through the real SDK (a recorded
  tool_use SSE body over httpx2.MockTransport): parsing and accounting per turn;
- ``obsbench investigate --bundle DIR --agent anthropic --json`` end to end in a child
  process against a local scripted Messages API on 127.0.0.1 (wall and peak RSS).

Writes results/agent.json and results/agent.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "engine"))
from _harness import run_measured, write_results

TURNS: list[list[tuple[str, dict[str, Any]]]] = [
    [("alerts_list_firing_alerts", {}), ("alerts_get_active_incidents", {}),
     ("metrics_find_anomalies", {})],
    [("metrics_get_service_golden_signals", {"service": "frontend"}),
     ("metrics_get_service_golden_signals", {"service": "user-api"}),
     ("logs_get_error_patterns", {"service": "user-api"}),
     ("infra_get_recent_deployments", {})],
    [("traces_find_slow_traces", {"service": "user-api"}),
     ("traces_get_latency_breakdown", {"service": "user-api"}),
     ("traces_get_service_dependencies", {"service": "user-api"}),
     ("infra_get_service_status", {"service": "user-api"})],
    [("metrics_get_service_golden_signals", {"service": "postgres"})],
]


def _scripted() -> Any:
    from engine_support import ScriptedProvider, submit, turn, use

    steps = [turn("", *(use(name, f"c{i}_{j}", **args) for j, (name, args) in enumerate(calls)))
             for i, calls in enumerate(TURNS)]
    steps.append(turn("", submit("user-api degraded after its deploy [E5] [E8].", {
        "service": "user-api", "kind": "deploy", "confidence": 0.7,
        "summary": "pool exhausted [E6]", "evidence": ["E5", "E6", "E7"]})))
    return ScriptedProvider(steps)


def bench_hub(bundle: Path, repeat: int) -> dict[str, Any]:
    import anyio

    from obsbench.hub import Hub
    from obsbench.scope import resolve_scope

    scope = resolve_scope(bundle=bundle)

    async def connect(transport: str) -> tuple[float, int]:
        t0 = time.perf_counter()
        async with Hub(scope, transport=transport) as hub:  # type: ignore[arg-type]
            return time.perf_counter() - t0, len(hub.tools())

    inproc = [anyio.run(connect, "inprocess") for _ in range(repeat)]
    stdio = [anyio.run(connect, "stdio") for _ in range(max(1, repeat // 2))]
    return {"inprocess_connect_s": statistics.median(t for t, _ in inproc),
            "stdio_connect_s": statistics.median(t for t, _ in stdio),
            "tools": inproc[0][1]}


def bench_loop(bundle: Path, repeat: int) -> dict[str, Any]:
    import anyio
    from engine_support import collect

    from obsbench.agent.events import Done, ToolCallFinished
    from obsbench.hub import Hub
    from obsbench.scope import resolve_scope

    scope = resolve_scope(bundle=bundle)
    runs = []
    for _ in range(repeat):
        async def go() -> tuple[float, list[Any]]:
            async with Hub(scope) as hub:
                t0 = time.perf_counter()
                events = await collect(hub, _scripted(), "What is wrong with the shop?")
                return time.perf_counter() - t0, events

        wall, events = anyio.run(go)
        done = events[-1]
        assert isinstance(done, Done) and done.result.stop_reason == "end_turn", done
        finished = [e for e in events if isinstance(e, ToolCallFinished)]
        assert all(f.outcome == "ok" for f in finished), [(f.name, f.error) for f in finished]
        slowest: dict[str, float] = {}
        for f in finished:  # call ids are c<turn>_<n>: the slowest call bounds each turn
            turn_id = f.call_id.split("_")[0]
            slowest[turn_id] = max(slowest.get(turn_id, 0.0), f.elapsed_s)
        critical = sum(slowest.values())
        turns = len(TURNS) + 1
        runs.append({"wall_s": wall, "calls": len(finished),
                     "sum_tool_s": sum(f.elapsed_s for f in finished),
                     "critical_tool_s": critical,
                     "overhead_per_turn_ms": (wall - critical) / turns * 1000,
                     "events": len(events), "turns": turns})
    best = min(runs, key=lambda r: r["wall_s"])
    return {**best, "median_wall_s": statistics.median(r["wall_s"] for r in runs)}


def bench_provider(repeat: int) -> dict[str, Any]:
    import anyio
    import httpx2

    from obsbench.agent.model import Message
    from obsbench.agent.providers.anthropic import AnthropicProvider
    from obsbench.config import DEFAULT_PRICES

    body = (Path(__file__).resolve().parent.parent / "tests" / "engine" / "data" / "anthropic"
            / "tool_use.sse").read_bytes()

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    async def go() -> float:
        provider = AnthropicProvider(
            api_key="sk-bench", model="claude-sonnet-4-6", prices=DEFAULT_PRICES,
            http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler)))
        msgs = [Message("user", "q")]
        await provider.complete("system", msgs, [])  # warm up the SDK
        t0 = time.perf_counter()
        for _ in range(repeat):
            await provider.complete("system", msgs, [])
        await provider.aclose()
        return (time.perf_counter() - t0) / repeat

    return {"turn_ms": anyio.run(go) * 1000}


def bench_cli(bundle: Path) -> dict[str, Any]:
    from engine_support import SSE, LocalAPI, anthropic_sse

    turns = [(200, SSE, anthropic_sse(tool_uses=[(f"t{i}_{j}", name, args)
                                                 for j, (name, args) in enumerate(calls)]))
             for i, calls in enumerate(TURNS)]
    turns.append((200, SSE, anthropic_sse(tool_uses=[("t_end", "submit_findings", {
        "answer": "user-api degraded after its deploy [E5].", "root_causes": [{
            "service": "user-api", "kind": "deploy", "confidence": 0.7,
            "summary": "pool exhausted [E6]", "evidence": ["E5", "E6"]}]})])))
    api = LocalAPI(turns)
    env = {**os.environ, "ANTHROPIC_BASE_URL": api.url, "ANTHROPIC_API_KEY": "sk-bench"}
    try:
        run = run_measured([sys.executable, "-m", "obsbench", "investigate", "--bundle",
                            str(bundle), "--agent", "anthropic", "--json"], env=env)
    finally:
        api.close()
    import json

    doc = json.loads(run.stdout)
    assert doc["root_causes"][0]["service"] == "user-api" and doc["tool_calls"] == 12, doc
    return {"wall_s": run.seconds, "peak_rss_mb": run.peak_rss_mb,
            "tool_calls": doc["tool_calls"], "evidence": len(doc["evidence"])}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="bad-deploy-db-pool")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    from obsbench.scenarios import ensure_bundle

    work = Path(tempfile.mkdtemp(prefix="obsbench-bench-agent-"))
    os.environ.setdefault("OBSBENCH_CACHE_DIR", str(work / "cache"))
    os.environ.setdefault("OBSBENCH_STATE_DIR", str(work / "state"))
    bundle = ensure_bundle(args.scenario, work / "bundle", seed=args.seed).out_dir
    from obsbench.scope import resolve_scope

    t0 = time.perf_counter()
    resolve_scope(bundle=bundle).context("metrics").store()  # import once, then cached
    import_s = time.perf_counter() - t0

    hub = bench_hub(bundle, args.repeat)
    loop = bench_loop(bundle, args.repeat)
    provider = bench_provider(20)
    cli = bench_cli(bundle)
    load = os.getloadavg()
    data = {"scenario": args.scenario, "seed": args.seed, "import_s": import_s, "hub": hub,
            "loop": loop, "provider": provider, "cli": cli, "load_avg": load}
    table = [
        "# Agent benchmark (model time excluded)",
        "",
        f"Scenario `{args.scenario}` seed {args.seed}, small scale; load average "
        f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} on {os.cpu_count()} cores.",
        "",
        "| what | result |",
        "|---|---|",
        f"| bundle import (first open) | {import_s:.2f} s |",
        f"| hub connect, 5 servers in-process ({hub['tools']} tools) | "
        f"{hub['inprocess_connect_s'] * 1000:.0f} ms |",
        f"| hub connect, 5 stdio subprocesses | {hub['stdio_connect_s']:.2f} s |",
        f"| scripted investigation: {loop['turns']} turns, {loop['calls']} tool calls | "
        f"{loop['wall_s']:.2f} s wall (median {loop['median_wall_s']:.2f} s) |",
        f"| tool time: slowest call of each turn, summed (sum of all calls) | "
        f"{loop['critical_tool_s']:.2f} s ({loop['sum_tool_s']:.2f} s) |",
        f"| loop overhead per turn (wall minus tool critical path) | "
        f"{loop['overhead_per_turn_ms']:.0f} ms |",
        f"| Anthropic provider: one streamed tool_use turn through the SDK | "
        f"{provider['turn_ms']:.1f} ms |",
        f"| `obsbench investigate --json` end to end, scripted Messages API | "
        f"{cli['wall_s']:.2f} s, peak RSS {cli['peak_rss_mb']:.0f} MB |",
    ]
    write_results("agent", data, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
