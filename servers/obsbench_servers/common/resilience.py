"""Backend protection at the HTTP layer: rate limit, concurrency cap, circuit breaker, retries.

A model can fire twenty tool calls at once and repeat them; a backend that is
down answers slowly or not at all. ``ResilientTransport`` wraps the transport of
every client ``common/http.py`` builds for a real backend, so every adapter gets
the same rules without knowing:

- **Token bucket + concurrency** per backend (``limits.requests_per_second``,
  ``limits.concurrency``), shared by every client that talks to the same endpoint
  and tenant (``gate_for``) — in this process and, through lock files
  (``common/sharedgate.py``), in every other obsbench server process of the user:
  the five stdio children of a hub, or the servers several MCP clients spawned,
  share one budget per backend. A caller waits for a token; if it would wait
  longer than ``max_wait_s`` it gets a clear ``rate_limited`` error instead.
- **Retry-After**: a 429 or 503 with ``Retry-After`` pauses the whole backend
  (every caller) until then; the request is retried only if the wait fits in
  ``max_wait_s``.
- **Retries with jittered exponential backoff** — for idempotent reads only
  (GET, HEAD, OPTIONS, or a request marked ``extensions={"obsbench_idempotent":
  True}``, e.g. a Prometheus query sent as POST): on refused/reset connections,
  connect timeouts, 502/503/504 and 429. A write is never retried.
- **Circuit breaker**: after ``failure_threshold`` consecutive failures (refused or
  reset connections, timeouts, 5xx: the backend's health; not TLS or 4xx, which
  are the client's configuration) the
  backend is "open" for ``cooldown_s``: calls fail at once with a
  ``circuit_open`` error instead of queueing behind a dead backend; then one
  trial request is let through (half-open) and success closes the circuit.
"""

from __future__ import annotations

import email.utils
import random
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from obsbench_servers.common.errors import BackendError

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
RETRY_STATUSES = frozenset({429, 502, 503, 504})


class GateError(BackendError):
    """Refused before the backend was asked: rate limit wait too long, or the circuit is open."""

    def __init__(self, reason: str, message: str, hint: str) -> None:
        super().__init__(message, hint)
        self.reason = reason


@dataclass
class RetryPolicy:
    attempts: int = 3  # in total, the first try included
    base_s: float = 0.2
    max_backoff_s: float = 2.0
    max_wait_s: float = 10.0  # longest a caller waits for a token or a Retry-After

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(max, base * 2**attempt)] (no thundering herd)."""
        return rng.uniform(0, min(self.max_backoff_s, self.base_s * (2 ** attempt)))


@dataclass
class BackendGate:
    """The rate, concurrency and health state of one backend, shared by its clients."""

    name: str
    rate: float = 10.0
    concurrency: int = 4
    failure_threshold: int = 5
    cooldown_s: float = 30.0
    clock: Any = time.monotonic
    _tokens: float = field(default=-1.0, init=False)
    _last: float = field(default=0.0, init=False)
    _paused_until: float = field(default=0.0, init=False)
    _failures: int = field(default=0, init=False)
    _open_until: float = field(default=0.0, init=False)
    _trial: bool = field(default=False, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    slots: threading.BoundedSemaphore = field(init=False)  # the concurrency cap
    sent: int = field(default=0, init=False)  # requests that went to the backend

    def __post_init__(self) -> None:
        self.slots = threading.BoundedSemaphore(self.concurrency)
        self._tokens = float(max(1.0, self.rate))
        self._last = self.clock()

    # -- rate -----------------------------------------------------------------------------------
    def reserve(self) -> float:
        """Take a token; return how long the caller must wait before using it (0: now)."""
        with self._lock:
            now = self.clock()
            burst = max(1.0, self.rate)
            self._tokens = min(burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= 1.0
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
            return max(wait, self._paused_until - now)

    def pause(self, seconds: float) -> None:
        """The backend said Retry-After: nobody sends before then."""
        with self._lock:
            self._paused_until = max(self._paused_until, self.clock() + seconds)

    def count_sent(self) -> None:
        with self._lock:
            self.sent += 1

    # -- breaker --------------------------------------------------------------------------------
    def check_circuit(self) -> None:
        with self._lock:
            now = self.clock()
            if self._open_until and now < self._open_until:
                raise GateError(
                    "circuit_open",
                    f"{self.name} failed {self._failures} times in a row; not asking it again "
                    f"for {self._open_until - now:.0f}s",
                    "the backend looks down: check its health (`obsbench doctor`); calls "
                    "resume automatically after the cool-down",
                )
            if self._open_until and not self._trial:
                self._trial = True  # half-open: this one request tests the backend
            elif self._open_until:
                raise GateError("circuit_open",
                                f"{self.name} is being re-tested after failures",
                                "try again in a few seconds")

    def record(self, ok: bool) -> None:
        with self._lock:
            if ok:
                self._failures = 0
                self._open_until = 0.0
            else:
                self._failures += 1
                if self._failures >= self.failure_threshold or self._trial:
                    self._open_until = self.clock() + self.cooldown_s
            self._trial = False

    @property
    def is_open(self) -> bool:
        with self._lock:
            return bool(self._open_until) and self.clock() < self._open_until


class Gate(Protocol):
    """What ``ResilientTransport`` needs of a gate: ``BackendGate`` or ``sharedgate.SharedGate``."""

    name: str
    rate: float

    @property
    def slots(self) -> Any: ...  # a context manager: one concurrent request
    def reserve(self) -> float: ...
    def pause(self, seconds: float) -> None: ...
    def count_sent(self) -> None: ...
    def check_circuit(self) -> None: ...
    def record(self, ok: bool) -> None: ...
    @property
    def is_open(self) -> bool: ...


_gates: dict[tuple[str, str, str], Gate] = {}
_gates_lock = threading.Lock()


def gate_for(endpoint: str, tenant: str = "", *, rate: float = 10.0, concurrency: int = 4,
             shared: bool = True, **kw: Any) -> Gate:
    """The gate of one backend (endpoint and tenant), created on first use in this process.

    ``shared`` (the default) keeps its state in the gate directory so every obsbench
    process of the user shares the budget (``common/sharedgate.py``); without file
    locks (no ``fcntl``, ``OBSBENCH_GATE_DIR=off``, an unusable directory) the gate is
    this process's own, and ``sharedgate.sharing_status()`` says why.
    """
    from obsbench_servers.common import sharedgate  # noqa: PLC0415 - it imports GateError

    directory = sharedgate.gate_dir() if shared and sharedgate.fcntl is not None else None
    key = (endpoint.rstrip("/"), tenant, str(directory or ""))
    with _gates_lock:
        gate = _gates.get(key)
        if gate is None:
            if directory is not None:
                try:
                    gate = sharedgate.SharedGate(endpoint, directory, tenant=tenant, rate=rate,
                                                 concurrency=concurrency, **kw)
                except OSError as exc:
                    sharedgate.note_fallback(
                        f"the gate directory {directory} is unusable ({exc.strerror or exc}); "
                        f"set {sharedgate.GATE_DIR_ENV} to a writable local directory")
            if gate is None:
                gate = BackendGate(endpoint, rate=rate, concurrency=concurrency, **kw)
            _gates[key] = gate
        return gate


def retry_after_s(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), None when absent or bad."""
    raw = response.headers.get("Retry-After")
    if not raw:
        return None
    raw = raw.strip()
    if raw.isdigit():
        return float(raw)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _idempotent(request: httpx.Request) -> bool:
    return request.method in IDEMPOTENT_METHODS or bool(
        request.extensions.get("obsbench_idempotent"))


