"""``obsbench eval``: score an investigator's root-cause accuracy on scenario bundles.

Data (the JSON report) goes to stdout with ``--json``; progress, one line per
case, goes to stderr. Exit 0 when every case ran (whatever the accuracy), 1
when ``--min-accuracy`` is given and not met, 2 on usage errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from obsbench.cli.options import JsonOpt
from obsbench.cli.output import EXIT_TOOL_ERROR, info, print_json, run_guarded


def eval_cmd(
    agent: Annotated[str | None, typer.Option(
        "--agent", "-a", help="offline, anthropic[:MODEL] or openai[:MODEL] (default: the "
                              "config; offline without an API key).")] = None,
    bundles: Annotated[Path | None, typer.Option(
        "--bundles", help="A directory of bundles with ground truth (each a subdirectory "
                          "with bundle.toml); default: generate the scenarios.")] = None,
    scenario: Annotated[list[str] | None, typer.Option(
        "--scenario", "-s", help="Scenario to generate (repeatable; default: all).")] = None,
    seeds: Annotated[str, typer.Option(
        "--seeds", help="Comma-separated seeds for generated scenarios.")] = "7",
    workdir: Annotated[Path | None, typer.Option(
        "--workdir", help="Where generated and blind bundles go (default: the cache dir).")
    ] = None,
    min_accuracy: Annotated[float | None, typer.Option(
        "--min-accuracy", help="Exit 1 when the root-service accuracy is below this (0-1).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Investigate blind scenario bundles and score the named root causes against the truth."""
    import anyio

    from obsbench.agent.select import select_agent
    from obsbench.config import load_config
    from obsbench_servers.common.errors import BadInputError

    seed_list = run_guarded(lambda: _seeds(seeds), usage_errors=(BadInputError,))
    cfg = run_guarded(load_config).config
    choice = run_guarded(lambda: select_agent(agent, cfg.agent))
    if choice.reason:
        info(choice.reason)
    root = workdir or _default_workdir()
    cases = run_guarded(lambda: _cases(bundles, scenario, seed_list, root),
                        usage_errors=(BadInputError,))
    info(f"eval: {len(cases)} case(s) with the {choice.label} investigator")

    async def investigate(bundle: Path, brief: Any) -> Any:
        from obsbench.agent.loop import run_to_end
        from obsbench.agent.select import build_investigator
        from obsbench.hub import Hub
        from obsbench.scope import resolve_scope

        async with Hub(resolve_scope(bundle=bundle)) as hub:
            inv = build_investigator(choice, hub, cfg.agent)
            try:
                return await run_to_end(inv, brief)
            finally:
                closer = getattr(inv, "aclose", None)
                if closer is not None:
                    await closer()

    from obsbench.eval import run_eval

    def progress(score: Any) -> None:
        mark = "ok " if score.service_ok else "MISS"
        got = f"{score.service}/{score.kind}" if score.service else (score.error or "nothing")
        info(f"{mark} {score.source}: truth {score.truth_service}/{score.truth_kind}, "
             f"got {got} ({score.elapsed_s:.1f}s)")

    report = anyio.run(lambda: run_eval(cases, investigate, agent=choice.label,
                                        on_case=progress))
    summary = report.summary
    if as_json:
        print_json(report.to_dict())
    else:
        typer.echo(f"root service: {summary['service_accuracy']:.0%}  kind: "
                   f"{summary['kind_accuracy']:.0%}  top-3: {summary['service_top3']:.0%}  "
                   f"cases: {summary['cases']}  errors: {summary['errors']}")
    if min_accuracy is not None and summary["service_accuracy"] < min_accuracy:
        info(f"accuracy {summary['service_accuracy']:.0%} is below --min-accuracy "
             f"{min_accuracy:.0%}")
        raise typer.Exit(EXIT_TOOL_ERROR)


def _seeds(text: str) -> list[int]:
    from obsbench_servers.common.errors import BadInputError

    try:
        out = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise BadInputError(f"--seeds {text!r}: not a comma-separated list of integers",
                            "e.g. --seeds 7,1001,1002") from None
    if not out:
        raise BadInputError("--seeds is empty", "e.g. --seeds 7")
    return out


def _default_workdir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("obsbench")) / "eval"


def _cases(bundles: Path | None, scenarios: list[str] | None, seeds: list[int],
           root: Path) -> list[Any]:
    from obsbench.eval import blind_copy
    from obsbench.scenarios import SCENARIOS, ensure_bundle
    from obsbench_servers.common.errors import BadInputError

    blind = root / "blind"
    if bundles is not None:
        if not bundles.is_dir():
            raise BadInputError(f"--bundles {bundles}: no such directory",
                                "give a directory whose subdirectories are bundles")
        dirs = sorted(p for p in bundles.iterdir() if (p / "bundle.toml").is_file())
        if not dirs:
            raise BadInputError(f"--bundles {bundles}: no bundle (no */bundle.toml)",
                                "generate some with `obsbench scenarios generate`")
        return [blind_copy(d, blind) for d in dirs]
    names = scenarios or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise BadInputError(f"unknown scenario {unknown[0]!r}",
                            "`obsbench scenarios list` shows the names")
    cases = []
    for seed in seeds:
        for name in names:
            src = root / "generated" / f"{name}-{seed}"
            ensure_bundle(name, src, seed=seed)
            case = blind_copy(src, blind)
            case.source = f"{name}:{seed}"
            cases.append(case)
    return cases
