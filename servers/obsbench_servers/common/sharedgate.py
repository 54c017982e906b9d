"""Rate budgets shared by every obsbench server process of one user, through lock files.

``BackendGate`` (``common/resilience.py``) holds a backend's token bucket,
concurrency cap and circuit breaker in memory: right for the five servers of an
in-process hub, wrong for stdio children (the hub's ``--transport stdio``, an
MCP client that spawns ``obsbench serve X``, several clients at once), where each
process would get the whole budget and five children would send five times the
configured rate to one Prometheus. ``SharedGate`` keeps the same state for one
(endpoint, tenant) in a small file and updates it under ``fcntl.flock``:

- ``<key>.state``: tokens, last refill, Retry-After pause, consecutive failures,
  circuit open-until and half-open trial start, requests sent. Times are
  ``time.monotonic()`` — one system-wide clock on Linux and macOS, so processes
  agree; a state written before a reboot (its time is in the future) is
  discarded.
- ``<key>.slot<i>``: one file per concurrency slot, held with an exclusive
  ``flock`` for the duration of a request. The kernel releases the lock when the
  holder dies, so a process killed with ``-9`` mid-request cannot leak a slot.

Threads of one process take an in-process lock before the file lock (``flock``
does not exclude threads sharing one open file) and a local semaphore before a
slot file, so the thread fast path stays exact. A process that forked reopens
its files (an inherited open file would share its parent's locks).

Where: ``$OBSBENCH_GATE_DIR`` (the hub sets it for its stdio children), else
``gates/`` in the servers' state directory (``$OBSBENCH_STATE_DIR`` or the
platform's per-user state directory — what an MCP client's bare environment
still resolves the same way), so the children of several MCP clients share
budgets. ``OBSBENCH_GATE_DIR=off`` keeps budgets per process. Without ``fcntl``
(Windows) or with an unusable directory, ``gate_for`` falls back to the
per-process gate and ``sharing_status`` says so (``obsbench doctor`` prints it).
File names are hashes: they do not reveal endpoints or tenants.
"""

from __future__ import annotations

import hashlib
import os
import random
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: per-process gates only
    fcntl = None  # type: ignore[assignment]

from obsbench_servers.common.audit import state_dir
from obsbench_servers.common.resilience import GateError

GATE_DIR_ENV = "OBSBENCH_GATE_DIR"
DISABLED = "off"
_MAGIC = b"OBG1"
# magic, tokens, last, paused_until, failures, open_until, trial_since, sent
_FORMAT = struct.Struct("<4sdddqddq")


def gate_dir() -> Path | None:
    """The shared gate directory, or None when sharing is switched off."""
    env = os.environ.get(GATE_DIR_ENV, "").strip()
    if env.lower() == DISABLED:
        return None
    return Path(env).expanduser() if env else state_dir() / "gates"


@dataclass(frozen=True)
class SharingStatus:
    """Whether rate budgets are shared across processes here, and why not."""

    shared: bool
    directory: Path | None
    reason: str

    def line(self) -> str:
        """One line for ``obsbench doctor`` and logs."""
        if self.shared:
            return f"rate budgets: shared by all obsbench processes ({self.directory})"
        return f"rate budgets: per process only — {self.reason}"


_fallback_reason = ""


def note_fallback(reason: str) -> None:
    """Remember why a gate could not be shared (for ``sharing_status``)."""
    global _fallback_reason  # one process-wide diagnostic
    _fallback_reason = reason


def sharing_status() -> SharingStatus:
    """What ``gate_for`` does in this process: shared lock files or per-process gates."""
    if fcntl is None:
        return SharingStatus(False, None, "this platform has no fcntl (file locks); "
                             "each server process enforces the limits on its own")
    directory = gate_dir()
    if directory is None:
        return SharingStatus(False, None, f"{GATE_DIR_ENV}=off")
    if _fallback_reason:
        return SharingStatus(False, directory, _fallback_reason)
    return SharingStatus(True, directory, "")


