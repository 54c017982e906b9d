"""Rate budgets shared across server processes (``common/sharedgate.py``).

Real processes (``python -c`` children) hammer one gate directory: together they
stay within the rate plus the initial burst and within the concurrency cap — the
cap measured by a real threaded HTTP server counting requests in flight — and a
child killed with -9 while holding a slot does not leak it. The live test runs
the hub with three stdio servers (metrics, infra usage, alerts) against one real
Prometheus and reads Prometheus's own request counter.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from obsbench_servers.common import sharedgate
from obsbench_servers.common.resilience import BackendGate, GateError, gate_for
from obsbench_servers.common.sharedgate import GATE_DIR_ENV, SharedGate, gate_dir, sharing_status

RATE = 20.0
PROCS = 5
HAMMER_S = 2.5

# A child hammering one gate until a common deadline; prints its admissions as JSON.
# mode "shared": the file-locked gate in DIR; "local": a per-process BackendGate (control).
_HAMMER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from obsbench_servers.common.resilience import BackendGate
    from obsbench_servers.common.sharedgate import SharedGate
    mode, directory, rate = sys.argv[1], sys.argv[2], float(sys.argv[3])
    if mode == "shared":
        gate = SharedGate("http://prom.test:9090", Path(directory), rate=rate, concurrency=4)
    else:
        gate = BackendGate("http://prom.test:9090", rate=rate, concurrency=4)
    print("ready", flush=True)
    start, stop = map(float, sys.stdin.readline().split())  # one window for every child
    while time.monotonic() < start:
        time.sleep(0.001)
    admitted, refused = [], 0
    while time.monotonic() < stop:
        wait = gate.reserve()
        if wait > 0.5:  # as ResilientTransport does past max_wait_s: refuse, do not send
            refused += 1
            time.sleep(0.05)
            continue
        time.sleep(wait)
        admitted.append(time.monotonic())
    print(json.dumps({"admitted": admitted, "refused": refused}))
""")


