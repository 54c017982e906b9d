"""Gate benchmark: the file-locked cross-process gate against the in-process one.

One command:  python benchmarks/bench_gate.py [--requests N]

Per request, ``ResilientTransport`` asks its gate four things (circuit, token,
sent counter, outcome) and holds one concurrency slot. This measures that
sequence with the in-process ``BackendGate`` and with ``SharedGate`` (state file
and slot files under flock, in a temporary directory), alone and as part of a
whole ``httpx`` request through ``ResilientTransport`` to a mock transport (no
network: the floor a real request adds to), single-threaded and with four
threads. Same process, same inputs, best of 3; the rate is set high enough that
nobody waits for a token. The load average is recorded because the machine is
shared. Writes results/gate.json and results/gate.md.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import best, write_results
from obsbench_servers.common.resilience import BackendGate, Gate, ResilientTransport
from obsbench_servers.common.sharedgate import SharedGate

RATE = 1e9  # never wait for a token: measure the bookkeeping, not the limit


def gate_ops(gate: Gate, n: int) -> None:
    """What ``ResilientTransport.handle_request`` does with its gate for one request."""
    for _ in range(n):
        gate.check_circuit()
        gate.reserve()
        with gate.slots:
            gate.count_sent()
        gate.record(True)


def client_requests(gate: Gate, n: int) -> None:
    ok = httpx.MockTransport(lambda request: httpx.Response(200, json={"status": "success"}))
    with httpx.Client(base_url="http://bench.test", transport=ResilientTransport(ok, gate)) as c:
        for _ in range(n):
            c.get("/api/v1/query", params={"query": "up"})


def threaded(fn: Callable[[Gate, int], None], gate: Gate, n: int, threads: int = 4) -> None:
    workers = [threading.Thread(target=fn, args=(gate, n // threads)) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=20_000)
    n = ap.parse_args().requests
    res: dict[str, Any] = {"requests": n}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cases: list[tuple[str, Callable[[Gate, int], None], bool]] = [
            ("gate bookkeeping, 1 thread", gate_ops, False),
            ("gate bookkeeping, 4 threads", gate_ops, True),
            ("httpx request via ResilientTransport (mock), 1 thread", client_requests, False),
            ("httpx request via ResilientTransport (mock), 4 threads", client_requests, True),
        ]
        for i, (label, fn, many) in enumerate(cases):
            local = BackendGate("http://bench.test", rate=RATE, concurrency=4)
            shared = SharedGate("http://bench.test", Path(tmp) / str(i), rate=RATE,
                                concurrency=4)

            def run(gate: Gate, fn: Callable[[Gate, int], None] = fn,
                    many: bool = many) -> None:
                (threaded(fn, gate, n) if many else fn(gate, n))

            t_local = best(functools.partial(run, local))
            t_shared = best(functools.partial(run, shared))
            shared.close()
            us_local, us_shared = t_local / n * 1e6, t_shared / n * 1e6
            key = label.split(",")[0].split()[0] + ("_4t" if many else "_1t")
            res[key] = {"in_process_us": round(us_local, 2), "shared_us": round(us_shared, 2),
                        "ratio": round(t_shared / t_local, 2)}
            rows.append(f"| {label} | {us_local:.1f} µs | {us_shared:.1f} µs "
                        f"| {t_shared / t_local:.1f}x | +{us_shared - us_local:.1f} µs |")
    load = os.getloadavg()
    res["loadavg"] = [round(x, 2) for x in load]
    table = [
        f"Per request, best of 3 over {n:,} requests (load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, {os.cpu_count()} CPUs)",
        "",
        "| what | in-process gate | shared (flock) gate | ratio | added per request |",
        "|---|---|---|---|---|",
        *rows,
    ]
    write_results("gate", res, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
