"""Where a command's data comes from: a configured profile or a bundle, and "now".

Every data command takes ``--profile NAME`` or ``--bundle DIR`` (and ``--at``);
this module turns them into one ``ServerContext`` per signal, secrets
resolved, so the servers never read the workbench's configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from obsbench.config import Profile, load_config, resolve_profile
from obsbench_servers.common.backend import LocalBackend
from obsbench_servers.common.context import ServerContext
from obsbench_servers.common.errors import ConfigError
from obsbench_servers.common.manifest import bundle_window_ns  # not the store: no DuckDB
from obsbench_servers.common.timeutil import parse_time_ns


@dataclass
class Scope:
    """A resolved profile (or bundle) and the pinned "now", if any."""

    name: str
    profile: Profile
    at_ns: int | None = None

    def context(self, signal: str) -> ServerContext:
        """The server context of one signal."""
        p = self.profile
        if signal == "alerts":
            backends = list(p.alerts)
        else:
            one = getattr(p, signal)
            backends = [one] if one is not None else []
        # Cross-signal seams the servers read from options (they never see the profile):
        # infra takes usage history from the profile's metrics backend; alerts takes
        # rollouts and Kubernetes events for incident timelines from the infra backend.
        options: dict[str, Any] = {}
        if signal == "infra" and p.metrics is not None:
            options["metrics"] = p.metrics
        if signal == "alerts" and p.infra is not None:
            options["infra"] = p.infra
        return ServerContext(
            signal,
            backends,  # type: ignore[arg-type]
            options=options,
            profile=self.name,
            writes_enabled=p.writes_enabled,
            at_ns=self.at_ns,
            runbooks_dir=p.runbooks_dir,
            allowed_runbook_hosts=list(p.allowed_runbook_hosts),
        )

    @property
    def bundle(self) -> Path | None:
        """The bundle when every signal is the embedded store over one bundle."""
        return self.profile.bundle


def resolve_scope(
    *,
    profile: str | None = None,
    bundle: Path | None = None,
    at: str | None = None,
    overrides: list[str] | None = None,
) -> Scope:
    """``--bundle`` wins over profiles; otherwise the named, default or only profile."""
    if profile and bundle:
        raise ConfigError("give either --profile or --bundle, not both",
                          "--bundle DIR investigates a bundle; --profile NAME a configured stack")
    if bundle is not None:
        path = Path(bundle).expanduser()
        if not path.is_dir():
            raise ConfigError(f"--bundle {path}: no such directory",
                              "generate one with `obsbench scenarios generate NAME --out DIR`")
        prof = Profile(bundle=path.resolve())
        name = f"bundle:{path.name}"
    else:
        loaded = load_config(overrides=overrides)
        name, prof = loaded.profile(profile)
        prof = resolve_profile(prof)
    at_ns = parse_time_ns(at, _bundle_end(prof)) if at else None
    return Scope(name, prof, at_ns)


def _bundle_end(profile: Profile) -> int | None:
    """The end of the profile's bundle window: what ``--at now-30m`` is relative to."""
    local = next((b for _, b in profile.backends() if isinstance(b, LocalBackend)), None)
    if local is None:
        return None
    window = bundle_window_ns(Path(local.bundle).expanduser())
    return window[1] if window else None
