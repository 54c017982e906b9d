"""Writes ``edge.om``: a hand-made OpenMetrics file for the differential test.

Written for obsbench (not an upstream payload): 2 hours of series from
2026-01-01T00:00:00Z with irregular scrape intervals (15 s +- jitter, which
exercises rate()'s extrapolation thresholds), counter resets, gaps longer than
the 5-minute lookback (series that go stale and come back), NaN and +Inf gauge
values, and a classic histogram. Deterministic: ``python make_edge.py`` rewrites
the same bytes.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

START = 1767225600  # 2026-01-01T00:00:00Z
END = START + 2 * 3600
OUT = Path(__file__).with_name("edge.om")


def times(rng: random.Random, gaps: list[tuple[int, int]]) -> list[float]:
    out = []
    t = float(START)
    while t < END:
        if not any(a <= t - START < b for a, b in gaps):
            out.append(round(t, 3))
        t += 15 + rng.uniform(-4, 4)
    return out


def fmt(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))


def main() -> None:
    rng = random.Random(20260101)
    lines = ["# TYPE edge_requests counter", "# HELP edge_requests Requests (with resets)."]
    for inst, resets, gaps in (("a", [1800, 4000], []), ("b", [], [(1200, 1700)]),
                               ("c", [600, 610, 5000], [(3000, 4300)])):
        value = rng.uniform(100, 1000)
        rows: dict[str, list[str]] = {"200": [], "500": []}
        for t in times(rng, gaps):
            if any(abs((t - START) - r) < 8 for r in resets):
                value = rng.uniform(0, 5)
            value += rng.uniform(0, 40) * (1.5 if inst == "c" else 1.0)
            for code in ("200", "500"):
                v = value if code == "200" else value * 0.013 + (t - START) / 900
                rows[code].append(f'edge_requests_total{{code="{code}",instance="{inst}",'
                                  f'job="edge"}} {fmt(round(v, 4))} {t}')
        lines += rows["200"] + rows["500"]
    lines += ["# TYPE edge_temperature gauge", "# HELP edge_temperature A gauge with NaN/Inf."]
    for inst, gaps in (("a", [(2400, 3000)]), ("b", []), ("c", [(600, 2000)])):
        for i, t in enumerate(times(rng, gaps)):
            v = 20 + 5 * math.sin((t - START) / 600) + rng.gauss(0, 0.5)
            if inst == "b" and i % 97 == 13:
                v = math.nan
            if inst == "c" and i == 150:
                v = math.inf
            lines.append(f'edge_temperature{{instance="{inst}",job="edge",room="r{inst}"}}'
                         f" {fmt(round(v, 3))} {t}")
    lines += ["# TYPE edge_latency_seconds histogram",
              "# HELP edge_latency_seconds Latency histogram."]
    bounds = ["0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"]
    for inst in ("a", "b"):
        counts = [0.0] * len(bounds)
        total = 0.0
        ts = times(rng, [])
        series: dict[str, list[str]] = {b: [] for b in [*bounds, "sum", "count"]}
        for t in ts:
            n = rng.randint(5, 60)
            slow = (t - START) > 3600 and inst == "a"
            for _ in range(n):
                x = rng.lognormvariate(math.log(0.3 if slow else 0.08), 0.6)
                total += x
                for k, b in enumerate(bounds):
                    if b == "+Inf" or x <= float(b):
                        counts[k] += 1
            for k, b in enumerate(bounds):
                series[b].append(f'edge_latency_seconds_bucket{{instance="{inst}",job="edge",'
                                 f'le="{b}"}} {fmt(counts[k])} {t}')
            series["sum"].append(f'edge_latency_seconds_sum{{instance="{inst}",job="edge"}} '
                                 f"{fmt(round(total, 6))} {t}")
            series["count"].append(f'edge_latency_seconds_count{{instance="{inst}",job="edge"}} '
                                   f"{fmt(counts[-1])} {t}")
        for rows in series.values():
            lines += rows
    lines.append("# EOF")
    OUT.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
