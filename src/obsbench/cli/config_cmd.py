"""``obsbench config ...``: where it is, a starter, show, validate, edit, store secrets.

Secrets are stored with ``set-secret`` (hidden prompt or ``--stdin``, never
argv) and referenced from the file; ``show`` prints each reference with
whether it resolves on this machine, never the value.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from obsbench.cli.output import EXIT_USAGE, fail, info, print_json, run_guarded

if TYPE_CHECKING:
    from obsbench.config import LoadedConfig

app = typer.Typer(
    help="Show, check and edit the configuration: profiles, backends, secrets.",
    no_args_is_help=True,
)

SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", metavar="KEY=VALUE",
                 help="Override a config key for this run: KEY=VALUE (repeatable)."),
]


@app.command("path")
def path_cmd() -> None:
    """Print the config file's path ($OBSBENCH_CONFIG overrides it)."""
    from obsbench.config import config_path

    path = config_path()
    typer.echo(str(path))
    if not path.exists():
        info("(the file does not exist yet: `obsbench config init` writes a starter)")


@app.command("init")
def init(
    profile: str | None = typer.Option(
        None,
        "--profile",
        "-p",
        help="Name of the starter profile (default: demo). With an existing file, adds it.",
    ),
    force: bool = typer.Option(
        False, "--force", help="Replace an existing file (a backup is kept)."
    ),
) -> None:
    """Write a commented starter config with a demo profile on the embedded store."""
    run_guarded(lambda: _init(profile, force))


def _init(profile: str | None, force: bool) -> None:
    from obsbench.config import (
        config_path,
        demo_bundle_path,
        profile_block,
        set_value,
        starter_config,
        validate_data,
        write_atomic,
    )

    path = config_path()
    name = profile or "demo"
    if path.exists() and not force:
        if profile is None:
            fail(
                f"{path} already exists; nothing was changed",
                "pass --force to replace it (the old file is kept as a .bak copy), or "
                "--profile NAME to add a profile to it",
                EXIT_USAGE,
            )
        text = path.read_text(encoding="utf-8")
        import tomlkit

        existing = tomlkit.parse(text).unwrap().get("profiles", {})
        if name in existing:
            fail(
                f"profile {name!r} already exists in {path}; nothing was changed",
                "edit it, or choose another --profile NAME",
                EXIT_USAGE,
            )
        block = profile_block(name, demo_bundle_path()).split("\n# A real stack:")[0]
        new_text = text.rstrip("\n") + "\n\n" + block.rstrip("\n") + "\n"
        import tomllib

        validate_data(tomllib.loads(new_text), path)
        write_atomic(path, new_text)
        info(f"added profile {name!r} to {path}")
        if "default_profile" not in tomlkit.parse(text):
            set_value(path, "default_profile", f'"{name}"')
        return
    if path.exists():
        backup = path.with_name(f"{path.name}.bak-{datetime.now():%Y%m%d-%H%M%S}")
        path.replace(backup)
        info(f"kept the previous file as {backup}")
    write_atomic(path, starter_config(name))
    info(f"wrote {path} (profile {name!r} on the embedded store)")
    info(
        "next: `obsbench demo` creates the demo bundle; `obsbench config validate`; "
        "`obsbench doctor`"
    )


@app.command("show")
def show(
    profile: str | None = typer.Option(None, "--profile", "-p", help="Show only this profile."),
    json_out: bool = typer.Option(False, "--json", help="Everything, defaults included, as JSON."),
    overrides: SetOption = None,
) -> None:
    """Print the effective configuration (file < env < --set); secrets as references, masked."""
    run_guarded(lambda: _show(profile, json_out, overrides))


def _secret_views(loaded: LoadedConfig, data: dict[str, Any], names: list[str]) -> None:
    """Replace every secret reference in ``data`` by its status (never its value)."""
    from obsbench.secrets import check_ref

    def view(ref: str, implicit: bool = False) -> dict[str, Any]:
        status = check_ref(ref).to_dict()
        if implicit:
            status["implicit"] = True
        return status

    for name in names:
        prof = data["profiles"][name]
        for signal in ("metrics", "logs", "traces", "infra", "alerts"):
            entries = prof.get(signal)
            for backend in entries if isinstance(entries, list) else [entries]:
                auth = backend.get("auth") if isinstance(backend, dict) else None
                if isinstance(auth, dict) and isinstance(auth.get("secret"), str):
                    auth["secret"] = view(auth["secret"])
        serve = prof.get("serve")
        if isinstance(serve, dict) and isinstance(serve.get("token_ref"), str):
            serve["token_ref"] = view(serve["token_ref"])
    ref = loaded.config.agent.api_key_ref()
    if ref:
        data["agent"]["api_key"] = view(ref, implicit=not loaded.config.agent.api_key)


def _show(profile: str | None, json_out: bool, overrides: list[str] | None) -> None:
    from obsbench.config import load_config

    loaded = load_config(overrides=overrides)
    if profile is not None:
        loaded.profile(profile)  # did-you-mean error for an unknown name
    cfg = loaded.config
    data = cfg.model_dump(mode="json", exclude_defaults=not json_out)
    data.setdefault("profiles", {})
    data.setdefault("agent", {})
    names = [profile] if profile else list(cfg.profiles)
    data["profiles"] = {
        n: cfg.profiles[n].model_dump(mode="json", exclude_defaults=not json_out) for n in names
    }
    _secret_views(loaded, data, names)
    if json_out:
        print_json(
            {"path": str(loaded.path), "exists": loaded.exists, "sources": loaded.sources, **data}
        )
        return
    header = f"# effective configuration from {loaded.path}"
    if not loaded.exists:
        header += " (file absent: defaults)"
    lines = [
        header,
        "# defaults omitted (--json shows every key); secrets are references, never values",
    ]
    lines += [f"# {key} <- {label}" for key, label in loaded.sources.items()]
    typer.echo("\n".join(lines) + "\n\n" + _to_toml(data))


