"""Traces benchmark: one 10,000-span trace read in detail, and searches over 100k+ spans.

One command:  python benchmarks/bench_traces.py [--scenario NAME] [--seed N] [--keep DIR]
              [--repeat N]

1. ``get_trace_details`` on a 10,000-span trace (the test suite's ``big_trace``: a 2,000-wide
   fan, a 500-query N+1, a 20-deep chain with concurrent leaves, 19 errors): the analysis
   alone (tree, critical path, compression, errors, text and full structured tree) and the
   whole tool call over an in-memory MCP session (store read, JSON, MCP serialisation).
   Aim (issue 5): under 100 ms.
2. Over the ``large`` scenario (>= 100k spans): ``find_slow_traces``,
   ``find_error_traces``, ``get_service_dependencies`` and ``get_latency_breakdown``
   through MCP, each over the incident hour (and the slow search over the whole window).
3. A trace of 1,000,001 spans in the store: ``get_trace_details`` samples 50,000 of them.

Medians of ``--repeat`` runs, after one warm-up call (the store is opened once). Writes
results/traces.json and results/traces.md, with the load average next to the numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "traces"))
from _harness import write_results  # noqa: E402


def median_ms(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """Median wall ms, median CPU ms of this process (steadier on a shared machine), result."""
    out = fn()  # warm-up
    wall, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return statistics.median(wall), statistics.median(cpu), out


def mcp_timings(bundle: Path, cases: list[tuple[str, str, dict[str, Any]]], repeat: int
                ) -> tuple[dict[str, tuple[float, float, Any]], float, int]:
    """Median wall and CPU ms of each (label, tool, args) over one in-memory MCP session
    (after a warm-up call each); the first call's time (the store opens) and the span count."""
    import anyio
    from mcp import Client

    from obsbench_servers.common.context import ServerContext
    from obsbench_servers.traces.server import create_server

    ctx = ServerContext.for_bundle("traces", bundle)
    out: dict[str, tuple[float, float, Any]] = {}

    async def go() -> float:
        async with Client(create_server(ctx)) as client:
            async def call(tool: str, args: dict[str, Any]) -> Any:
                r = await client.call_tool(tool, args)
                if r.is_error:
                    raise RuntimeError(str(getattr(r.content[0], "text", r.content[0])))
                return r

            t0 = time.perf_counter()
            await call("list_trace_services", {})
            first = (time.perf_counter() - t0) * 1000
            for label, tool, args in cases:
                r = await call(tool, args)
                wall, cpu = [], []
                for _ in range(repeat):
                    t0, c0 = time.perf_counter(), time.process_time()
                    r = await call(tool, args)
                    wall.append((time.perf_counter() - t0) * 1000)
                    cpu.append((time.process_time() - c0) * 1000)
                out[label] = (statistics.median(wall), statistics.median(cpu), r)
            return first

    try:
        first = anyio.run(go)
        spans = int(ctx.store().query("SELECT count(*) FROM spans")[0][0])
    finally:
        ctx.close()
    return out, first, spans


