"""Redaction benchmark: throughput on real log text and on a large structured tool result.

One command:  python benchmarks/bench_redact.py [--shared DIR]

Measures ``Redactor.text`` over the ten Loghub 2k samples (20,000 lines, joined
as one text and line by line), with and without IP redaction, and
``Redactor.value`` over a synthetic search_logs-shaped payload of 5,000 records
(the size a panel receives). Best of 3 runs each; the load average is recorded
because the machine is shared. Writes results/redact.json and results/redact.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import best, write_results
from obsbench_servers.common.redact import Redactor


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared"))
    args = ap.parse_args()
    files = sorted((Path(args.shared) / "data" / "loghub").glob("*/*_2k.log"))
    text = "\n".join(f.read_text(errors="replace") for f in files)
    lines = text.splitlines()
    payload = {"data": {"records": [
        {"ts": f"2026-03-10T14:{i % 60:02d}:00Z", "service": "checkout", "level": "error",
         "message": lines[i % len(lines)], "labels": {"pod": f"checkout-{i % 7}",
                                                      "trace_id": f"{i:032x}"}}
        for i in range(5000)]}}
    mb = len(text.encode()) / 1e6
    res: dict[str, Any] = {"loghub_mb": round(mb, 2), "lines": len(lines)}
    res["text_s"] = best(lambda: Redactor().text(text))
    res["text_ip_s"] = best(lambda: Redactor(ip_addresses=True).text(text))
    res["lines_s"] = best(lambda: [Redactor().text(x) for x in lines])
    res["structured_5000_s"] = best(lambda: Redactor().value(payload))
    load = os.getloadavg()
    res["loadavg"] = [round(x, 2) for x in load]
    table = [
        "| what | time (best of 3) | throughput |",
        "|---|---|---|",
        f"| Loghub text, {mb:.1f} MB as one string | {res['text_s'] * 1000:.0f} ms "
        f"| {mb / res['text_s']:.1f} MB/s |",
        f"| same, with IP redaction | {res['text_ip_s'] * 1000:.0f} ms "
        f"| {mb / res['text_ip_s']:.1f} MB/s |",
        f"| {len(lines):,} lines one by one | {res['lines_s'] * 1000:.0f} ms "
        f"| {len(lines) / res['lines_s']:,.0f} lines/s |",
        f"| structured payload, 5,000 log records | {res['structured_5000_s'] * 1000:.0f} ms "
        f"| {5000 / res['structured_5000_s']:,.0f} records/s |",
        "",
        f"load average during the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
        f"({os.cpu_count()} CPUs, shared)",
    ]
    write_results("redact", res, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