def _hammer(mode: str, directory: Path) -> tuple[list[float], float]:
    """Run PROCS children against one gate; all admission times and the window start."""
    procs = [subprocess.Popen(
        [sys.executable, "-c", _HAMMER, mode, str(directory), str(RATE)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(PROCS)]
    for p in procs:  # every child imported and its gate open before the window starts
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    start = time.monotonic() + 0.2
    admitted: list[float] = []
    for p in procs:
        assert p.stdin is not None
        p.stdin.write(f"{start} {start + HAMMER_S}\n")
        p.stdin.flush()
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        admitted += json.loads(out)["admitted"]
    return sorted(admitted), start


def test_processes_together_stay_within_rate_plus_burst(tmp_path: Path) -> None:
    admitted, start = _hammer("shared", tmp_path / "gates")
    elapsed = admitted[-1] - start
    burst = RATE  # the bucket starts full
    print(f"shared: {len(admitted)} admitted in {elapsed:.2f}s by {PROCS} processes "
          f"(limit {burst:g} + {RATE:g}/s)")
    assert len(admitted) <= burst + RATE * elapsed + 2, (len(admitted), elapsed)
    # ... and the budget is used, not starved by lock contention
    assert len(admitted) >= 0.8 * (burst + RATE * HAMMER_S), len(admitted)
    # after the burst, no second holds more than the rate (+1 for the window edge)
    steady = [t for t in admitted if t >= start + 1.0]
    for s in range(1, int(HAMMER_S)):
        in_second = sum(start + s <= t < start + s + 1 for t in steady)
        assert in_second <= RATE + 2, (s, in_second)


def test_per_process_gates_would_overshoot(tmp_path: Path) -> None:
    """The control: five private buckets admit about five times the rate (the bug fixed)."""
    admitted, start = _hammer("local", tmp_path / "unused")
    elapsed = admitted[-1] - start
    assert len(admitted) > 2 * (RATE + RATE * elapsed), (len(admitted), elapsed)


class _Counting(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SlowHandler)
        self.lock = threading.Lock()
        self.inflight = 0
        self.max_inflight = 0
        self.total = 0


class _SlowHandler(BaseHTTPRequestHandler):
    """Holds each request 40 ms and records how many were in flight at once."""

    server: _Counting

    def do_GET(self) -> None:
        srv = self.server
        with srv.lock:
            srv.inflight += 1
            srv.total += 1
            srv.max_inflight = max(srv.max_inflight, srv.inflight)
        time.sleep(0.04)
        with srv.lock:
            srv.inflight -= 1
        body = b'{"status":"success"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def counting_server() -> Iterator[_Counting]:
    srv = _Counting()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


# A child sending requests from several threads through ResilientTransport + SharedGate.
_CLIENT = textwrap.dedent("""
    import sys, threading
    from pathlib import Path
    import httpx
    from obsbench_servers.common.resilience import ResilientTransport
    from obsbench_servers.common.sharedgate import SharedGate
    url, directory, cap = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    gate = SharedGate(url, directory, rate=1000, concurrency=cap)
    client = httpx.Client(base_url=url, transport=ResilientTransport(httpx.HTTPTransport(), gate))
    def run():
        for _ in range(8):
            assert client.get("/api/v1/query").status_code == 200
    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads: t.start()
    for t in threads: t.join()
""")


def test_concurrency_cap_holds_across_processes(counting_server: _Counting,
                                                tmp_path: Path) -> None:
    cap = 3
    url = f"http://127.0.0.1:{counting_server.server_address[1]}"
    procs = [subprocess.Popen([sys.executable, "-c", _CLIENT, url, str(tmp_path), str(cap)],
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    assert counting_server.total == 4 * 4 * 8
    # 16 threads in 4 processes wanted 16 at once; the server never saw more than the cap
    assert counting_server.max_inflight <= cap, counting_server.max_inflight
    assert counting_server.max_inflight >= 2  # the cap was actually reached for, not idle


def test_threads_of_one_process_share_the_cap(tmp_path: Path) -> None:
    gate = SharedGate("http://t.test", tmp_path, rate=1000, concurrency=2)
    lock = threading.Lock()
    inflight = [0, 0]  # now, max

    def work() -> None:
        for _ in range(5):
            with gate.slots:
                with lock:
                    inflight[0] += 1
                    inflight[1] = max(inflight[1], inflight[0])
                time.sleep(0.005)
                with lock:
                    inflight[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert inflight[1] == 2
    gate.close()


_HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from obsbench_servers.common.sharedgate import SharedGate
    gate = SharedGate("http://held.test", Path(sys.argv[1]), rate=100, concurrency=1)
    with gate.slots:
        print("held", flush=True)
        time.sleep(120)
""")


def test_a_process_killed_holding_a_slot_does_not_leak_it(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        gate = SharedGate("http://held.test", tmp_path, rate=100, concurrency=1,
                          slot_max_wait_s=0.3)
        with pytest.raises(GateError) as err, gate.slots:  # the one slot is the other's
            pass
        assert err.value.reason == "concurrency_limited"
        assert "limits.concurrency" in (err.value.hint or "")
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        assert holder.stdout is not None
        holder.stdout.close()
    started = time.monotonic()
    with gate.slots:  # the kernel released the dead process's lock
        pass
    assert time.monotonic() - started < 0.3
    gate.close()


def test_circuit_and_retry_after_pause_are_shared(tmp_path: Path) -> None:
    a = SharedGate("http://down.test", tmp_path, rate=100, failure_threshold=2, cooldown_s=30)
    b = SharedGate("http://down.test", tmp_path, rate=100, failure_threshold=2, cooldown_s=30)
    a.record(False)
    b.record(False)  # two failures seen by two "processes" open the shared circuit
    assert a.is_open and b.is_open
    with pytest.raises(GateError) as err:
        b.check_circuit()
    assert err.value.reason == "circuit_open" and "2 times in a row" in err.value.message
    other = SharedGate("http://other.test", tmp_path, rate=100)
    assert not other.is_open  # per backend
    a.pause(5.0)
    assert other.reserve() == 0.0
    assert b.reserve() >= 4.5  # a's Retry-After holds b too


def test_half_open_trial_of_a_dead_process_is_given_up_after_a_cooldown(tmp_path: Path) -> None:
    now = [1000.0]
    clock: Callable[[], float] = lambda: now[0]  # noqa: E731 - a test clock
    a = SharedGate("http://flaky.test", tmp_path, failure_threshold=1, cooldown_s=10, clock=clock)
    b = SharedGate("http://flaky.test", tmp_path, failure_threshold=1, cooldown_s=10, clock=clock)
    a.record(False)
    now[0] += 11
    a.check_circuit()  # a takes the trial ... and dies without recording
    with pytest.raises(GateError, match="re-tested"):
        b.check_circuit()
    now[0] += 11
    b.check_circuit()  # the orphaned trial expired: b may test the backend
    b.record(True)
    assert not a.is_open


def test_state_from_before_a_reboot_is_discarded(tmp_path: Path) -> None:
    now = [5000.0]
    gate = SharedGate("http://r.test", tmp_path, rate=2, failure_threshold=1, clock=lambda: now[0])
    gate.record(False)
    for _ in range(5):
        gate.reserve()
    assert gate.is_open and gate.reserve() > 1
    now[0] = 10.0  # monotonic time restarted
    assert not gate.is_open and gate.reserve() == 0.0


def test_gate_for_shares_by_default_and_falls_back_with_a_reason(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(GATE_DIR_ENV, str(tmp_path / "g"))
    g = gate_for("http://p.test:9090/", "t1", rate=7, concurrency=2)
    assert isinstance(g, SharedGate) and g.path.parent == tmp_path / "g"
    assert "p.test" not in g.path.name and "t1" not in g.path.name  # names are hashes
    assert gate_for("http://p.test:9090", "t1") is g
    assert sharing_status().shared and str(tmp_path / "g") in sharing_status().line()

    monkeypatch.setenv(GATE_DIR_ENV, "off")
    assert gate_dir() is None
    assert isinstance(gate_for("http://p.test:9090", "t1"), BackendGate)
    assert "per process only" in sharing_status().line()

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(GATE_DIR_ENV, str(blocker / "gates"))
    monkeypatch.setattr(sharedgate, "_fallback_reason", "")
    assert isinstance(gate_for("http://q.test", ""), BackendGate)
    status = sharing_status()
    assert not status.shared and "unusable" in status.reason

    monkeypatch.setenv(GATE_DIR_ENV, str(tmp_path / "h"))
    monkeypatch.setattr(sharedgate, "_fallback_reason", "")
    monkeypatch.setattr(sharedgate, "fcntl", None)
    assert isinstance(gate_for("http://r.test", ""), BackendGate)
    assert "no fcntl" in sharing_status().line()


def test_hub_passes_its_gate_directory_to_stdio_children(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from obsbench.config import Profile
    from obsbench.hub import Hub
    from obsbench.scope import Scope

    hub = Hub(Scope("p", Profile()), transport="stdio")
    monkeypatch.delenv(GATE_DIR_ENV, raising=False)
    env = hub._target("metrics").env
    assert env[GATE_DIR_ENV] == str(Path(os.environ["OBSBENCH_STATE_DIR"]) / "gates")
    monkeypatch.setenv(GATE_DIR_ENV, "off")
    assert hub._target("metrics").env[GATE_DIR_ENV] == "off"


def test_doctor_reports_whether_budgets_are_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from obsbench.cli.main import app

    config = Path(os.environ["OBSBENCH_CONFIG"])
    config.parent.mkdir(parents=True, exist_ok=True)
    # nothing listens on port 9: the check fails fast, the report is still printed
    config.write_text('[profiles.b]\n'
                      'metrics = { type = "prometheus", url = "http://127.0.0.1:9" }\n')
    runner = CliRunner()
    out = runner.invoke(app, ["doctor", "--json", "--timeout", "2"])
    assert out.exit_code == 1, out.output
    doc = json.loads(out.stdout)
    assert doc["rate_budgets"]["shared"] is True
    assert doc["rate_budgets"]["directory"] == str(gate_dir())
    monkeypatch.setattr(sharedgate, "fcntl", None)
    text = runner.invoke(app, ["doctor", "--timeout", "2"])
    assert "rate budgets: per process only" in text.stderr and "no fcntl" in text.stderr


# -- live: the hub's stdio children against one real Prometheus -------------------------------
LIVE_RATE = 8.0


def _requests_seen(metrics_text: str) -> float:
    """Requests Prometheus served on its API, from its own counter."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics_text.splitlines()
               if line.startswith("prometheus_http_requests_total{")
               and re.search(r'handler="/api/v1/', line))


@pytest.mark.live
@pytest.mark.slow
def test_hub_stdio_servers_share_one_prometheus_budget(
        bundle_dir: Callable[..., Path], tmp_path: Path) -> None:
    from livestack import require, start_prometheus
    from obsbench.hub import CallRecord, Hub
    from obsbench.scope import resolve_scope

    require("prometheus")
    bundle = bundle_dir("bad-deploy-db-pool")
    with start_prometheus(tmp_path / "tsdb", tmp_path / "prom") as prom:
        limits = f"limits = {{ requests_per_second = {LIVE_RATE:g}, concurrency = 4 }}"
        config = Path(os.environ["OBSBENCH_CONFIG"])
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(textwrap.dedent(f"""
            [profiles.live]
            infra = {{ type = "local", bundle = "{bundle}" }}
            metrics = {{ type = "prometheus", url = "{prom.url}", {limits} }}
            alerts = [{{ type = "prometheus", url = "{prom.url}/", {limits} }}]
        """))
        scope = resolve_scope(profile="live")
        calls = ([("metrics_query", {"expr": f"vector({i})"}) for i in range(24)]
                 + [("infra_get_resource_utilization", {"service": "user-api", "window": "1h"})
                    for _ in range(2)]
                 + [("alerts_list_firing_alerts", {}) for _ in range(16)])

        async def run() -> tuple[list[CallRecord], float, float]:
            async with Hub(scope, servers=("metrics", "infra", "alerts"), transport="stdio",
                           call_timeout_s=60) as hub:
                before = _requests_seen(prom.client.get("/metrics").text)
                started = time.monotonic()
                records = list(await hub.call_many(calls))
                elapsed = time.monotonic() - started
                seen = _requests_seen(prom.client.get("/metrics").text) - before
                return records, elapsed, seen

        records, elapsed, seen = asyncio.run(run())

    outcomes = [r.outcome for r in records]
    by_server = {s: sum(r.outcome == "ok" and r.evidence.server == s
                        for r in records) for s in ("metrics", "infra", "alerts")}
    print(f"shared live: {len(calls)} calls from 3 stdio servers in {elapsed:.1f}s, "
          f"Prometheus saw {seen:.0f} requests ({seen / elapsed:.1f}/s, limit {LIVE_RATE:g}/s); "
          f"ok by server {by_server}")
    assert all(by_server.values()), by_server  # every server reached the backend
    for r in records:
        if r.outcome != "ok":  # refused calls say why, in words
            assert "budget" in r.evidence.text or "rate" in r.evidence.text, r.evidence.text
    assert seen >= outcomes.count("ok")
    # The gate state persists in the shared directory; requests before `before` (the
    # children's start-up) may have spent part of the burst, never added to it.
    assert seen <= LIVE_RATE + LIVE_RATE * elapsed + 2, (seen, elapsed)
    # three private buckets would have let through far more than one shared budget
    assert seen > LIVE_RATE * 2, seen
