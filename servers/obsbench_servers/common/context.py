"""What a server is built from: its backends, the bundle store, and the profile's rules.

The workbench resolves a profile (or ``--bundle DIR``) into one ``ServerContext``
per signal and hands it to the server's ``create_server``; the servers never
read the workbench's configuration themselves. For a bundle, "now" is the end
of the bundle's window (or ``--at``), so ``since=1h`` means the last hour of the
incident, not the last hour of the wall clock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from obsbench_servers.common.backend import AnyBackend, LocalBackend
from obsbench_servers.common.errors import BadInputError
from obsbench_servers.common.timeutil import (
    TimeRange,
    now_ns_utc,
    parse_duration_ns,
    parse_time_ns,
)

if TYPE_CHECKING:
    from obsbench_servers.store import TelemetryStore

SIGNALS = ("metrics", "logs", "traces", "alerts", "infra")


@dataclass
class ServerContext:
    """Everything one server needs: backends (secrets resolved), store, rules, clock."""

    signal: str
    backends: list[AnyBackend] = field(default_factory=list)
    profile: str = ""
    writes_enabled: bool = False
    at_ns: int | None = None  # a pinned "now" (--at); None: bundle end or the wall clock
    runbooks_dir: Path | None = None
    allowed_runbook_hosts: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    _stores: dict[Path, TelemetryStore] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _closers: list[Callable[[], None]] = field(default_factory=list, repr=False)

    @classmethod
    def for_bundle(cls, signal: str, bundle: Path | str, **kw: Any) -> ServerContext:
        """A context whose only backend is the embedded store over ``bundle``."""
        return cls(signal, [LocalBackend(type="local", bundle=Path(bundle))], **kw)

    @property
    def backend(self) -> AnyBackend:
        """The signal's (first) backend; servers with several (alerts) iterate ``backends``."""
        if not self.backends:
            raise BadInputError(
                f"no {self.signal} backend is configured",
                f"add [profiles.NAME.{self.signal}] to the config or pass --bundle DIR",
            )
        return self.backends[0]

    def store(self, backend: LocalBackend | None = None) -> TelemetryStore:
        """The embedded store of a local backend, opened (and imported) once per context."""
        from obsbench_servers.store import TelemetryStore  # noqa: PLC0415 - duckdb on demand

        local = backend or next((b for b in self.backends if isinstance(b, LocalBackend)), None)
        if local is None:
            raise BadInputError(f"the {self.signal} backend is not a local bundle")
        path = Path(local.bundle).expanduser().resolve()
        with self._lock:
            st = self._stores.get(path)
            if st is None:
                st = self._stores[path] = TelemetryStore.open(path)
            return st

    def now_ns(self) -> int:
        """What "now" means for relative times: ``--at``, else a bundle's end, else the clock."""
        if self.at_ns is not None:
            return self.at_ns
        local = next((b for b in self.backends if isinstance(b, LocalBackend)), None)
        if local is not None:
            window = self.store(local).manifest.window
            if window is not None:
                return window.end_ns
        return now_ns_utc()

    def time_range(
        self, start: str | None = None, end: str | None = None, *, default_since: str = "1h"
    ) -> TimeRange:
        """Resolve tool arguments (absolute, epoch or relative to ``now_ns``) to a range."""
        now = self.now_ns()
        end_ns = parse_time_ns(end, now) if end else now
        start_ns = (parse_time_ns(start, now) if start
                    else end_ns - parse_duration_ns(default_since))
        return TimeRange(start_ns, end_ns)

    def on_close(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` when the context closes (a server's HTTP clients, caches)."""
        with self._lock:
            self._closers.append(fn)

    def close(self) -> None:
        with self._lock:
            closers, self._closers = self._closers, []
        for fn in closers:
            fn()
        with self._lock:
            for st in self._stores.values():
                st.close()
            self._stores.clear()