def _to_toml(data: dict[str, Any]) -> str:
    """TOML text of ``data``; secret statuses become the reference with a comment."""
    import tomlkit

    def comment_for(status: dict[str, Any]) -> str:
        implicit = " (default reference)" if status.get("implicit") else ""
        if status["resolves"]:
            return f"resolves via {status['store']}; value hidden{implicit}"
        return f"does not resolve{implicit}: {status.get('detail', '')}"

    def is_status(v: Any) -> bool:
        return isinstance(v, dict) and "resolves" in v and "ref" in v

    def is_aot(v: Any) -> bool:
        return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)

    def fill(container: Any, node: dict[str, Any]) -> None:
        # Plain values first, then sub-tables, then arrays of tables: TOML's order.
        for k, v in node.items():
            if is_status(v):
                item = tomlkit.item(v["ref"])
                item.comment(comment_for(v))
                container.add(k, item)
            elif v is not None and not isinstance(v, dict) and not is_aot(v):
                container.add(k, tomlkit.item(v))
        for k, v in node.items():
            if isinstance(v, dict) and v and not is_status(v):
                table = tomlkit.table()
                fill(table, v)
                container.add(k, table)
        for k, v in node.items():
            if is_aot(v):
                aot = tomlkit.aot()
                for x in v:
                    table = tomlkit.table()
                    fill(table, x)
                    aot.append(table)
                container.add(k, aot)

    doc = tomlkit.document()
    fill(doc, data)
    return tomlkit.dumps(doc)


@app.command("validate")
def validate(
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    overrides: SetOption = None,
) -> None:
    """Check the config: exit 0 when valid, 2 with file:key:fix for every problem."""
    from obsbench.config import ConfigValidationError, config_path, load_config, secret_refs
    from obsbench.secrets import check_ref
    from obsbench_servers.common.errors import ConfigError

    path = config_path()
    try:
        if not path.is_file():
            raise ConfigError(f"no config file at {path}", "run `obsbench config init`")
        loaded = load_config(path, overrides=overrides)
    except ConfigValidationError as exc:
        if json_out:
            print_json(
                {"valid": False, "path": str(path), "problems": [p.to_dict() for p in exc.problems]}
            )
            raise typer.Exit(EXIT_USAGE) from None
        fail(exc.message, exc.hint, EXIT_USAGE)
    except ConfigError as exc:
        if json_out:
            print_json(
                {
                    "valid": False,
                    "path": str(path),
                    "problems": [
                        {
                            "source": str(path),
                            "key": "",
                            "message": exc.message,
                            "fix": exc.hint or "",
                        }
                    ],
                }
            )
            raise typer.Exit(EXIT_USAGE) from None
        fail(exc.message, exc.hint, EXIT_USAGE)
    warnings = []
    for name, prof in loaded.config.profiles.items():
        refs = [(key, ref) for key, _backend, ref in secret_refs(name, prof)]
        if prof.serve.token_ref:  # the bearer token `obsbench serve --transport http` checks
            refs.append((f"profiles.{name}.serve.token_ref", prof.serve.token_ref))
        for key, ref in refs:
            status = check_ref(ref)
            if not status.resolves:
                warnings.append(
                    f"{key}: {ref} does not resolve on this machine ({status.detail})"
                    + (f"; {status.hint}" if status.hint else "")
                )
    profiles = list(loaded.config.profiles)
    if json_out:
        print_json(
            {
                "valid": True,
                "path": str(path),
                "profiles": profiles,
                "default_profile": loaded.config.default_profile,
                "warnings": warnings,
            }
        )
        return
    for w in warnings:
        info(f"warning: {w}")
    default = loaded.config.default_profile
    listed = ", ".join(p + (" (default)" if p == default else "") for p in profiles) or "none"
    typer.echo(f"valid: {path} — profiles: {listed}")


@app.command("set")
def set_cmd(
    key: str = typer.Argument(..., help="Key path, e.g. profiles.prod.metrics.timeouts.read"),
    value: str = typer.Argument(
        ..., help='A TOML value: 30, true, "text", ["a", "b"]; bare text is a string.'
    ),
) -> None:
    """Set one key in the config file, keeping its comments; refused if the result is invalid."""
    from obsbench.config import config_path, set_value

    def body() -> None:
        path = config_path()
        set_value(path, key, value)
        info(f"set {key} in {path}")

    run_guarded(body)


@app.command("set-secret")
def set_secret(
    name: str = typer.Argument(..., help="Secret name; reference it as keyring:obsbench/NAME."),
    stdin: bool = typer.Option(False, "--stdin", help="Read the value from standard input."),
) -> None:
    """Store a secret in the system keyring (or the 0600 file store on headless machines).

    The value is read from a hidden prompt or from stdin, never from the command line.
    """
    from obsbench.secrets import store_secret

    if stdin:
        value = sys.stdin.read()
        value = (
            value[:-2] if value.endswith("\r\n") else value[:-1] if value.endswith("\n") else value
        )
    else:
        if not sys.stdin.isatty():
            fail(
                "standard input is not a terminal, so the value cannot be prompted for",
                f"pipe it instead: `… | obsbench config set-secret {name} --stdin`",
                EXIT_USAGE,
            )
        value = typer.prompt(
            f"Value for secret {name!r}", hide_input=True, confirmation_prompt=True
        )
    label = run_guarded(lambda: store_secret(name, value))
    info(f"stored secret {name!r} in the {label}")
    info(f'reference it in the config as: secret = "keyring:obsbench/{name}"')
