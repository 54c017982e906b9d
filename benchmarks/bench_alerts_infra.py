"""Latency of the alerts and infra tools on scenario bundles (embedded store, warm cache).

One command:  python benchmarks/bench_alerts_infra.py [--scale small|large] [--repeat N]

For each tool, in a child process with the bundle already imported: the first call
(includes opening the store and building the server) and the median / max of N
further calls, through an in-memory MCP session as the CLI and the hub call them.
Then two whole CLI commands (a fresh process each: imports, store open, call,
print) with wall time and peak RSS. Writes results/alerts_infra.json and .md.

Aims: every tool answers in well under a second on a bundle (the 30-day right-sizing
included), so an investigation's few dozen calls cost seconds, not minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import run_measured, write_results

CHILD = """
import json, statistics, sys, time
import anyio
from mcp import Client
from obsbench_servers.common.context import ServerContext
from obsbench_servers.registry import build_server

cases = json.loads(sys.argv[1])
repeat = int(sys.argv[2])
out = []

async def run(signal, bundle, tool, args):
    ctx = ServerContext.for_bundle(signal, bundle)
    t0 = time.perf_counter()
    async with Client(build_server(signal, ctx)) as c:
        r = await c.call_tool(tool, args)
        first = time.perf_counter() - t0
        assert not r.is_error, r.content
        times = []
        for _ in range(repeat):
            t1 = time.perf_counter()
            await c.call_tool(tool, args)
            times.append(time.perf_counter() - t1)
    ctx.close()
    out.append({"signal": signal, "tool": tool, "args": args, "first_s": first,
                "median_s": statistics.median(times), "max_s": max(times),
                "text_chars": len(r.content[0].text)})

async def main():
    for case in cases:
        await run(*case)

anyio.run(main)
print(json.dumps(out))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="small", choices=("small", "large"))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--keep", type=Path, help="reuse/keep the generated bundles here")
    args = ap.parse_args()

    from obsbench.scenarios import ensure_bundle

    work = Path(tempfile.mkdtemp(prefix="obsbench-bench-alerts-infra-"))
    root = args.keep or work / "bundles"
    env = {**os.environ, "OBSBENCH_CACHE_DIR": str(work / "cache"),
           "OBSBENCH_STATE_DIR": str(work / "state")}
    try:
        bundles = {}
        for name in ("bad-deploy-db-pool", "capacity-rightsizing", "memory-leak-oom"):
            bundles[name] = str(ensure_bundle(name, root / f"{name}-{args.scale}",
                                              scale=args.scale).out_dir)
        bad, cap, oom = (bundles[n] for n in ("bad-deploy-db-pool", "capacity-rightsizing",
                                              "memory-leak-oom"))
        cases = [
            ["alerts", bad, "list_firing_alerts", {}],
            ["alerts", bad, "get_active_incidents", {}],
            ["alerts", bad, "get_incident_timeline", {"incident_id": "P3ETBPP"}],
            ["alerts", bad, "get_runbook", {"alert_name": "high_error_rate"}],
            ["infra", oom, "get_service_status", {"service": "inventory"}],
            ["infra", bad, "get_recent_deployments", {"window": "24h"}],
            ["infra", oom, "get_events", {"window": "4h"}],
            ["infra", oom, "get_resource_utilization", {"service": "inventory", "window": "4h"}],
            ["infra", cap, "get_resource_utilization", {"service": "api-gateway",
                                                        "window": "30d"}],
            ["infra", cap, "get_autoscaling_events", {"service": "api-gateway", "window": "30d"}],
            ["infra", oom, "check_health_checks", {"service": "inventory"}],
        ]
        # Import every bundle once (cold), so the timed runs measure the tools.
        run_measured([sys.executable, "-c",
                      "import sys\nfrom obsbench_servers.store import TelemetryStore\n"
                      "[TelemetryStore.open(p).close() for p in sys.argv[1:]]",
                      *bundles.values()], env=env)
        child = run_measured([sys.executable, "-c", CHILD, json.dumps(cases),
                              str(args.repeat)], env=env)
        results = json.loads(child.stdout.strip().splitlines()[-1])
        cli = {}
        for label, cmd in (
            ("obsbench infra usage api-gateway --since 30d", ["infra", "usage", "api-gateway",
                                                              "--since", "30d", "--bundle", cap,
                                                              "--json"]),
            ("obsbench alerts timeline P3ETBPP", ["alerts", "timeline", "P3ETBPP", "--bundle",
                                                  bad, "--json"]),
        ):
            run = run_measured([shutil.which("obsbench") or "obsbench", *cmd], env=env)
            cli[label] = {"seconds": run.seconds, "peak_rss_mb": run.peak_rss_mb}
        load = os.getloadavg()
        table = [
            f"# alerts and infra tools ({args.scale} bundles, warm store, {args.repeat} repeats)",
            "",
            f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
            f"({os.cpu_count()} CPUs)",
            "",
            "| server | tool | arguments | first call (s) | median (s) | max (s) | text chars |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in results:
            table.append(f"| {r['signal']} | {r['tool']} | {json.dumps(r['args'])} | "
                         f"{r['first_s']:.3f} | {r['median_s']:.3f} | {r['max_s']:.3f} | "
                         f"{r['text_chars']} |")
        table += ["", "| command (fresh process) | wall (s) | peak RSS (MB) |", "|---|---|---|"]
        for label, m in cli.items():
            table.append(f"| `{label}` | {m['seconds']:.2f} | {m['peak_rss_mb']:.0f} |")
        write_results("alerts_infra", {"scale": args.scale, "repeat": args.repeat,
                                       "loadavg": load, "tools": results, "cli": cli}, table)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
