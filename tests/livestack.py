"""Real Prometheus, VictoriaMetrics and Alertmanager for live tests, on 127.0.0.1 and free ports.

Each ``start_*`` launches the Debian binary as a child process with its own data
directory under the test's temp dir, waits until its readiness endpoint
answers, and returns a ``LiveServer`` that stops *that* process by PID (use it
as a context manager). ``promtool_backfill`` turns an OpenMetrics file into
TSDB blocks the way an operator would. Later live tests (metrics, alerts,
security) reuse these helpers.

Binaries are found on PATH; ``require(binary)`` skips a test with the install
command when one is missing (CI installs all three, see .ci/run).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

PROMETHEUS = "prometheus"
PROMTOOL = "promtool"
VICTORIA = "victoria-metrics"
ALERTMANAGER = "prometheus-alertmanager"
DEBIAN_PACKAGE = {PROMETHEUS: "prometheus", PROMTOOL: "prometheus",
                  VICTORIA: "victoria-metrics", ALERTMANAGER: "prometheus-alertmanager"}


def require(binary: str) -> str:
    """The binary's path, or skip the test saying how to install it."""
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} not found: apt-get install {DEBIAN_PACKAGE.get(binary, binary)}")
    return path


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    """A backend process we started: its URL, its log, and how to stop it."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    workdir: Path
    log_path: Path
    scheme: str = "http"
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.url, timeout=30.0, verify=False)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def get(self, path: str, **params: Any) -> Any:
        """GET a JSON API path; raise with the server's answer when it is not a success."""
        r = self.client.get(path, params=params)
        if r.status_code != 200:
            raise AssertionError(f"{self.name} {path} -> {r.status_code}: {r.text[:500]}")
        return r.json()

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM our process (by PID), then SIGKILL if it does not exit in time."""
        self.client.close()
        if self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def __enter__(self) -> LiveServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _launch(  # noqa: PLR0917 - a test helper with obvious positions
    name: str, argv: list[str], workdir: Path, port: int, ready_path: str,
    timeout: float = 60.0, *, scheme: str = "http", ready_client: httpx.Client | None = None,
) -> LiveServer:
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=workdir,
                                stdin=subprocess.DEVNULL)
    server = LiveServer(name, proc, port, workdir, log_path, scheme)
    deadline = time.monotonic() + timeout
    last = ""
    probe = ready_client or httpx.Client(timeout=2.0)
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                server.stop()
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{server.log_tail()}")
            try:
                r = probe.get(server.url + ready_path)
                if r.status_code == 200:
                    return server
                last = f"HTTP {r.status_code}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            time.sleep(0.1)
    finally:
        if ready_client is None:
            probe.close()
    server.stop()
    raise RuntimeError(f"{name} not ready after {timeout:.0f}s ({last}):\n{server.log_tail()}")


def start_prometheus(
    tsdb: Path, workdir: Path, *, rules: str | None = None, config: str | None = None,
    extra_args: tuple[str, ...] = (), web_config: Path | None = None,
    ready_client: httpx.Client | None = None,
) -> LiveServer:
    """Prometheus serving ``tsdb`` (no scrape targets unless ``config`` says so).

    Retention is 100 years so backfilled blocks from any date stay queryable;
    ``rules`` (YAML text of a rule file) is loaded when given; ``web_config`` (a
    Prometheus web config file: TLS, basic auth) is passed through, and then
    ``ready_client`` is the client able to pass it.
    """
    binary = require(PROMETHEUS)
    workdir.mkdir(parents=True, exist_ok=True)
    text = config or "global:\n  scrape_interval: 1h\n  evaluation_interval: 1h\n"
    if rules is not None:
        (workdir / "rules.yml").write_text(rules)
        text += "rule_files:\n  - rules.yml\n"
    (workdir / "prometheus.yml").write_text(text)
    port = free_port()
    argv = [binary, f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={tsdb}", f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=100y", "--log.level=warn",
            "--web.enable-admin-api", *extra_args]
    scheme = "http"
    if web_config is not None:
        argv.append(f"--web.config.file={web_config}")
        if "tls_server_config" in web_config.read_text():
            scheme = "https"
    return _launch("prometheus", argv, workdir, port, "/-/ready", scheme=scheme,
                   ready_client=ready_client)


def start_victoria_metrics(workdir: Path, *, extra_args: tuple[str, ...] = ()) -> LiveServer:
    """Single-node VictoriaMetrics with its own data dir (import via /api/v1/import/prometheus)."""
    binary = require(VICTORIA)
    port = free_port()
    argv = [binary, f"-storageDataPath={workdir / 'vmdata'}", f"-httpListenAddr=127.0.0.1:{port}",
            "-retentionPeriod=100y", "-loggerLevel=WARN", *extra_args]
    return _launch("victoria-metrics", argv, workdir, port, "/health")


def start_alertmanager(workdir: Path, *, config: str | None = None,
                       extra_args: tuple[str, ...] = ()) -> LiveServer:
    """Alertmanager with one null receiver (or ``config``), clustering off."""
    binary = require(ALERTMANAGER)
    workdir.mkdir(parents=True, exist_ok=True)
    text = config or ("route:\n  receiver: blackhole\n  group_wait: 1s\n"
                      "receivers:\n  - name: blackhole\n")
    (workdir / "alertmanager.yml").write_text(text)
    port = free_port()
    argv = [binary, f"--config.file={workdir / 'alertmanager.yml'}",
            f"--storage.path={workdir / 'amdata'}", f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=", "--log.level=warn", *extra_args]
    return _launch("alertmanager", argv, workdir, port, "/-/ready")


def promtool_backfill(om_file: Path, tsdb: Path) -> None:
    """``promtool tsdb create-blocks-from openmetrics FILE TSDB`` (plain files only)."""
    binary = require(PROMTOOL)
    proc = subprocess.run([binary, "tsdb", "create-blocks-from", "openmetrics", "-q",
                           str(om_file), str(tsdb)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"promtool rejected {om_file.name}: {proc.stderr[-2000:]}")


def block_samples(tsdb: Path) -> int:
    """Samples in every persisted block of a TSDB directory (from each block's meta.json)."""
    import json

    total = 0
    for meta in tsdb.glob("*/meta.json"):
        total += int(json.loads(meta.read_text())["stats"]["numSamples"])
    return total