def bench_big_trace(work: Path, repeat: int) -> dict[str, Any]:
    from traces_builders import TRACE, big_trace, write_bundle

    from obsbench_servers.common.budget import estimate_tokens
    from obsbench_servers.traces import views
    from obsbench_servers.traces.compress import compress
    from obsbench_servers.traces.critical_path import critical_path
    from obsbench_servers.traces.failures import error_groups
    from obsbench_servers.traces.tree import build_tree

    def analyse() -> str:
        tree = build_tree(big_trace())
        cp = critical_path(tree)
        _, text, _, _ = views.trace_details(tree, cp, compress(tree, cp), error_groups(tree),
                                            total_spans=len(tree.spans), total_errors=None,
                                            notes=[])
        return text

    def structured() -> dict[str, Any]:
        tree = build_tree(big_trace())
        cp = critical_path(tree)
        return views.trace_details(tree, cp, compress(tree, cp), error_groups(tree),
                                   total_spans=len(tree.spans), total_errors=None, notes=[])[2]

    from obsbench_servers.common.redact import Redactor

    data = structured()
    redactor = Redactor()
    r_wall, r_cpu, _ = median_ms(lambda: redactor.value(data), max(3, repeat // 3))
    g_wall, g_cpu, _ = median_ms(big_trace, repeat)
    a_wall, a_cpu, _ = median_ms(analyse, repeat)  # includes generating the spans
    bundle = write_bundle(work / "big", big_trace())
    timings, _, _ = mcp_timings(bundle, [("details", "get_trace_details", {"trace_id": TRACE})],
                                repeat)
    c_wall, c_cpu, r = timings["details"]
    return {"spans": 10_000, "analysis_ms": round(a_wall - g_wall, 1),
            "analysis_cpu_ms": round(a_cpu - g_cpu, 1), "tool_call_ms": round(c_wall, 1),
            "tool_call_cpu_ms": round(c_cpu, 1),
            "redaction_ms": round(r_wall, 1), "redaction_cpu_ms": round(r_cpu, 1),
            "text_tokens": estimate_tokens(r.content[0].text),
            "budget_tokens": views.DETAILS_TOKENS}


def bench_search(bundle: Path, repeat: int) -> dict[str, Any]:
    import tomllib

    from obsbench_servers.common.timeutil import ns_to_rfc3339, parse_rfc3339_ns

    manifest = tomllib.loads((bundle / "bundle.toml").read_text())
    onset = parse_rfc3339_ns(manifest["truth"]["onset"])
    hour = {"start": ns_to_rfc3339(onset), "end": ns_to_rfc3339(onset + 3600 * 10**9)}
    whole = {"start": manifest["window"]["start"], "end": manifest["window"]["end"]}
    cases = [
        ("find_slow_traces (4 h window)", "find_slow_traces", {"service": "api-gateway",
                                                               **whole}),
        ("find_slow_traces (incident hour)", "find_slow_traces", {"service": "user-api", **hour}),
        ("find_error_traces (incident hour)", "find_error_traces", {"service": "frontend",
                                                                    **hour}),
        ("get_service_dependencies (incident hour)", "get_service_dependencies", hour),
        ("get_latency_breakdown (incident hour vs the hour before)", "get_latency_breakdown",
         {"service": "api-gateway", **hour}),
    ]
    from obsbench_servers.store import TelemetryStore

    # import the bundle into the store cache first: a fresh import of the large bundle is
    # not what a tool call costs (and on a loaded machine it can outlast the tool timeout)
    t0 = time.perf_counter()
    TelemetryStore.open(bundle).close()
    import_ms = (time.perf_counter() - t0) * 1000
    timings, first, spans = mcp_timings(bundle, cases, repeat)
    return {"spans": spans, "import_ms": round(import_ms, 1), "first_call_ms": round(first, 1),
            "tools": {label: {"ms": round(ms, 1), "cpu_ms": round(cpu, 1),
                              "summary": r.structured_content["summary"]}
                      for label, (ms, cpu, r) in timings.items()}}


def bench_million(work: Path, repeat: int) -> dict[str, Any]:
    import duckdb
    from traces_builders import BIG_START_NS, TRACE, span, write_bundle

    from obsbench_servers.store import TelemetryStore

    root = span(1, None, "gateway", "POST /import", 0, 5_000)
    root.start_ns += BIG_START_NS
    root.end_ns += BIG_START_NS
    bundle = write_bundle(work / "huge", [root])
    # a cache of its own: the spans are added to the imported database itself
    os.environ["OBSBENCH_CACHE_DIR"] = str(work / "cache-huge")
    store = TelemetryStore.open(bundle)
    db_path = store.db_path
    store.close()
    con = duckdb.connect(str(db_path))
    con.execute(
        "INSERT INTO spans SELECT ?, printf('%016x', i + 2), '0000000000000001', "
        "'worker' || (i % 7), 'chunk', 'internal', ? + i * 1000, ? + i * 1000 + 500000, "
        "'unset', NULL, NULL, NULL, NULL, NULL, NULL FROM range(1000000) t(i)",
        [TRACE, root.start_ns, root.start_ns])
    con.execute("CHECKPOINT")
    con.close()
    timings, _, spans = mcp_timings(
        bundle, [("details", "get_trace_details", {"trace_id": TRACE})], max(1, repeat // 3))
    ms, cpu, r = timings["details"]
    return {"spans": spans, "loaded": r.structured_content["data"]["span_count"],
            "tool_call_ms": round(ms, 1), "tool_call_cpu_ms": round(cpu, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="bad-deploy-db-pool")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", type=Path, help="reuse/keep the large bundle here")
    ap.add_argument("--repeat", type=int, default=9)
    args = ap.parse_args()

    from obsbench.scenarios import ensure_bundle

    work = Path(tempfile.mkdtemp(prefix="obsbench-bench-traces-"))
    os.environ.setdefault("OBSBENCH_CACHE_DIR", str(work / "cache"))
    bundle = args.keep or work / "large"
    print(f"large bundle at {bundle} (generated if absent) ...", file=sys.stderr)
    ensure_bundle(args.scenario, bundle, seed=args.seed, scale="large")

    big = bench_big_trace(work, args.repeat)
    search = bench_search(bundle, args.repeat)
    million = bench_million(work, args.repeat)
    load = os.getloadavg()
    table = [
        "# Traces benchmark",
        "",
        f"Load average during the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
        f"({os.cpu_count()} CPUs); medians of {args.repeat} runs after a warm-up. CPU is "
        "this process's CPU time (all threads): steadier than wall time on a shared machine.",
        "",
        "| what | wall | CPU |",
        "|---|---|---|",
        f"| get_trace_details analysis, {big['spans']:,} spans (aim < 100 ms) | "
        f"{big['analysis_ms']} ms | {big['analysis_cpu_ms']} ms |",
        f"| get_trace_details tool call over MCP, {big['spans']:,} spans (store read, full "
        f"tree in structured content) | {big['tool_call_ms']} ms | {big['tool_call_cpu_ms']} ms |",
        f"| (of which common/redact.py's Redactor over the structured content, which every "
        f"tool result passes since issue 9) | {big['redaction_ms']} ms | "
        f"{big['redaction_cpu_ms']} ms |",
        f"| (its text: {big['text_tokens']:,} tokens; budget {big['budget_tokens']:,}) | | |",
        f"| (import of the large bundle into the store cache, once: {search['import_ms']:,} ms; "
        "not a tool call) | | |",
        f"| first call on the large bundle ({search['spans']:,} spans; store opened) | "
        f"{search['first_call_ms']} ms | |",
        *[f"| {label} over {search['spans']:,} spans | {v['ms']} ms | {v['cpu_ms']} ms |"
          for label, v in search["tools"].items()],
        f"| get_trace_details on a trace of {million['spans']:,} spans "
        f"(sampled to {million['loaded']:,}) | {million['tool_call_ms']} ms | "
        f"{million['tool_call_cpu_ms']} ms |",
    ]
    write_results("traces", {"scenario": args.scenario, "seed": args.seed,
                             "load_average": load, "repeat": args.repeat,
                             "big_trace": big, "search": search, "million": million}, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
