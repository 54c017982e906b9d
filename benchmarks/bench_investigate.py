"""Offline investigation benchmark: ``obsbench investigate --bundle DIR --json`` end to end.

One command:  python benchmarks/bench_investigate.py [--scenario NAME] [--seed N] [--repeat N]

Issue 7's aim: on the demo scenario the whole offline investigation, in a fresh
process, takes under 10 s on a 2-core machine. Measured in the same run, as the
baseline: ``obsbench alerts firing --bundle DIR --json`` (one tool call in a fresh
process: interpreter, imports, store open), so the ratio says what the
investigation itself adds. The bundle is imported once before timing (the store
cache is what a second run sees); the first, cold run is reported separately.

Writes results/investigate.json and results/investigate.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import run_measured, write_results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", default="bad-deploy-db-pool")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    exe = shutil.which("obsbench") or sys.exit("obsbench is not on PATH (pip install -e .)")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "OBSBENCH_CACHE_DIR": f"{tmp}/cache",
               "OBSBENCH_CONFIG": f"{tmp}/none.toml", "OBSBENCH_STATE_DIR": f"{tmp}/state"}
        env.pop("ANTHROPIC_API_KEY", None)
        bundle = f"{tmp}/bundle"
        run_measured([exe, "scenarios", "generate", args.scenario, "--out", bundle,
                      "--seed", str(args.seed)], env=env)
        investigate = [exe, "investigate", "--bundle", bundle, "--json"]
        baseline_cmd = [exe, "alerts", "firing", "--bundle", bundle, "--json"]
        cold = run_measured(investigate, env=env)  # imports the bundle into the cache
        runs = [run_measured(investigate, env=env) for _ in range(args.repeat)]
        base = [run_measured(baseline_cmd, env=env) for _ in range(args.repeat)]
        result = json.loads(runs[-1].stdout)
    wall = statistics.median(r.seconds for r in runs)
    base_wall = statistics.median(r.seconds for r in base)
    rss = max(r.peak_rss_mb for r in runs)
    top = result["root_causes"][0]
    load = os.getloadavg()
    data = {
        "scenario": args.scenario, "seed": args.seed, "repeat": args.repeat,
        "investigate_cold_s": round(cold.seconds, 2), "investigate_s": round(wall, 2),
        "baseline_one_tool_s": round(base_wall, 2), "ratio": round(wall / base_wall, 2),
        "peak_rss_mb": round(rss), "tool_calls": result["tool_calls"],
        "evidence_items": len(result["evidence"]),
        "root_cause": f"{top['service']}/{top['kind']}",
        "in_process_elapsed_s": result["elapsed_s"], "aim_s": 10.0,
        "load_average": [round(x, 2) for x in load],
    }
    table = [
        "# Offline investigation benchmark",
        "",
        f"`python benchmarks/bench_investigate.py` — `obsbench investigate --bundle DIR --json` "
        f"on `{args.scenario}` (seed {args.seed}, small scale), fresh process each run, store "
        f"cache warm; median of {args.repeat}. Load average {load[0]:.2f} {load[1]:.2f} "
        f"{load[2]:.2f} on {os.cpu_count()} cores.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| investigate, first run (bundle import included) | {cold.seconds:.2f} s |",
        f"| investigate (aim: under 10 s) | {wall:.2f} s |",
        f"| of which inside the investigation | {result['elapsed_s']:.2f} s |",
        f"| baseline: one tool call in a fresh process | {base_wall:.2f} s |",
        f"| investigate / baseline | {wall / base_wall:.2f}x |",
        f"| tool calls / evidence items | {result['tool_calls']} / {len(result['evidence'])} |",
        f"| peak RSS | {rss:.0f} MB |",
        f"| root cause named | {top['service']} / {top['kind']} |",
    ]
    write_results("investigate", data, table)


if __name__ == "__main__":
    main()
