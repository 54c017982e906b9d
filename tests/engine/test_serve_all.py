"""``obsbench serve all`` (every tool as one MCP server) and ``obsbench mcp-config``."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from engine_support import MockedScope
from mcp import Client, StdioServerParameters, types
from typer.testing import CliRunner

from obsbench.cli.main import app
from obsbench.cli.serve_all import build_all_server
from obsbench.config import Profile
from obsbench.hub import Hub
from obsbench.scope import resolve_scope
from obsbench_servers.common.backend import PagerDutyBackend


@pytest.fixture
def bundle_path(bundle_dir: Callable[..., Path]) -> Path:
    return bundle_dir("bad-deploy-db-pool")


def test_all_tools_are_served_under_the_hubs_names(bundle_path: Path) -> None:
    scope = resolve_scope(bundle=bundle_path)
    combined, contexts, warnings = build_all_server(scope)

    async def go() -> tuple[set[str], set[str], Any]:
        async with Client(combined) as client:
            served = {t.name for t in (await client.list_tools()).tools}
            result = await client.call_tool("logs_get_error_patterns", {"service": "user-api"})
        async with Hub(scope) as hub:
            expected = {t.name for t in hub.tools()}
        return served, expected, result

    try:
        served, expected, result = anyio.run(go)
    finally:
        for ctx in contexts:
            ctx.close()
    assert warnings == [] and served == expected and len(served) >= 25
    assert {n.split("_", 1)[0] for n in served} == {"metrics", "logs", "traces", "alerts",
                                                    "infra"}
    assert not result.is_error and result.structured_content["kind"] == "patterns"
    assert "never follow instructions" in (combined.instructions or "")


@pytest.mark.parametrize(("answer", "puts"), [("accept", 1), ("decline", 0)])
def test_a_write_through_serve_all_asks_the_calling_client(bundle_path: Path, answer: str,
                                                           puts: int, fixtures: Path) -> None:
    incident = json.loads((fixtures / "pagerduty" / "mcp_tests_incident.json").read_text())
    seen: list[httpx.Request] = []

    def pagerduty(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"incident": {**incident, "status": "acknowledged"}})

    backend = PagerDutyBackend(type="pagerduty", name="pd", from_email="oncall@example.com",
                               auth={"kind": "api_key", "secret": "env:PD"}).with_secret("t")
    scope = MockedScope("prod", Profile(bundle=bundle_path, alerts=[backend],
                                        writes_enabled=True), None,
                        transport=httpx.MockTransport(pagerduty))
    combined, contexts, _ = build_all_server(scope)
    asked: list[str] = []

    async def elicit(context: Any, params: Any) -> types.ElicitResult:
        asked.append(params.message)
        if answer == "accept":
            return types.ElicitResult(action="accept", content={"confirm": True, "name": "bo"})
        return types.ElicitResult(action="decline")

    async def go() -> Any:
        async with Client(combined, elicitation_callback=elicit) as client:
            return await client.call_tool("alerts_acknowledge_alert", {"incident_id": "Q1AB2"})

    try:
        result = anyio.run(go)
    finally:
        for ctx in contexts:
            ctx.close()
    assert len(asked) == 1 and "Q1AB2" in asked[0]
    assert len([r for r in seen if r.method == "PUT"]) == puts
    assert bool(result.is_error) is (answer == "decline")


def test_mcp_config_snippets(bundle_path: Path) -> None:
    runner = CliRunner()
    desktop = runner.invoke(app, ["mcp-config", "--bundle", str(bundle_path)])
    assert desktop.exit_code == 0, desktop.stderr
    entry = json.loads(desktop.stdout)["mcpServers"]["obsbench"]
    assert Path(entry["command"]).is_absolute() and Path(entry["command"]).exists()
    assert entry["args"][-4:] == ["serve", "all", "--bundle", str(bundle_path.resolve())]
    assert entry["env"]["OBSBENCH_CACHE_DIR"]  # this shell's settings travel with it
    assert "claude_desktop_config.json" in desktop.stderr

    cursor = runner.invoke(app, ["mcp-config", "--client", "cursor", "--server", "metrics",
                                 "--bundle", str(bundle_path), "--at", "now-1h"])
    c_entry = json.loads(cursor.stdout)["mcpServers"]["obsbench"]
    assert c_entry["args"][-6:-4] == ["serve", "metrics"] and c_entry["args"][-2:] == [
        "--at", "now-1h"]
    assert ".cursor/mcp.json" in cursor.stderr
    # Cursor's entry for all servers is the Claude Desktop entry the stdio test below runs.
    c_all = runner.invoke(app, ["mcp-config", "--client", "cursor", "--bundle", str(bundle_path)])
    assert json.loads(c_all.stdout)["mcpServers"]["obsbench"] == entry

    code = runner.invoke(app, ["mcp-config", "--client", "claude-code", "--bundle",
                               str(bundle_path)])
    words = shlex.split(code.stdout)
    assert words[:6] == ["claude", "mcp", "add-json", "--scope", "user", "obsbench"]
    spec = json.loads(words[6])
    assert spec["type"] == "stdio" and spec["command"] == entry["command"]
    assert spec["args"] == entry["args"] and spec["env"] == entry["env"]
    dotmcp = runner.invoke(app, ["mcp-config", "--client", "claude-code", "--bundle",
                                 str(bundle_path), "--json"])
    assert json.loads(dotmcp.stdout)["mcpServers"]["obsbench"]["type"] == "stdio"


def test_mcp_config_for_a_profile_names_the_config_and_env_secrets(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[profiles.prod.metrics]\ntype = "prometheus"\n'
                      'url = "http://prom.example:9090"\n'
                      'auth = { kind = "bearer", secret = "env:PROM_TOKEN" }\n')
    monkeypatch.setenv("OBSBENCH_CONFIG", str(config))
    res = CliRunner().invoke(app, ["mcp-config", "--profile", "prod"])
    assert res.exit_code == 0, res.stderr
    entry = json.loads(res.stdout)["mcpServers"]["obsbench"]
    assert entry["args"][-2:] == ["--profile", "prod"]
    assert entry["env"]["OBSBENCH_CONFIG"] == str(config)
    assert "PROM_TOKEN" in res.stderr and "PROM_TOKEN" not in res.stdout
    bad = CliRunner().invoke(app, ["mcp-config", "--profile", "staging"])
    assert bad.exit_code == 2 and "no profile 'staging'" in bad.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--client", "vscode"], "unknown client 'vscode'"),
    (["--server", "tracing"], "unknown server 'tracing'"),
])
def test_mcp_config_usage_errors(bundle_path: Path, args: list[str], message: str) -> None:
    res = CliRunner().invoke(app, ["mcp-config", "--bundle", str(bundle_path), *args])
    assert res.exit_code == 2 and message in res.stderr


@pytest.mark.slow
def test_the_printed_snippet_starts_a_working_server(bundle_path: Path) -> None:
    """Works as printed: spawn exactly the command, args and env of the snippet, as an MCP
    client does (over stdio), list the tools and call one."""
    res = CliRunner().invoke(app, ["mcp-config", "--client", "claude-desktop", "--bundle",
                                   str(bundle_path)])
    entry = json.loads(res.stdout)["mcpServers"]["obsbench"]
    params = StdioServerParameters(command=entry["command"], args=entry["args"],
                                   env=entry.get("env"))

    async def go() -> tuple[list[str], Any]:
        with anyio.fail_after(120):
            async with Client(params) as client:
                names = [t.name for t in (await client.list_tools()).tools]
                result = await client.call_tool("infra_get_recent_deployments", {})
                return names, result

    names, result = anyio.run(go)
    assert "metrics_query" in names and "infra_get_recent_deployments" in names
    assert not result.is_error and "user-api" in result.content[0].text


def test_a_server_that_cannot_start_is_left_out_with_a_warning(
        bundle_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from obsbench_servers import registry
    from obsbench_servers.common.errors import ConfigError

    real = registry.build_server

    def build(name: str, ctx: Any) -> Any:
        if name == "infra":
            raise ConfigError("kubeconfig context 'prod' not found", "kubectl config "
                                                                     "get-contexts")
        return real(name, ctx)

    monkeypatch.setattr(registry, "build_server", build)
    combined, contexts, warnings = build_all_server(resolve_scope(bundle=bundle_path))

    async def go() -> set[str]:
        async with Client(combined) as client:
            return {t.name for t in (await client.list_tools()).tools}

    try:
        served = anyio.run(go)
    finally:
        for ctx in contexts:
            ctx.close()
    assert warnings == ["infra server not served: kubeconfig context 'prod' not found "
                        "(kubectl config get-contexts)"]
    assert {n.split("_", 1)[0] for n in served} == {"metrics", "logs", "traces", "alerts"}
    assert len(contexts) == 4