def gate_key(endpoint: str, tenant: str) -> str:
    return hashlib.blake2b(f"{endpoint}\0{tenant}".encode(), digest_size=12).hexdigest()


@dataclass
class _State:
    tokens: float
    last: float
    paused_until: float = 0.0
    failures: int = 0
    open_until: float = 0.0
    trial_since: float = 0.0
    sent: int = 0


def _open(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)


class SharedSlots:
    """The concurrency cap across processes: ``with slots:`` holds one slot file's lock."""

    def __init__(self, directory: Path, key: str, concurrency: int, *,
                 max_wait_s: float = 60.0, name: str = "") -> None:
        self.paths = [directory / f"{key}.slot{i}" for i in range(concurrency)]
        self.concurrency = concurrency
        self.max_wait_s = max_wait_s
        self.name = name
        self._local = threading.BoundedSemaphore(concurrency)  # threads wait here cheaply
        self._lock = threading.Lock()
        self._busy: set[int] = set()  # slots held by this process's threads
        self._held = threading.local()
        self._pid = -1
        self._fds: list[int] = []

    def _files(self) -> list[int]:
        if self._pid != os.getpid():  # first use, or a forked child: our own descriptors
            self._fds = [_open(p) for p in self.paths]
            self._pid = os.getpid()
            self._busy = set()
        return self._fds

    def _try_take(self) -> int | None:
        assert fcntl is not None
        with self._lock:
            fds = self._files()
            start = random.randrange(self.concurrency)
            for step in range(self.concurrency):
                i = (start + step) % self.concurrency
                if i in self._busy:
                    continue
                try:
                    fcntl.flock(fds[i], fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                self._busy.add(i)
                return i
        return None

    def __enter__(self) -> SharedSlots:
        self._local.acquire()
        deadline = time.monotonic() + self.max_wait_s
        delay = 0.001
        while (slot := self._try_take()) is None:
            if time.monotonic() >= deadline:
                self._local.release()
                raise GateError(
                    "concurrency_limited",
                    f"{self.name}: all {self.concurrency} concurrent request slots stayed busy "
                    f"for {self.max_wait_s:g}s (shared by every obsbench process)",
                    "fewer parallel tool calls, or raise limits.concurrency",
                )
            time.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, 0.02)
        stack = getattr(self._held, "stack", None)
        if stack is None:
            stack = self._held.stack = []
        stack.append(slot)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert fcntl is not None
        slot = self._held.stack.pop()
        with self._lock:
            fcntl.flock(self._fds[slot], fcntl.LOCK_UN)
            self._busy.discard(slot)
        self._local.release()

    def close(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                for fd in self._fds:
                    os.close(fd)
            self._fds, self._pid = [], -1


class SharedGate:
    """``BackendGate``'s rate, concurrency and breaker, kept in lock files shared by processes."""

    def __init__(self, name: str, directory: Path, *, tenant: str = "", rate: float = 10.0,
                 concurrency: int = 4, failure_threshold: int = 5, cooldown_s: float = 30.0,
                 clock: Any = time.monotonic, slot_max_wait_s: float = 60.0) -> None:
        if fcntl is None:  # pragma: no cover - guarded by gate_for
            raise OSError("no fcntl on this platform")
        self.name = name
        self.rate = rate
        self.concurrency = concurrency
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self.clock = clock
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.key = gate_key(name.rstrip("/"), tenant)
        self.path = directory / f"{self.key}.state"
        self._lock = threading.Lock()
        self._pid = -1
        self._fd = -1
        self._open_state()  # fail now (unwritable dir) rather than on the first request
        self.slots = SharedSlots(directory, self.key, concurrency,
                                 max_wait_s=slot_max_wait_s, name=name)

    # -- the state file ------------------------------------------------------------------------
    def _open_state(self) -> int:
        if self._pid != os.getpid():
            self._fd = _open(self.path)
            self._pid = os.getpid()
        return self._fd

    def _read(self, fd: int, now: float) -> _State:
        raw = os.pread(fd, _FORMAT.size, 0)
        fresh = _State(tokens=float(max(1.0, self.rate)), last=now)
        if len(raw) != _FORMAT.size:
            return fresh
        magic, tokens, last, paused, failures, open_until, trial, sent = _FORMAT.unpack(raw)
        if magic != _MAGIC or last > now + 1.0:  # unknown format, or written before a reboot
            return fresh
        return _State(tokens, last, paused, failures, open_until, trial, sent)

    def _update(self, fn: Any) -> Any:
        """Run ``fn(state, now)`` under the thread lock and the file lock; write the state back."""
        assert fcntl is not None
        with self._lock:
            fd = self._open_state()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                now = self.clock()
                st = self._read(fd, now)
                result = fn(st, now)
                os.pwrite(fd, _FORMAT.pack(_MAGIC, st.tokens, st.last, st.paused_until,
                                           st.failures, st.open_until, st.trial_since,
                                           st.sent), 0)
                return result
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    # -- rate -----------------------------------------------------------------------------------
    def reserve(self) -> float:
        """Take a token; return how long the caller must wait before using it (0: now)."""
        def take(st: _State, now: float) -> float:
            burst = max(1.0, self.rate)
            st.tokens = min(burst, st.tokens + max(0.0, now - st.last) * self.rate)
            st.last = now
            st.tokens -= 1.0
            wait = 0.0 if st.tokens >= 0 else -st.tokens / self.rate
            return max(wait, st.paused_until - now)
        return float(self._update(take))

    def pause(self, seconds: float) -> None:
        """The backend said Retry-After: no process sends before then."""
        def set_pause(st: _State, now: float) -> None:
            st.paused_until = max(st.paused_until, now + seconds)
        self._update(set_pause)

    def count_sent(self) -> None:
        def bump(st: _State, now: float) -> None:
            st.sent += 1
        self._update(bump)

    @property
    def sent(self) -> int:
        """Requests sent to the backend by every process sharing this gate."""
        return int(self._update(lambda st, now: st.sent))

    # -- breaker --------------------------------------------------------------------------------
    def check_circuit(self) -> None:
        def check(st: _State, now: float) -> tuple[str, str] | None:
            if st.open_until and now < st.open_until:
                return ("open", f"{st.failures} times in a row; not asking it again "
                                f"for {st.open_until - now:.0f}s")
            if st.open_until and (not st.trial_since or now - st.trial_since > self.cooldown_s):
                # half-open: this request tests the backend (a trial whose process died
                # without reporting is given up after one cool-down)
                st.trial_since = now
                return None
            if st.open_until:
                return ("trial", "")
            return None

        refused = self._update(check)
        if refused is None:
            return
        if refused[0] == "open":
            raise GateError(
                "circuit_open", f"{self.name} failed {refused[1]}",
                "the backend looks down: check its health (`obsbench doctor`); calls "
                "resume automatically after the cool-down",
            )
        raise GateError("circuit_open", f"{self.name} is being re-tested after failures",
                        "try again in a few seconds")

    def record(self, ok: bool) -> None:
        def rec(st: _State, now: float) -> None:
            if ok:
                st.failures = 0
                st.open_until = 0.0
            else:
                st.failures += 1
                if st.failures >= self.failure_threshold or st.trial_since:
                    st.open_until = now + self.cooldown_s
            st.trial_since = 0.0
        self._update(rec)

    @property
    def is_open(self) -> bool:
        return bool(self._update(lambda st, now: bool(st.open_until) and now < st.open_until))

    def close(self) -> None:
        """Close this process's descriptors (the files stay for the other processes)."""
        with self._lock:
            if self._pid == os.getpid():
                os.close(self._fd)
            self._fd, self._pid = -1, -1
        self.slots.close()


__all__ = ["GATE_DIR_ENV", "SharedGate", "SharedSlots", "SharingStatus", "gate_dir",
           "sharing_status"]
