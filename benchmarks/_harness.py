"""Small shared pieces of the benchmarks: timing child processes, writing results.

Benchmarks report ratios against a baseline run in the same process and on the
same input, so the numbers mean something on any machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def best(fn: Callable[[], Any], runs: int = 3) -> float:
    """The fastest of ``runs`` timed calls of ``fn`` (seconds): the least disturbed one."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


@dataclass
class Run:
    """One timed child process: wall seconds and its peak resident set size."""

    seconds: float
    peak_rss_mb: float
    stdout: str


def run_measured(
    cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Run:
    """Run ``cmd``; measure wall time and that child's own peak RSS.

    The peak is the child's ``VmHWM`` polled from /proc while it runs: unlike
    ``wait4``'s ru_maxrss, it is not inflated by the memory of the parent the
    child was forked from.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd)
        peak_kb = 0
        status_path = Path(f"/proc/{proc.pid}/status")
        while proc.poll() is None:
            try:
                for line in status_path.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak_kb = max(peak_kb, int(line.split()[1]))
                        break
            except (OSError, ValueError):
                pass
            time.sleep(0.02)
        seconds = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {err.read()[-2000:]!r}")
        return Run(seconds, peak_kb / 1024, out.read().decode())


def python_child(code: str, *args: str) -> list[str]:
    return [sys.executable, "-c", code, *args]


def write_results(name: str, data: dict[str, Any], table: list[str]) -> Path:
    """Write ``results/<name>.json`` and ``results/<name>.md`` and echo the table."""
    RESULTS.mkdir(exist_ok=True)
    data = {"benchmark": name, "machine": machine(), **data}
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text("\n".join(table) + "\n")
    print("\n".join(table))
    return RESULTS / f"{name}.json"


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": sys.platform}