def _is_tls(exc: BaseException) -> bool:
    """A TLS failure is the client's configuration, not the backend's health."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        cur = stack.pop()
        if id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, ssl.SSLError) or "[ssl" in str(cur).lower() or (
                "certificate" in str(cur).lower()):
            return True
        stack += [c for c in (cur.__cause__, cur.__context__) if c is not None]
        stack += [a for a in getattr(cur, "args", ()) if isinstance(a, BaseException)]
    return False


_RETRY_EXC = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError,
              httpx.ReadError)


class ResilientTransport(httpx.BaseTransport):
    """A sync transport that applies a ``BackendGate`` and a ``RetryPolicy`` to every request."""

    def __init__(self, inner: httpx.BaseTransport, gate: Gate,
                 policy: RetryPolicy | None = None, *, sleep: Any = time.sleep,
                 rng: random.Random | None = None) -> None:
        self.inner = inner
        self.gate = gate
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.rng = rng or random.Random()

    def _wait_turn(self) -> None:
        wait = self.gate.reserve()
        if wait > self.policy.max_wait_s:
            raise GateError(
                "rate_limited",
                f"{self.gate.name}: the request budget ({self.gate.rate:g}/s) is used up "
                f"for the next {wait:.0f}s",
                "fewer or narrower tool calls, or raise limits.requests_per_second",
            )
        if wait > 0:
            self.sleep(wait)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        retryable = _idempotent(request)
        attempt = 0
        while True:
            self.gate.check_circuit()
            self._wait_turn()
            with self.gate.slots:
                self.gate.count_sent()
                try:
                    response = self.inner.handle_request(request)
                except _RETRY_EXC as exc:
                    if _is_tls(exc):
                        raise  # neither retried nor counted against the backend
                    self.gate.record(False)
                    attempt += 1
                    if not retryable or attempt >= self.policy.attempts:
                        raise
                    self.sleep(self.policy.backoff(attempt, self.rng))
                    continue
                except httpx.TimeoutException:
                    self.gate.record(False)
                    raise  # a read timeout already spent the caller's time: no retry
            status = response.status_code
            self.gate.record(status < 500)
            if status not in RETRY_STATUSES:
                return response
            after = retry_after_s(response)
            if after is not None:
                self.gate.pause(min(after, self.policy.max_wait_s + 1))
            attempt += 1
            if (not retryable or attempt >= self.policy.attempts
                    or (after is not None and after > self.policy.max_wait_s)):
                return response  # the caller turns the status into a clear error
            response.read()
            response.close()
            if after is None:
                self.sleep(self.policy.backoff(attempt, self.rng))

    def close(self) -> None:
        self.inner.close()
