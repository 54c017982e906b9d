"""TUI benchmark: cold start to first paint, opening a 100k-line log evidence and a
5,000-span trace, each against a baseline measured in the same process on the same data.

One command:  python benchmarks/bench_tui.py [--lines 100000] [--spans 5000] [--repeat 5]

- cold start: a child process imports the workbench, builds the app (hub on a scenario
  bundle connecting in its worker) and exits at its first paint; the time is from the
  child's process creation to the first paint (psutil). Baseline: a one-Static Textual app
  started the same way.
- log view: mount a LogPanel on an evidence item of N lines (payload -> rows -> first
  paint) and apply a filter; baseline: Textual's own ``Log`` widget given the same lines.
- span tree: mount a TracePanel on a synthetic N-span trace (waterfall bars, critical
  path, collapsed repeats); baseline: a Textual ``Tree`` with the same nodes as plain labels.

Headless at 160x48; the median of ``--repeat`` runs. Writes results/tui.json and tui.md.
Aims (issue 8): cold start under 1 s; log and trace panels under 100 ms once loaded.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import write_results

LEVELS = ("debug", "info", "info", "info", "warn", "error")

COLD_CHILD = r"""
import sys, time, psutil
kind, bundle = sys.argv[1], sys.argv[2]
if kind == "baseline":
    from textual.app import App
    from textual.widgets import Static
    class Tiny(App):
        def compose(self):
            yield Static("hello")
    async def first_paint(pilot):
        await pilot.pause()
        print(time.time() - psutil.Process().create_time())
        pilot.app.exit()
    Tiny().run(headless=True, size=(160, 48), auto_pilot=first_paint)
else:
    # What `obsbench demo` does on a terminal: scope, config, agent choice, then the app.
    from pathlib import Path
    from obsbench.agent.select import select_agent
    from obsbench.config import load_config
    from obsbench.scope import resolve_scope
    from obsbench.tui.run import build_app
    scope = resolve_scope(bundle=Path(bundle))
    cfg = load_config().config
    app = build_app(scope, select_agent("offline", cfg.agent), cfg.agent, cfg.ui)
    async def first_paint(pilot):
        await pilot.pause()
        print(time.time() - psutil.Process().create_time())
        app.exit()
    app.run(headless=True, size=(160, 48), auto_pilot=first_paint)
