"""``obsbench doctor``: can obsbench reach every backend of a profile, and which versions are they?

Checks run concurrently, each bounded by ``--timeout``; a failing check says
why (DNS, refused, TLS, timeout, 401, missing secret, missing bundle) and what
to try. Exit 0 when every backend answers, 1 when any does not, 2 when the
configuration itself is invalid.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from obsbench.cli.output import EXIT_OK, EXIT_TOOL_ERROR, info, print_json, run_guarded

if TYPE_CHECKING:
    from obsbench_servers.common.health import HealthResult, TransportFor


def doctor(
    profile: str | None = typer.Option(
        None, "--profile", "-p", help="Profile to check (default: default_profile)."
    ),
    json_out: bool = typer.Option(
        False, "--json", help="Print one JSON document instead of a table."
    ),
    timeout: float = typer.Option(10.0, "--timeout", min=0.1, help="Seconds allowed per backend."),
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="KEY=VALUE", help="Override a config key (repeatable)."),
    ] = None,
) -> None:
    """Check reachability and version of every backend of a profile."""
    code = run_guarded(
        lambda: run_doctor(profile, json_out=json_out, timeout=timeout, overrides=overrides)
    )
    raise typer.Exit(code)


def run_doctor(
    profile: str | None,
    *,
    json_out: bool,
    timeout: float,
    overrides: list[str] | None = None,
    transport_for: TransportFor | None = None,
) -> int:
    """Run the checks and print them; returns the exit code."""
    from obsbench.config import ConfigValidationError, load_config, resolve_backend
    from obsbench_servers.common.backend import backend_summary
    from obsbench_servers.common.errors import ConfigError
    from obsbench_servers.common.health import HealthResult, check_many

    try:
        loaded = load_config(overrides=overrides)
        name, prof = loaded.profile(profile)
        if not prof.backends():
            raise ConfigError(
                f"profile {name!r} configures no backend",
                "add [profiles.NAME.metrics] (etc.) or bundle = DIR to the profile",
            )
    except ConfigError as exc:
        if json_out:  # scripts piping to jq still get a document
            doc: dict[str, Any] = {
                "ok": False,
                "error": "config",
                "message": exc.message,
                "hint": exc.hint,
            }
            if isinstance(exc, ConfigValidationError):
                doc.update(path=str(exc.path), problems=[p.to_dict() for p in exc.problems])
            print_json(doc)
        raise
    backends = prof.backends()

    slots: list[HealthResult | int] = []
    to_check: list[tuple[str, Any]] = []
    for signal, backend in backends:
        try:
            resolved = resolve_backend(backend)
        except ConfigError as exc:
            slots.append(
                HealthResult(
                    signal=signal,
                    type=backend.type,
                    name=backend.name,
                    target=backend_summary(backend)["target"],
                    status="fail",
                    reason="secret",
                    message=exc.message,
                    hint=exc.hint,
                )
            )
            continue
        slots.append(len(to_check))
        to_check.append((signal, resolved))
    checked = check_many(to_check, timeout=timeout, transport_for=transport_for)
    results = [checked[s] if isinstance(s, int) else s for s in slots]

    failed = sum(r.status == "fail" for r in results)
    warned = sum(r.status == "warn" for r in results)
    from obsbench_servers.common.sharedgate import sharing_status

    gates = sharing_status()  # are rate budgets shared across server processes here?
    if json_out:
        print_json(
            {
                "ok": failed == 0,
                "profile": name,
                "config": str(loaded.path),
                "timeout_s": timeout,
                "checks": [r.to_dict() for r in results],
                "rate_budgets": {"shared": gates.shared, "reason": gates.reason,
                                 "directory": str(gates.directory or "") or None},
            }
        )
    else:
        _render(name, str(loaded.path), results)
        info(gates.line())
    info(
        f"{len(results) - failed - warned} ok, {warned} with warnings, {failed} failing"
        + (" — see the hints above" if failed else "")
    )
    return EXIT_TOOL_ERROR if failed else EXIT_OK


def _grouped(results: list[HealthResult]) -> list[tuple[str, HealthResult]]:
    """One row per distinct check: signals sharing a bundle (and its outcome) are merged."""
    rows: list[tuple[str, HealthResult]] = []
    for r in results:
        label = r.signal + (f" ({r.name})" if r.name else "")
        prev = rows[-1][1] if rows else None
        if (
            prev is not None
            and r.type == "local"
            and prev.type == "local"
            and prev.target == r.target
            and prev.status == r.status
            and prev.message == r.message
        ):
            rows[-1] = (f"{rows[-1][0]}, {label}", prev)
        else:
            rows.append((label, r))
    return rows


def _render(profile: str, path: str, results: list[HealthResult]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(soft_wrap=False)
    if not console.is_terminal:
        console.width = max(console.width, 160)
    table = Table(title=f"obsbench doctor — profile {profile} ({path})", title_justify="left")
    for col in ("signal", "type", "target", "status", "version", "ms", "details"):
        table.add_column(col, overflow="fold")
    style = {"ok": "green", "warn": "yellow", "fail": "bold red"}
    todo: list[tuple[str, str, str]] = []
    for label, r in _grouped(results):
        if r.status == "fail":
            details = Text(f"{r.reason}: {r.message}", style="red")
            if r.hint:
                todo.append((label, "fix", r.hint))
        else:
            details = Text(r.detail)
            for w in r.warnings:
                details.append(f"\n! {w}", style="yellow")
        table.add_row(
            label,
            r.type,
            r.target,
            Text(r.status.upper(), style=style[r.status]),
            r.version or "—",
            f"{r.latency_ms:.0f}" if r.latency_ms is not None else "",
            details,
        )
    console.print(table)
    for label, _, hint in todo:
        console.print(Text.assemble((f"{label}: ", "bold"), "→ ", hint))
