"""``obsbench mcp-config --client claude-desktop|claude-code|cursor``: works as printed.

The snippet starts ``obsbench serve all`` (or one server) over stdio with the
absolute path of this obsbench executable, so it works whatever the client's PATH
is, and with the scope as absolute arguments (``--bundle /abs/dir`` or ``--profile
NAME``). The client starts the server with its own environment, so the snippet
carries the OBSBENCH_* settings of this shell (config file, cache and state dirs)
and, for a profile, the config file's path. Secret values are never printed: a
profile whose secrets are ``env:`` references gets a warning naming the variables
the client must provide (or store them in the keyring with ``obsbench config
set-secret``).

- claude-desktop: the ``mcpServers`` entry for ``claude_desktop_config.json``;
- cursor: the same shape for ``~/.cursor/mcp.json`` (or ``.cursor/mcp.json``);
- claude-code: a ``claude mcp add-json`` command line (``--json``: the entry for a
  project's ``.mcp.json``).
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from obsbench.cli.options import AtOpt, BundleOpt, JsonOpt, ProfileOpt
from obsbench.cli.output import EXIT_USAGE, fail, info, print_json, run_guarded

CLIENTS = ("claude-desktop", "claude-code", "cursor")
PASSED_ENV = ("OBSBENCH_CONFIG", "OBSBENCH_CACHE_DIR", "OBSBENCH_STATE_DIR",
              "OBSBENCH_SECRETS_STORE", "OBSBENCH_GATE_DIR")
WHERE = {
    "claude-desktop": "add it to claude_desktop_config.json (macOS: ~/Library/Application "
                      "Support/Claude/, Windows: %APPDATA%\\Claude\\, Linux: ~/.config/Claude/)"
                      " under \"mcpServers\", then restart Claude Desktop",
    "cursor": "add it to ~/.cursor/mcp.json (all projects) or .cursor/mcp.json (one project) "
              "under \"mcpServers\"",
    "claude-code": "run it in a shell (--scope user: every project; use --scope project to "
                   "write the project's .mcp.json)",
}


def obsbench_command() -> list[str]:
    """How to start this obsbench from anywhere: its script's absolute path, else python -m."""
    import shutil

    name = "obsbench.exe" if os.name == "nt" else "obsbench"
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return [str(beside.absolute())]
    found = shutil.which("obsbench")
    if found:
        return [str(Path(found).absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "obsbench"]


def server_entry(server: str, *, profile: str | None, bundle: Path | None,
                 at: str | None) -> tuple[dict[str, Any], list[str]]:
    """``{"command", "args", "env"}`` for the scope, and warnings for the person."""
    from obsbench.config import config_path, load_config, secret_refs

    warnings: list[str] = []
    command = obsbench_command()
    args = [*command[1:], "serve", server]
    env = {k: os.environ[k] for k in PASSED_ENV if os.environ.get(k)}
    if bundle is not None:
        path = bundle.expanduser()
        if not (path / "bundle.toml").is_file():
            fail(f"--bundle {path}: not a bundle (no bundle.toml)",
                 "generate one with `obsbench scenarios generate NAME --out DIR`", EXIT_USAGE)
        args += ["--bundle", str(path.resolve())]
    else:
        loaded = run_guarded(load_config)
        name, prof = run_guarded(lambda: loaded.profile(profile))
        args += ["--profile", name]
        env.setdefault("OBSBENCH_CONFIG", str(config_path().absolute()))
        env_refs = sorted({ref.removeprefix("env:") for _, _, ref in secret_refs(name, prof)
                           if ref.startswith("env:")})
        if env_refs:
            warnings.append(
                f"profile {name!r} reads secrets from environment variables "
                f"({', '.join(env_refs)}) that the client does not have: add them to the "
                "entry's \"env\", or store them with `obsbench config set-secret` and "
                "reference keyring:obsbench/NAME")
    if at:
        args += ["--at", at]
    entry: dict[str, Any] = {"command": command[0], "args": args}
    if env:
        entry["env"] = env
    return entry, warnings


def mcp_config(
    client: Annotated[str, typer.Option("--client", "-c", help="claude-desktop, claude-code "
                                                               "or cursor.")] = "claude-desktop",
    server: Annotated[str, typer.Option("--server", help="all (every tool as one server) or "
                                                         "one of metrics, logs, traces, alerts, "
                                                         "infra.")] = "all",
    name: Annotated[str, typer.Option("--name", help="The server's name in the client.")
                    ] = "obsbench",
    profile: ProfileOpt = None,
    bundle: BundleOpt = None,
    at: AtOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the MCP client configuration that starts obsbench's servers (works as printed)."""
    from obsbench_servers.registry import SERVER_NAMES

    if client not in CLIENTS:
        import difflib

        close = difflib.get_close_matches(client, CLIENTS, n=1)
        fail(f"unknown client {client!r}",
             (f"did you mean {close[0]}? " if close else "") + f"use one of: {', '.join(CLIENTS)}",
             EXIT_USAGE)
    if server not in (*SERVER_NAMES, "all"):
        fail(f"unknown server {server!r}", f"use all or one of: {', '.join(SERVER_NAMES)}",
             EXIT_USAGE)
    if profile and bundle:
        fail("give either --profile or --bundle, not both", None, EXIT_USAGE)
    entry, warnings = server_entry(server, profile=profile, bundle=bundle, at=at)
    for w in warnings:
        info(f"warning: {w}")
    if client == "claude-code" and not as_json:
        spec = {"type": "stdio", **entry}
        import json

        sys.stdout.write(shlex.join(["claude", "mcp", "add-json", "--scope", "user", name,
                                     json.dumps(spec)]) + "\n")
    else:
        body = {"type": "stdio", **entry} if client == "claude-code" else entry
        print_json({"mcpServers": {name: body}})
    info(f"# {WHERE[client]}")