"""


def cold_start(bundle: Path, repeat: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for kind in ("baseline", "workbench"):
        runs = []
        for _ in range(repeat):
            res = subprocess.run([sys.executable, "-c", COLD_CHILD, kind, str(bundle)],
                                 capture_output=True, text=True, check=True,
                                 env={**os.environ, "TEXTUAL": ""})
            runs.append(float(res.stdout.strip().splitlines()[-1]))
        out[kind] = statistics.median(runs)
    return out


def log_payload(n: int) -> dict[str, Any]:
    base = 1_773_151_200_000_000_000
    lines = []
    for i in range(n):
        level = LEVELS[i % len(LEVELS)]
        ts_ns = base + i * 36_000_000
        lines.append({
            "ts": f"2026-03-10T14:{(i // 1667) % 60:02d}:{(i // 28) % 60:02d}.{i % 1000:03d}Z",
            "ts_ns": ts_ns, "service": f"svc-{i % 7}", "level": level,
            "message": f"request {i} GET /v1/users/{i * 7919 % 100000} took {i % 900} ms "
                       + ("QueuePool limit reached, connection timed out" if i % 50 == 0
                          else "ok")})
    return {"total": n, "returned": n, "direction": "forward", "lines": lines}


def trace_payload(n: int) -> dict[str, Any]:
    """A root, 50 service calls, each with repeated DB queries below it (N spans in all)."""
    t0 = 1_773_151_200_000_000_000
    spans = [{"span_id": "r" * 16, "parent_span_id": None, "service": "gateway", "name": "GET /",
              "start_ns": t0, "duration_ns": 2_000_000_000, "on_critical_path": True,
              "status": "ok"}]
    per = max((n - 1) // 50 - 1, 1)
    for c in range(50):
        cid = f"c{c:015d}"
        start = t0 + c * 38_000_000
        spans.append({"span_id": cid, "parent_span_id": "r" * 16, "service": f"svc-{c % 9}",
                      "name": f"GET /call/{c}", "start_ns": start, "duration_ns": 36_000_000,
                      "on_critical_path": c % 5 == 0, "status": "error" if c == 7 else "ok"})
        for q in range(per):
            if len(spans) >= n:
                break
            spans.append({"span_id": f"q{c:07d}{q:08d}", "parent_span_id": cid,
                          "service": "postgres", "name": f"SELECT t{q % 3}",
                          "start_ns": start + q * 30_000, "duration_ns": 25_000,
                          "on_critical_path": False, "status": "ok"})
    return {"trace_id": "ab" * 16, "duration_ns": 2_000_000_000, "spans": spans[:n]}


async def time_mount(make: Callable[[], Any], repeat: int,
                     after: Callable[[Any], Any] | None = None) -> tuple[float, float]:
    """Median seconds from mount to first paint, and of ``after`` (e.g. a filter)."""
    from textual.app import App

    from obsbench.tui.themes import load_themes

    themes, _ = load_themes(None)

    class Bench(App[None]):
        def on_mount(self) -> None:
            self.register_theme(themes["obsbench-dark"])
            self.theme = "obsbench-dark"

    mounts, afters = [], []
    for _ in range(repeat):
        app = Bench()
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.pause()
            t = time.perf_counter()
            widget = make()
            await app.screen.mount(widget)
            app.screen.refresh()
            await pilot.pause()
            mounts.append(time.perf_counter() - t)
            if after is not None:
                t = time.perf_counter()
                after(widget)
                await pilot.pause()
                afters.append(time.perf_counter() - t)
    return statistics.median(mounts), (statistics.median(afters) if afters else 0.0)


def evidence(kind: str, tool: str, payload: dict[str, Any]) -> Any:
    from obsbench.evidence import Evidence

    return Evidence("E1", "bench", tool, {}, kind, "bench", "", payload=payload,
                    time_range={"start": "2026-03-10T14:00:00Z", "end": "2026-03-10T15:00:00Z"})


async def panels(lines: int, spans: int, repeat: int) -> dict[str, float]:
    from textual.widgets import Log, Tree

    from obsbench.tui.widgets.panels import LogPanel, TracePanel

    logs = log_payload(lines)
    texts = [f"{ln['ts']} {ln['level']} {ln['service']} {ln['message']}" for ln in logs["lines"]]

    def baseline_log() -> Log:
        log = Log()
        log.write_lines(texts)
        return log

    def our_filter(panel: Any) -> None:
        panel.view.apply_filter("QueuePool")

    def baseline_filter(log: Log) -> None:  # what filtering a plain Log takes: rebuild it
        log.clear()
        log.write_lines([t for t in texts if "QueuePool" in t])

    ours_log, ours_filter = await time_mount(lambda: LogPanel(evidence("logs", "search_logs",
                                                                        logs)), repeat,
                                             our_filter)
    base_log, base_filter = await time_mount(baseline_log, repeat, baseline_filter)

    trace = trace_payload(spans)

    def baseline_tree() -> Tree[None]:
        tree: Tree[None] = Tree("trace")
        nodes = {None: tree.root}
        for s in trace["spans"]:
            parent = nodes.get(s["parent_span_id"], tree.root)
            nodes[s["span_id"]] = parent.add(f"{s['service']} {s['name']}", expand=True)
        return tree

    ours_trace, _ = await time_mount(lambda: TracePanel(evidence("trace", "get_trace_details",
                                                                 trace)), repeat)
    base_trace, _ = await time_mount(baseline_tree, repeat)
    return {"log_open_s": ours_log, "log_open_baseline_s": base_log,
            "log_filter_s": ours_filter, "log_filter_baseline_s": base_filter,
            "trace_open_s": ours_trace, "trace_open_baseline_s": base_trace}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--spans", type=int, default=5_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--bundle", type=Path, default=None,
                    help="bundle for the cold start (default: generate bad-deploy-db-pool)")
    args = ap.parse_args()
    bundle = args.bundle
    if bundle is None:
        from obsbench.paths import data_dir
        from obsbench.scenarios import ensure_bundle

        bundle = data_dir() / "bench" / "bad-deploy-db-pool-7"
        ensure_bundle("bad-deploy-db-pool", bundle, seed=7)
    cold = cold_start(bundle, args.repeat)
    res = asyncio.run(panels(args.lines, args.spans, args.repeat))
    load = os.getloadavg()
    data = {"lines": args.lines, "spans": args.spans, "repeat": args.repeat,
            "cold_start_s": cold["workbench"], "cold_start_baseline_s": cold["baseline"],
            **res, "load_avg": list(load)}

    def row(name: str, ours: float, base: float, aim: str) -> str:
        return (f"| {name} | {ours * 1000:.0f} ms | {base * 1000:.0f} ms | {ours / base:.2f}x "
                f"| {aim} |")

    table = [
        f"TUI benchmark ({args.lines:,} log lines, {args.spans:,} spans, median of "
        f"{args.repeat}; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f})", "",
        "| measure | obsbench | baseline | ratio | aim |", "|---|---|---|---|---|",
        row("cold start to first paint (baseline: one-Static Textual app)",
            cold["workbench"], cold["baseline"], "< 1 s"),
        row("open log evidence (baseline: textual Log.write_lines)", res["log_open_s"],
            res["log_open_baseline_s"], "< 100 ms"),
        row("filter the log view (baseline: rebuild a Log)", res["log_filter_s"],
            res["log_filter_baseline_s"], ""),
        row("open the span tree (baseline: plain textual Tree)", res["trace_open_s"],
            res["trace_open_baseline_s"], "< 100 ms"),
    ]
    write_results("tui", data, table)


if __name__ == "__main__":
    main()
