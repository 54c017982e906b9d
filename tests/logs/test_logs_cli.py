"""`obsbench logs ...`: the tools from the command line (JSON contract, exit codes), and
`obsbench logs patterns --file` on any raw log file without a bundle."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from obsbench.cli.main import app
from obsbench_servers.common.context import ServerContext

runner = CliRunner()


def _bundle_args(ctx_factory: Callable[..., ServerContext]) -> list[str]:
    return ["--bundle", str(ctx_factory().backend.target())]


def test_search_json_and_text(mini_ctx: Callable[..., ServerContext]) -> None:
    args = ["logs", "search", *_bundle_args(mini_ctx), "--service", "worker", "--level",
            "error", "--limit", "2", "--start", "2026-01-05T10:00:00Z", "--end",
            "2026-01-05T11:00:00Z"]
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["data"]["total"] == 60 and doc["data"]["returned"] == 2
    assert doc["time_range"]["start"] == "2026-01-05T10:00:00Z"
    text = runner.invoke(app, args)
    assert text.exit_code == 0 and "60 lines matched" in text.stdout


def test_since_is_relative_to_the_bundle_end(mini_ctx: Callable[..., ServerContext]) -> None:
    res = runner.invoke(app, ["logs", "patterns", *_bundle_args(mini_ctx), "--since", "30m",
                              "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["time_range"] == {"start": "2026-01-05T10:30:00Z", "end": "2026-01-05T11:00:00Z"}
    assert doc["data"]["new"]


def test_other_commands_run(mini_ctx: Callable[..., ServerContext]) -> None:
    b = _bundle_args(mini_ctx)
    for args in (["around", "2026-01-05T10:30:00Z", "--delta", "2"],
                 ["volume", "--since", "30m", "--step", "2m"],
                 ["stacktraces", "--since", "1h"]):
        res = runner.invoke(app, ["logs", *args, *b, "--json"])
        assert res.exit_code == 0, (args, res.output)
        assert json.loads(res.stdout)["data"]


def test_tool_errors_exit_1_and_usage_errors_exit_2(mini_ctx: Callable[..., ServerContext]
                                                    ) -> None:
    b = _bundle_args(mini_ctx)
    res = runner.invoke(app, ["logs", "search", *b, "--service", "wroker"])
    assert res.exit_code == 1
    assert "did you mean 'worker'" in res.stderr
    res = runner.invoke(app, ["logs", "search", *b, "--direction", "sideways"])
    assert res.exit_code == 2
    res = runner.invoke(app, ["logs", "search", "--bundle", "/nonexistent/dir"])
    assert res.exit_code == 2


def test_patterns_file_per_line(shared: Path, tmp_path: Path) -> None:
    log = shared / "data" / "loghub" / "OpenSSH" / "OpenSSH_2k.log"
    res = runner.invoke(app, ["logs", "patterns", "--file", str(log), "--per-line", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["lines"] == 2000 and len(doc["per_line"]) == 2000
    ids = {p["id"] for p in doc["patterns"]}
    assert set(doc["per_line"]) == ids
    assert sum(p["count"] for p in doc["patterns"]) == 2000
    raw = tmp_path / "bin.log"
    raw.write_bytes(b"ok 1\n\xff\xfe garbage\x00\n" + b"y" * (1 << 20) + b"\n")
    res = runner.invoke(app, ["logs", "patterns", "--file", str(raw)])
    assert res.exit_code == 0 and "3 lines ->" in res.stdout
    missing = runner.invoke(app, ["logs", "patterns", "--file", str(tmp_path / "nope.log")])
    assert missing.exit_code == 2
