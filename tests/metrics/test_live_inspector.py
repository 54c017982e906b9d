"""An independent MCP client, the MCP Inspector CLI (npm @modelcontextprotocol/inspector),
lists the metrics server's tools and calls each one over stdio against `obsbench serve`,
and calls it over Streamable HTTP (`obsbench serve metrics --transport http`).

npx fetches the Inspector from the npm registry on first use and caches it; the stdio calls
run three at a time (each starts its own server process, as an MCP client does).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from livestack import free_port

pytestmark = pytest.mark.live

INSPECTOR = "@modelcontextprotocol/inspector"
CALLS: dict[str, dict[str, str]] = {
    "query": {"expr": "sum by (service) (rate(http_requests_total[5m]))"},
    "query_range": {"expr": "sum(go_goroutines)", "start": "now-1h"},
    "list_metrics": {"match": "pg_"},
    "label_values": {"label": "service"},
    "metric_metadata": {"metric": "http_requests_total"},
    "get_service_golden_signals": {"service": "checkout"},
    "compare_time_periods": {"expr": "sum(go_goroutines)", "baseline": "1h"},
    "find_anomalies": {"window": "1h", "baseline": "1h", "limit": "5"},
    "list_firing_alerts": {},
}


def _tools() -> tuple[str, str]:
    npx = shutil.which("npx")
    obsbench = shutil.which("obsbench")
    if npx is None or obsbench is None:
        pytest.skip("npx (Node.js) and the obsbench console script are needed: "
                    "apt-get install nodejs npm; pip install -e .")
    return npx, obsbench


def _run_inspector(target: list[str], *method: str) -> subprocess.CompletedProcess[str]:
    npx, _ = _tools()
    return subprocess.run([npx, "-y", INSPECTOR, "--cli", *target, *method],
                          capture_output=True, text=True, timeout=240, check=False,
                          stdin=subprocess.DEVNULL)


def _inspector(bundle: Path, *method: str) -> Any:
    _, obsbench = _tools()
    proc = _run_inspector([obsbench, "serve", "metrics", "--bundle", str(bundle)], *method)
    assert proc.returncode == 0, f"{' '.join(method)}: {proc.stderr[-2000:]}"
    return json.loads(proc.stdout)


def test_inspector_lists_and_calls_every_tool(bundle_dir: Callable[..., Path]) -> None:
    bundle = bundle_dir("bad-deploy-db-pool")
    listed = _inspector(bundle, "--method", "tools/list")
    names = {t["name"] for t in listed["tools"]}
    assert names == set(CALLS)

    def call(item: tuple[str, dict[str, str]]) -> tuple[str, Any]:
        tool, args = item
        flags = ["--method", "tools/call", "--tool-name", tool]
        for k, v in args.items():
            flags += ["--tool-arg", f"{k}={v}"]
        return tool, _inspector(bundle, *flags)

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = dict(pool.map(call, CALLS.items()))
    for tool, res in results.items():
        assert not res.get("isError"), (tool, res)
        body = res["content"][0]["text"]
        assert "[backend: embedded store" in body, (tool, body[:300])
        assert res["structuredContent"]["kind"] != "error", tool
    goroutines = results["query_range"]["structuredContent"]["data"]["prometheus"]
    assert goroutines["resultType"] == "matrix" and goroutines["result"]
    assert "via prometheus-client" in results["get_service_golden_signals"]["content"][0]["text"]


def test_inspector_over_streamable_http_and_the_server_keeps_serving(
        bundle_dir: Callable[..., Path], tmp_path: Path) -> None:
    """One `obsbench serve metrics --transport http` process answers a bad query with a tool
    error and the next client's good query with data."""
    _, obsbench = _tools()
    bundle = bundle_dir("bad-deploy-db-pool")
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([obsbench, "serve", "metrics", "--bundle", str(bundle),
                             "--transport", "http", "--port", str(port)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        url = [f"http://127.0.0.1:{port}/mcp", "--transport", "http"]

        def call(expr: str) -> Any:
            done = _run_inspector(url, "--method", "tools/call", "--tool-name", "query",
                                  "--tool-arg", f"expr={expr}")
            assert done.returncode == 0, done.stderr[-2000:]
            return json.loads(done.stdout)

        bad = call("sum(rate(http_requests_total[5m]) by (code)")
        assert bad.get("isError") and "invalid PromQL" in bad["content"][0]["text"]
        good = call("sum by (service) (go_goroutines)")
        assert not good.get("isError"), good
        result = good["structuredContent"]["data"]["prometheus"]["result"]
        assert {r["metric"]["service"] for r in result} == {"checkout", "inventory"}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
