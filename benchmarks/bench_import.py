"""Import benchmark: the `large` scenario into the embedded store vs promtool's backfill.

One command:  python benchmarks/bench_import.py [--scenario NAME] [--seed N] [--keep DIR]

Generates the scenario at `large` scale (>= 1M log lines, >= 1M samples, >= 100k spans),
imports the whole bundle in a child process with a cold cache (records/s per format and
peak RSS), then backfills the same OpenMetrics files with `promtool tsdb
create-blocks-from openmetrics` (samples/s, peak RSS), in the same run. Writes
results/import.json and results/import.md.

Aims (issue 2): OpenMetrics import at least as fast as promtool's backfill,
>= 200k log lines/s, peak RSS under 1 GB.
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

IMPORT_CHILD = """
import json, sys
from pathlib import Path
from obsbench_servers.store import TelemetryStore
store = TelemetryStore.open(Path(sys.argv[1]))
print(json.dumps({"report": store.report.to_dict(), "counts": store.counts()}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="bad-deploy-db-pool")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", type=Path, help="reuse/keep the generated bundle here")
    args = ap.parse_args()

    from obsbench.scenarios import generate

    work = Path(tempfile.mkdtemp(prefix="obsbench-bench-import-"))
    bundle = args.keep or work / "bundle"
    try:
        if not (bundle / "bundle.toml").exists():
            print(f"generating {args.scenario} (large) into {bundle} ...", file=sys.stderr)
            gen = generate(args.scenario, bundle, seed=args.seed, scale="large")
            print(f"  generated in {gen.seconds:.1f}s: {gen.counts}", file=sys.stderr)

        env = {**os.environ, "OBSBENCH_CACHE_DIR": str(work / "cache")}
        ours = run_measured([sys.executable, "-c", IMPORT_CHILD, str(bundle)], env=env)
        rep = json.loads(ours.stdout.strip().splitlines()[-1])
        report, counts = rep["report"], rep["counts"]
        assert report["skipped"] == 0, f"the benchmark bundle must import cleanly: {report}"

        by_format: dict[str, dict[str, float]] = {}
        for f in report["files"]:
            agg = by_format.setdefault(f["format"], {"records": 0, "seconds": 0.0, "bytes": 0})
            agg["records"] += sum(n for t, n in f["records"].items() if t != "series")
            agg["seconds"] += f["seconds"]
            agg["bytes"] += f["bytes"]

        om_files = sorted((bundle / "metrics").glob("*.om"))
        om_samples = by_format["openmetrics"]["records"]
        prom_seconds, prom_peak = 0.0, 0.0
        for om in om_files:
            out_dir = work / f"tsdb-{om.stem}"
            run = run_measured(["promtool", "tsdb", "create-blocks-from", "openmetrics",
                                str(om), str(out_dir)])
            prom_seconds += run.seconds
            prom_peak = max(prom_peak, run.peak_rss_mb)
            shutil.rmtree(out_dir, ignore_errors=True)

        def rate(fmt: str) -> float:
            agg = by_format.get(fmt)
            return agg["records"] / agg["seconds"] if agg and agg["seconds"] else 0.0

        om_rate = rate("openmetrics")
        prom_rate = om_samples / prom_seconds if prom_seconds else 0.0
        data = {
            "scenario": args.scenario,
            "seed": args.seed,
            "counts": counts,
            "import_wall_s": round(ours.seconds, 2),
            "import_peak_rss_mb": round(ours.peak_rss_mb, 1),
            "formats": {k: {**v, "records_per_s": round(v["records"] / v["seconds"]) if
                            v["seconds"] else None} for k, v in by_format.items()},
            "promtool": {"files": len(om_files), "samples": om_samples,
                         "seconds": round(prom_seconds, 2), "samples_per_s": round(prom_rate),
                         "peak_rss_mb": round(prom_peak, 1)},
            "ratios": {
                "openmetrics_vs_promtool": round(om_rate / prom_rate, 2) if prom_rate else None,
                "log_lines_per_s": round(rate("jsonl-logs")),
            },
            "aims": {"openmetrics_vs_promtool": ">= 1.0", "log_lines_per_s": ">= 200000",
                     "import_peak_rss_mb": "< 1024"},
        }
        table = [
            f"# Import benchmark: `{args.scenario}` at large scale (seed {args.seed})",
            "",
            "| what | records | seconds | records/s | peak RSS |",
            "|---|---:|---:|---:|---:|",
        ]
        for fmt, agg in sorted(by_format.items()):
            r = agg["records"] / agg["seconds"] if agg["seconds"] else 0
            table.append(f"| obsbench {fmt} | {int(agg['records']):,} | {agg['seconds']:.2f} | "
                         f"{r:,.0f} | |")
        table.append(f"| obsbench whole bundle (incl. sort, cold cache) | | {ours.seconds:.2f} | | "
                     f"{ours.peak_rss_mb:.0f} MB |")
        table.append(f"| promtool backfill, same .om files | {int(om_samples):,} | "
                     f"{prom_seconds:.2f} | {prom_rate:,.0f} | {prom_peak:.0f} MB |")
        table += ["", f"OpenMetrics import vs promtool backfill: "
                  f"**{data['ratios']['openmetrics_vs_promtool']}x** (aim >= 1.0); JSONL logs: "
                  f"**{data['ratios']['log_lines_per_s']:,} lines/s** (aim >= 200,000); "
                  f"peak RSS **{ours.peak_rss_mb:.0f} MB** (aim < 1024)."]
        write_results("import", data, table)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
