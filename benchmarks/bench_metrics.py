"""Metrics benchmark: the embedded PromQL engine vs a real Prometheus, and LLM text vs raw API.

One command:  python benchmarks/bench_metrics.py [--scenario NAME] [--keep DIR] [--runs N]

Generates the scenario at `large` scale (>= 1M metric samples), imports it into the
embedded store and backfills the same OpenMetrics into a real Prometheus (promtool), then,
in the same run:

1. query_range latency of the same queries over the whole 4-hour window on both: the
   embedded engine in-process (cold: first run, data read from DuckDB; warm: median of
   the next runs) and Prometheus over HTTP (median, JSON included); both produce the same
   Prometheus API `data` object (checked value by value).
2. the size of what the LLM reads (the query_range tool's text) against the raw Prometheus
   API response for the same query, and whether every change point found on the full
   series is named in the text.

Aims (issue 3): embedded within 3x of Prometheus; text >= 20x smaller keeping every change
point. Writes results/metrics.json and results/metrics.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _harness import write_results

QUERIES = [
    ("traffic by service", "sum by (service) (rate(http_server_request_duration_seconds_count"
                           "[5m]))"),
    ("p95 by service (histogram)", "histogram_quantile(0.95, sum by (le, service) "
                                   "(rate(http_server_request_duration_seconds_bucket[5m])))"),
    ("CPU by pod", 'sum by (pod) (rate(container_cpu_usage_seconds_total{container!=""}[5m]))'),
    ("error ratio by service", 'sum by (service) (rate(http_requests_total{code=~"5.."}[5m])) '
                               "/ sum by (service) (rate(http_requests_total[5m]))"),
    ("every series, by name", 'count by (__name__) (last_over_time({__name__=~".+",'
                              'job!="shop/notification"}[1m]))'),  # OTLP: not backfilled
    ("max tx duration over 10m", "max_over_time(pg_stat_activity_max_tx_duration[10m])"),
]
TEXT_QUERIES = [0, 1, 2]  # text-size comparison on these (multi-series, real incident shapes)


def _values_equal(a: dict[str, Any], b: dict[str, Any]) -> bool:
    def key(r: dict[str, Any]) -> str:
        return json.dumps(r["metric"], sort_keys=True)

    pa = {key(r): r["values"] for r in a["result"]}
    pb = {key(r): r["values"] for r in b["result"]}
    if set(pa) != set(pb):
        return False
    for k, va in pa.items():
        vb = pb[k]
        if [x[0] for x in va] != [x[0] for x in vb]:
            return False
        for x, y in zip(va, vb, strict=True):
            fx, fy = float(x[1]), float(y[1])
            if not (fx == fy or (math.isnan(fx) and math.isnan(fy))
                    or math.isclose(fx, fy, rel_tol=1e-9)):
                return False
    return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="bad-deploy-db-pool")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keep", type=Path, help="reuse/keep the generated bundle here")
    args = ap.parse_args()

    import logging

    import anyio
    import httpx

    logging.getLogger("httpx").setLevel(logging.WARNING)
    from mcp import Client

    from livestack import promtool_backfill, start_prometheus
    from obsbench.scenarios import ensure_bundle
    from obsbench_servers.common.context import ServerContext
    from obsbench_servers.metrics.backend import QueryData, after_warmup
    from obsbench_servers.metrics.promql.engine import Engine
    from obsbench_servers.metrics.promql.storage import StoreSource
    from obsbench_servers.metrics.server import create_server
    from obsbench_servers.metrics.summaries import change_points, hhmm
    from obsbench_servers.store import TelemetryStore

    work = Path(tempfile.mkdtemp(prefix="obsbench-bench-metrics-"))
    bundle = args.keep or work / "bundle"
    os.environ["OBSBENCH_CACHE_DIR"] = str(work / "cache")
    gen = ensure_bundle(args.scenario, bundle, seed=args.seed, scale="large")
    samples_written = sum(gen.samples_by_file().values())
    print(f"bundle {bundle}: {samples_written:,} OpenMetrics samples", file=sys.stderr)
    t0 = time.perf_counter()
    store = TelemetryStore.open(bundle)
    import_s = time.perf_counter() - t0
    stored = store.counts()["samples"]
    tsdb = work / "tsdb"
    tsdb.mkdir()
    t0 = time.perf_counter()
    for om in sorted((bundle / "metrics").glob("*.om")):
        promtool_backfill(om, tsdb)
    backfill_s = time.perf_counter() - t0
    assert store.manifest.window is not None
    end_s = int(store.manifest.window.end_ns // 10**9)
    data_start = int(store.query("SELECT min(ts_ms) FROM samples")[0][0]) * 1_000_000
    start_s = end_s - 4 * 3600
    step = 60
    config = "global:\n  scrape_interval: 1h\n  evaluation_interval: 1m\n"
    rows = []
    text_rows = []
    source = StoreSource(store)  # one per server, as LocalMetrics keeps it
    t0 = time.perf_counter()
    n_series = len(source.index.ids)
    index_s = time.perf_counter() - t0
    with start_prometheus(tsdb, work / "prom", config=config) as prom:
        client = httpx.Client(base_url=prom.url, timeout=120)
        for name, expr in QUERIES:
            eng = Engine(source)
            t0 = time.perf_counter()
            data = eng.range(expr, start_s * 1000, end_s * 1000, step * 1000)
            cold = time.perf_counter() - t0
            samples = eng.samples_read
            warm_runs = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                eng.range(expr, start_s * 1000, end_s * 1000, step * 1000)
                warm_runs.append(time.perf_counter() - t0)
            prom_runs = []
            body = b""
            for _ in range(args.runs + 1):
                t0 = time.perf_counter()
                resp = client.get("/api/v1/query_range", params={
                    "query": expr, "start": start_s, "end": end_s, "step": step})
                body = resp.content
                prom_runs.append(time.perf_counter() - t0)
            pdata = resp.json()["data"]
            same = _values_equal(pdata, data)
            p = statistics.median(prom_runs[1:])
            w = statistics.median(warm_runs)
            rows.append({"query": name, "expr": expr, "series": len(data["result"]),
                         "samples_read": samples, "embedded_cold_s": cold,
                         "embedded_warm_s": w, "prometheus_s": p,
                         "ratio_cold": cold / p, "ratio_warm": w / p, "same_result": same,
                         "raw_bytes": len(body)})
            print(f"{name}: embedded {cold:.3f}s cold / {w:.3f}s warm, prometheus {p:.3f}s, "
                  f"same={same}", file=sys.stderr)

        ctx = ServerContext.for_bundle("metrics", bundle)
        server = create_server(ctx)

        async def tool_texts() -> list[Any]:
            async with Client(server) as c:
                return [await c.call_tool("query_range", {
                    "expr": QUERIES[i][1], "start": str(start_s), "end": str(end_s),
                    "step": f"{step}s"}) for i in TEXT_QUERIES]

        results = anyio.run(tool_texts)
        for i, res in zip(TEXT_QUERIES, results, strict=True):
            text = "\n".join(c.text for c in res.content)
            raw = rows[i]["raw_bytes"]
            # change points on the full-resolution raw answer; each must be named in the text
            qd = QueryData(json.loads(client.get("/api/v1/query_range", params={
                "query": QUERIES[i][1], "start": start_s, "end": end_s, "step": step}
            ).content)["data"], "")
            # as the tool does: the first 5 minutes after the data begins are rate windows
            # still filling, not changes
            full = after_warmup(qd.series(), data_start)
            wanted = [(s.labels, hhmm(c.t)) for s in full for c in change_points(s.ts, s.values)]
            missing = [w for w in wanted if w[1] not in text]
            text_rows.append({"query": QUERIES[i][0], "raw_bytes": raw, "text_chars": len(text),
                              "ratio": raw / len(text), "change_points": len(wanted),
                              "change_points_missing": len(missing)})
        ctx.close()
        client.close()
    store.close()

    load = os.getloadavg()
    table = [
        "# Metrics benchmark",
        "",
        f"`python benchmarks/bench_metrics.py` — scenario `{args.scenario}` at `large` scale: "
        f"{samples_written:,} OpenMetrics samples ({stored:,} samples in the store with the "
        f"OTLP points), imported in {import_s:.1f}s; promtool backfill {backfill_s:.1f}s. "
        f"Range queries over the whole 4 h window at a {step}s step; Prometheus 2.42 over HTTP "
        f"(median of {args.runs}), the embedded engine in-process (cold = first run of the query, "
        f"its samples read from DuckDB; warm = median of {args.runs} more; the series index, "
        f"{n_series:,} series, is loaded once per server: {index_s * 1000:.0f} ms). Load "
        f"average during the run: "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores.",
        "",
        "| query | series | samples read | embedded cold | embedded warm | Prometheus | "
        "cold / Prom | warm / Prom | same result |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        table.append(f"| {r['query']} | {r['series']} | {r['samples_read']:,} | "
                     f"{r['embedded_cold_s'] * 1000:.0f} ms | {r['embedded_warm_s'] * 1000:.0f} ms"
                     f" | {r['prometheus_s'] * 1000:.0f} ms | {r['ratio_cold']:.1f}x | "
                     f"{r['ratio_warm']:.1f}x | {'yes' if r['same_result'] else 'NO'} |")
    table += ["", "LLM text of the `query_range` tool vs the raw Prometheus API response for "
              "the same query (change points found on the full-resolution series, each "
              "checked to be named in the text):", "",
              "| query | raw API bytes | LLM text chars | smaller by | change points | "
              "missing from text |", "|---|---|---|---|---|---|"]
    for t in text_rows:
        table.append(f"| {t['query']} | {t['raw_bytes']:,} | {t['text_chars']:,} | "
                     f"{t['ratio']:.0f}x | {t['change_points']} | "
                     f"{t['change_points_missing']} |")
    write_results("metrics", {"scenario": args.scenario, "samples": samples_written,
                              "index_load_s": index_s,
                              "stored_samples": stored, "import_s": import_s,
                              "backfill_s": backfill_s, "load_average": load,
                              "queries": rows, "text": text_rows}, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
