"""Helpers for the logs server tests: call a tool over an in-memory MCP session, and a
small hand-made bundle holding the awkward lines (1 MB, binary garbage, invalid UTF-8)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from obsbench_servers.common.context import ServerContext
from obsbench_servers.logs.server import create_server

T0 = "2026-01-05T10:00:00Z"
T0_NS = 1_767_607_200 * 10**9


def call(ctx: ServerContext, tool: str, args: dict[str, Any]) -> Any:
    """Build the logs server for ``ctx`` and call one tool; returns the CallToolResult."""
    server = create_server(ctx)

    async def go() -> Any:
        async with Client(server) as client:
            return await client.call_tool(tool, args)

    return anyio.run(go)


def text(result: Any) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content)


def _line(sec: float, service: str, level: str | None, message: str, **extra: Any) -> bytes:
    rec: dict[str, Any] = {"ts": T0_NS + int(sec * 1e9), "service": service, "message": message}
    if level:
        rec["level"] = level
    rec.update(extra)
    return json.dumps(rec).encode() + b"\n"


def write_mini_bundle(root: Path) -> Path:
    """60 minutes of two services; api goes silent after minute 40, errors start at 30."""
    (root / "logs").mkdir(parents=True, exist_ok=True)
    (root / "bundle.toml").write_text(
        'name = "mini"\n[window]\nstart = "2026-01-05T10:00:00Z"\nend = "2026-01-05T11:00:00Z"\n')
    out = bytearray()
    for i in range(3600):
        sec = float(i)
        if i % 10 == 0 and i < 2400:
            out += _line(sec, "api", "info", f"GET /v1/items/{i} 200 in {i % 97} ms",
                         trace_id=f"{i:032x}", status="200", route="/v1/items")
        if i % 20 == 5:
            out += _line(sec, "worker", "info", f'job done id={i} status=ok duration_ms={i % 50}')
        if i >= 1800 and i % 30 == 7:
            out += _line(sec, "worker", "error",
                         f"payment job {i} failed: connection pool exhausted",
                         trace_id=f"{i:032x}")
            out += _line(sec + 0.001, "worker", None, "Traceback (most recent call last):")
            out += _line(sec + 0.002, "worker", None,
                         '  File "/app/jobs.py", line 12, in run')
            out += _line(sec + 0.003, "worker", None, "    pool.acquire()")
            out += _line(sec + 0.004, "worker", None,
                         "pool.PoolExhausted: no connection available after 2.0s")
        if i % 300 == 150:
            out += _line(sec, "api", "warn", '{"msg":"slow","route":"/v1/items","status":503}')
    # Awkward lines: a 1 MB single line, control-character garbage, invalid UTF-8.
    out += _line(3000.5, "worker", "warn", "huge " + "x" * (1 << 20))
    out += _line(3001.5, "worker", "warn", "garbage \x00\x01\x02\x1b[31m\x7f binary")
    (root / "logs" / "app.jsonl").write_bytes(bytes(out))
    # Invalid UTF-8 in its own file: the importer keeps the line with U+FFFD in place of
    # the bad bytes (and warns), so it counts among the worker's lines.
    (root / "logs" / "bad-utf8.jsonl").write_bytes(
        b'{"ts": %d, "service": "worker", "level": "warn", "message": "bad utf8 \xff\xfe"}\n'
        % (T0_NS + 3002 * 10**9))
    return root


@pytest.fixture(scope="session")
def mini_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_mini_bundle(tmp_path_factory.mktemp("mini") / "bundle")


@pytest.fixture
def mini_ctx(mini_bundle: Path, tmp_path_factory: pytest.TempPathFactory,
             monkeypatch: pytest.MonkeyPatch) -> Callable[..., ServerContext]:
    from tests.conftest import run_shared_dir

    monkeypatch.setenv("OBSBENCH_CACHE_DIR", str(run_shared_dir(tmp_path_factory,
                                                                "obsbench-store-cache")))
    return lambda **kw: ServerContext.for_bundle("logs", mini_bundle, **kw)
