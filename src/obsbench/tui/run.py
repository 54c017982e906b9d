"""Start the workbench on a scope: the hub for the scope, the chosen investigator, the theme."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from obsbench.tui.app import WorkbenchApp
from obsbench.tui.themes import user_themes_dir

if TYPE_CHECKING:  # the hub (mcp) is imported by the app's hub worker, after the first paint
    from obsbench.agent.select import AgentChoice
    from obsbench.config import AgentConfig, UIConfig
    from obsbench.hub import Hub
    from obsbench.scope import Scope


def describe_backends(scope: Scope) -> str:
    """``embedded store`` for a bundle; else the backend type per signal."""
    pairs = scope.profile.backends()
    if not pairs:
        return "no backends"
    if all(getattr(b, "type", "") == "local" for _, b in pairs):
        return "embedded store"
    return ", ".join(f"{signal} {getattr(b, 'type', '?')}" for signal, b in pairs)


def build_app(scope: Scope, choice: AgentChoice, agent_config: AgentConfig, ui: UIConfig, *,
              question: str | None = None, notices: list[str] | None = None) -> WorkbenchApp:
    """The app wired to real parts: the hub (audited, writes confirmed in a modal) and agent."""

    def make_hub(new_scope: Scope, confirm: Any) -> Hub:
        from obsbench.hub import Hub  # noqa: PLC0415
        from obsbench_servers.common.audit import AuditTrail  # noqa: PLC0415

        return Hub(new_scope, audit=AuditTrail(), elicitation_callback=confirm)

    def hub_factory(confirm: Any) -> Hub:
        return make_hub(scope, confirm)

    def investigator_factory(hub: Hub) -> Any:
        from obsbench.agent.select import build_investigator  # noqa: PLC0415

        return build_investigator(choice, hub, agent_config)

    def agent_switcher(spec: str) -> tuple[str, Any, str]:
        from obsbench.agent.select import build_investigator, select_agent  # noqa: PLC0415

        new = select_agent(spec, agent_config)  # ConfigError (with the fix) when unusable
        return new.label, lambda hub: build_investigator(new, hub, agent_config), new.reason

    def health_check() -> list[Any]:
        from obsbench_servers.common.health import check_many  # noqa: PLC0415

        return check_many(scope.profile.backends(), timeout=5.0)

    def make_investigator(spec: str) -> tuple[str, Any]:
        # A switch starts afresh: the [agent] settings as the config says now.
        from obsbench.agent.select import build_investigator, select_agent  # noqa: PLC0415
        from obsbench.config import load_config  # noqa: PLC0415

        fresh = load_config().config.agent
        new = select_agent(spec, fresh)
        return new.label, lambda hub: build_investigator(new, hub, fresh)

    from obsbench.tui.profiles import ProfileSwitcher  # noqa: PLC0415

    return WorkbenchApp(
        hub_factory, investigator_factory, profile=scope.name,
        backends=describe_backends(scope), agent=choice.label, question=question,
        notices=([choice.reason] if choice.reason else []) + list(notices or []),
        theme=ui.theme, user_themes=user_themes_dir(ui.themes_dir), health_check=health_check,
        agent_switcher=agent_switcher,
        profile_switcher=ProfileSwitcher(make_hub, scope, make_investigator=make_investigator))


def run_tui(scope: Scope, choice: AgentChoice, agent_config: AgentConfig, ui: UIConfig, *,
            question: str | None = None, notices: list[str] | None = None) -> None:
    build_app(scope, choice, agent_config, ui, question=question, notices=notices).run()
