"""Switching profile in the workbench: which profiles there are, and what a switch builds.

Plain Python (no Textual), run off the UI thread by the app. ``resolve`` does
what a fresh ``obsbench --profile NAME`` does before the first paint: read the
configuration, resolve the profile and its secrets (``scope.resolve_scope``;
a bad config or a missing secret raises ``ObsbenchError`` and nothing
changes), and build the hub factory for the new scope, so the profile's
``writes_enabled`` and redaction patterns hold, plus the investigator with the
configuration's ``[agent]`` settings as they are now.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from obsbench.hub import Hub
    from obsbench.scope import Scope

# (scope, elicitation callback) -> an unconnected hub for the scope.
MakeHub = Callable[["Scope", Any], "Hub"]
# (agent spec, hub) -> investigator, rebuilt from the configuration read at switch time.
MakeInvestigatorFactory = Callable[[str], tuple[str, Callable[["Hub"], Any]]]


@dataclass
class ProfileTarget:
    """Everything the app swaps in when a switch goes ahead."""

    name: str
    backends: str  # ``embedded store`` or ``metrics prometheus, ...`` until health is known
    hub_factory: Callable[[Any], Hub]
    health_check: Callable[[], list[Any]] | None
    writes_enabled: bool
    agent: str = ""  # the agent label; "" keeps the session's investigator
    investigator_factory: Callable[[Hub], Any] | None = None


class ProfileSwitcher:
    """Lists the configured profiles (plus the scopes this session has been on: a bundle
    or the demo is no profile) and resolves one into a ``ProfileTarget``."""

    def __init__(self, make_hub: MakeHub, current: Scope, *, health_timeout_s: float = 5.0,
                 check_health: bool = True,
                 make_investigator: MakeInvestigatorFactory | None = None) -> None:
        self.make_hub = make_hub
        self.known: dict[str, Scope] = {current.name: current}
        self.health_timeout_s = health_timeout_s
        self.check_health = check_health
        self.make_investigator = make_investigator

    def names(self) -> list[str]:
        """Configured profiles, then the other scopes seen (a broken config lists none)."""
        from obsbench.config import load_config  # noqa: PLC0415
        from obsbench_servers.common.errors import ObsbenchError  # noqa: PLC0415

        try:
            configured = list(load_config().config.profiles)
        except ObsbenchError:
            configured = []
        return configured + [n for n in self.known if n not in configured]

    def resolve(self, name: str, agent: str = "") -> ProfileTarget:
        """The target for ``name`` (blocking: config, keyring; run it in a thread)."""
        from obsbench.scope import resolve_scope  # noqa: PLC0415

        scope = self.known.get(name) if name.startswith("bundle:") else None
        if scope is None:
            scope = resolve_scope(profile=name)  # ConfigError: unknown, invalid, secret missing
        self.known.setdefault(scope.name, scope)
        label, investigator = "", None
        if self.make_investigator is not None and agent:
            label, investigator = self.make_investigator(agent)
        return self.target(scope, agent=label, investigator_factory=investigator)

    def target(self, scope: Scope, *, agent: str = "",
               investigator_factory: Callable[[Hub], Any] | None = None) -> ProfileTarget:
        from obsbench.tui.run import describe_backends  # noqa: PLC0415

        health: Callable[[], list[Any]] | None = None
        if self.check_health:
            pairs, timeout = scope.profile.backends(), self.health_timeout_s

            def health() -> list[Any]:
                from obsbench_servers.common.health import check_many  # noqa: PLC0415

                return check_many(pairs, timeout=timeout)

        make_hub = self.make_hub
        return ProfileTarget(scope.name, describe_backends(scope),
                             lambda confirm: make_hub(scope, confirm), health,
                             scope.profile.writes_enabled, agent, investigator_factory)
