"""Authenticated HTTP serving: refuse unsafe binds, reject foreign requests, serve the right one.

The server runs as ``obsbench serve metrics --transport http`` in a child process
on a free loopback port with a bearer token from ``--token-ref env:...``; the
checks go over real HTTP. The MCP Inspector CLI (an independent MCP client) lists
the tools when given the header.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from tests.livestack import free_port
from typer.testing import CliRunner

from obsbench.cli.main import app
from obsbench_servers.common.httpguard import HttpGuard, default_allowed_hosts

TOKEN = "s3cret-token-0123456789abcdef"
INSPECTOR = "2.12.0"  # --header arrived after 0.15
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "t", "version": "0"}}}
HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


def test_non_loopback_bind_without_token_refuses_to_start(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["serve", "metrics", "--transport", "http", "--host",
                                   "0.0.0.0", "--bundle", str(tmp_path)])
    assert res.exit_code == 2
    assert "without authentication" in res.stderr and "--token-ref" in res.stderr


def test_a_short_token_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBSB_SHORT", "abc")
    res = CliRunner().invoke(app, ["serve", "metrics", "--transport", "http", "--host",
                                   "0.0.0.0", "--token-ref", "env:OBSB_SHORT",
                                   "--bundle", str(tmp_path)])
    assert res.exit_code == 2 and "at least 16" in res.stderr


def test_guard_compares_every_token_and_checks_host_before_token() -> None:
    async def app_(scope: object, receive: object, send: object) -> None:
        raise AssertionError("must not be reached")

    g = HttpGuard(app_, tokens=["a" * 20, "b" * 20], allowed_hosts=["127.0.0.1:1"],
                  allowed_origins=["http://127.0.0.1:1"], max_body=10)
    ok = {"host": "127.0.0.1:1"}
    assert g.check({**ok, "authorization": "Bearer " + "b" * 20}) is None
    assert g.check({**ok, "authorization": "Bearer " + "a" * 19})[0] == 401  # type: ignore[index]
    assert g.check({**ok, "authorization": "Basic " + "a" * 20})[0] == 401  # type: ignore[index]
    # a rebinding page gets 421 whether or not it guessed the token
    assert g.check({"host": "evil.example:1", "authorization": "Bearer " + "a" * 20}) == (
        421, "Host evil.example:1 is not allowed")
    assert g.check({**ok, "origin": "http://evil.example"})[0] == 403  # type: ignore[index]
    assert g.check({**ok, "content-length": "11"})[0] == 413  # type: ignore[index]
    assert "127.0.0.1:8765" in default_allowed_hosts("127.0.0.1", 8765)


@pytest.fixture(scope="module")
def served(bundle: Callable[..., object], tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[str]:
    bundle_path = bundle("bad-deploy-db-pool").out_dir  # type: ignore[attr-defined]
    port = free_port()
    log = tmp_path_factory.mktemp("serve-log") / "stderr.txt"
    env = {**os.environ, "OBSB_TOKEN": TOKEN,
           "OBSBENCH_CACHE_DIR": str(tmp_path_factory.mktemp("serve-cache"))}
    err = log.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "obsbench", "serve", "metrics", "--transport", "http",
         "--port", str(port), "--bundle", str(bundle_path), "--token-ref", "env:OBSB_TOKEN",
         "--max-body", "65536"],
        env=env, stdout=subprocess.DEVNULL, stderr=err)
    url = f"http://127.0.0.1:{port}/mcp"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(log.read_text())
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        err.close()


def test_requests_without_the_token_or_from_foreign_hosts_are_rejected(served: str) -> None:
    auth = {"authorization": f"Bearer {TOKEN}"}
    r = httpx.post(served, json=INIT, headers=HEADERS)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    r = httpx.post(served, json=INIT, headers={**HEADERS, "authorization": "Bearer wrong"})
    assert r.status_code == 401
    r = httpx.post(served, json=INIT, headers={**HEADERS, **auth, "host": "attacker.example"})
    assert r.status_code == 421
    r = httpx.post(served, json=INIT, headers={**HEADERS, **auth,
                                               "origin": "http://attacker.example"})
    assert r.status_code == 403
    big = {**INIT, "pad": "x" * 70_000}
    r = httpx.post(served, json=big, headers={**HEADERS, **auth})
    assert r.status_code == 413
    r = httpx.post(served, json=INIT, headers={**HEADERS, **auth})
    assert r.status_code == 200, r.text


def test_an_mcp_client_with_the_token_calls_tools(served: str) -> None:
    async def go() -> tuple[list[str], str]:
        http = httpx2.AsyncClient(headers={"authorization": f"Bearer {TOKEN}"}, timeout=60)
        async with http, Client(streamable_http_client(served, http_client=http)) as c:
            tools = [t.name for t in (await c.list_tools()).tools]
            r = await c.call_tool("list_metrics", {"match": "http_server"})
            return tools, "\n".join(getattr(x, "text", "") for x in r.content)

    tools, text = asyncio.run(go())
    assert "query" in tools and "list_metrics" in tools
    assert "http_server" in text


@pytest.mark.skipif(shutil.which("npx") is None, reason="npx (Node.js) is not installed")
def test_mcp_inspector_cli_with_the_header_lists_tools(served: str) -> None:
    base = ["npx", "-y", f"@modelcontextprotocol/inspector@{INSPECTOR}", "--cli", served,
            "--transport", "http", "--method", "tools/list"]
    ok = subprocess.run([*base, "--header", f"Authorization: Bearer {TOKEN}"],
                        capture_output=True, text=True, timeout=240, check=False)
    assert ok.returncode == 0, ok.stderr[-2000:]
    names = [t["name"] for t in json.loads(ok.stdout)["tools"]]
    assert "query" in names
    denied = subprocess.run(base, capture_output=True, text=True, timeout=240, check=False)
    # without it the Inspector gets 401 and falls back to an OAuth login it cannot do here
    assert denied.returncode != 0 and "auth" in denied.stderr.lower()
