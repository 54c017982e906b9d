"""Post-mortem benchmark: `obsbench postmortem` end to end, and the report alone.

One command:  python benchmarks/bench_reports.py [--scenario NAME] [--scale small|large]
              [--runs N] [--keep DIR]

Generates the scenario, imports it once (warm store cache, as on a second run), then
times in child processes (median of --runs, peak RSS of the slowest):
- `obsbench postmortem --bundle B --agent offline --json`: the offline investigation,
  the extra timeline calls and the report;
- `build_postmortem` + markdown in-process from that run's evidence (payloads included):
  the cost of the report itself, without any backend call.
Writes results/reports.json and results/reports.md with the load average next to them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import Run, run_measured, write_results

CLI = [sys.executable, "-m", "obsbench"]


def _median(runs: list[Run]) -> tuple[float, float]:
    return statistics.median(r.seconds for r in runs), max(r.peak_rss_mb for r in runs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="batch-table-lock")
    ap.add_argument("--scale", default="small", choices=("small", "large"))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="reuse/keep the generated bundle here")
    args = ap.parse_args()

    from obsbench.scenarios import ensure_bundle

    work = Path(tempfile.mkdtemp(prefix="obsbench-bench-reports-"))
    bundle = args.keep or work / "bundle"
    ensure_bundle(args.scenario, bundle, seed=args.seed, scale=args.scale)
    env = {**os.environ, "OBSBENCH_CACHE_DIR": str(work / "cache"),
           "OBSBENCH_CONFIG_DIR": str(work / "config"), "ANTHROPIC_API_KEY": ""}
    live = [*CLI, "postmortem", "--bundle", str(bundle), "--agent", "offline", "--json"]
    first = run_measured(live, env=env)  # imports the bundle into the store cache
    live_runs = [run_measured(live, env=env) for _ in range(args.runs)]
    evidence = len(json.loads(live_runs[-1].stdout)["evidence"])
    entries = len(json.loads(live_runs[-1].stdout)["timeline"]["entries"])

    # The report alone: build it in-process from the live run's evidence, many times.
    child = """
import json, sys, time
from obsbench.agent.model import InvestigationResult, RootCause
from obsbench.evidence import Evidence, EvidenceStore
from obsbench.reports import build_postmortem
doc = json.load(open(sys.argv[1]))
t0 = time.perf_counter()
for _ in range(20):
    store = EvidenceStore()
    for e in doc["evidence_full"]:
        store.add(Evidence(**e))
    res = InvestigationResult(doc["question"], doc["window"], [RootCause(**{k: rc[k] for k in
        ("service", "kind", "confidence", "summary", "evidence", "reasons")})
        for rc in doc["root_causes"]], "", "offline")
    md = build_postmortem(res, store).to_markdown()
print(json.dumps({"per_report_s": (time.perf_counter() - t0) / 20, "chars": len(md)}))
"""
    full = work / "full.json"
    full_doc = json.loads(live_runs[-1].stdout)
    full_doc["evidence_full"] = _evidence_payloads(bundle, env, args)
    full.write_text(json.dumps(full_doc))
    build = run_measured([sys.executable, "-c", child, str(full)], env=env)
    per_report = json.loads(build.stdout)["per_report_s"]

    live_s, live_rss = _median(live_runs)
    load = os.getloadavg()
    table = [
        f"# postmortem benchmark ({args.scenario}, {args.scale}, seed {args.seed})", "",
        f"Load average during the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
        f"({os.cpu_count()} cores)", "",
        "| what | median wall | peak RSS |", "|---|---|---|",
        f"| `obsbench postmortem --bundle --agent offline --json` (warm store; {evidence} "
        f"evidence items, {entries} timeline lines) | {live_s:.2f} s | {live_rss:.0f} MB |",
        f"| first run (imports the bundle) | {first.seconds:.2f} s | {first.peak_rss_mb:.0f} MB |",
        f"| `build_postmortem` + markdown in-process, from {evidence} evidence items | "
        f"{per_report * 1000:.1f} ms | - |",
    ]
    write_results("reports", {"scenario": args.scenario, "scale": args.scale,
                              "load_avg": load, "live_median_s": live_s,
                              "live_peak_rss_mb": live_rss, "first_run_s": first.seconds,
                              "build_postmortem_s": per_report, "evidence": evidence,
                              "timeline_entries": entries}, table)
    return 0


def _evidence_payloads(bundle: Path, env: dict[str, str], args: argparse.Namespace
                       ) -> list[dict[str, object]]:
    """The full evidence (payloads included) of one offline post-mortem, via the API."""
    code = """
import anyio, json, sys
from pathlib import Path
from obsbench.agent.base import Brief
from obsbench.agent.loop import run_to_end
from obsbench.agent.offline import OfflineInvestigator
from obsbench.hub import Hub
from obsbench.reports.collect import collect_timeline_evidence
from obsbench.scope import resolve_scope
async def go():
    async with Hub(resolve_scope(bundle=Path(sys.argv[1]))) as hub:
        res = await run_to_end(OfflineInvestigator(hub), Brief(question="What happened?"))
        await collect_timeline_evidence(hub, res.window)
        print(json.dumps([e.to_dict() for e in hub.evidence]))
anyio.run(go)
"""
    out = run_measured([sys.executable, "-c", code, str(bundle)], env=env)
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


if __name__ == "__main__":
    sys.exit(main())
