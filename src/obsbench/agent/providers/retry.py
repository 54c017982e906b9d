"""Retries with backoff for model calls: 429, 529/overloaded, 5xx and network failures.

A model turn is safe to repeat (it changes nothing), so transient failures are
retried with exponential backoff and jitter, honouring ``Retry-After``. The person
hears about each wait through ``on_notice``; anything else fails at once.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio

from obsbench.agent.providers.base import OnText, ProviderError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry (``attempts`` counts the first try)."""

    attempts: int = 5
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0

    def delay(self, retry: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``retry`` (1, 2, ...)."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_delay_s * 2)
        cap = min(self.max_delay_s, self.base_delay_s * 2 ** (retry - 1))
        return cap * random.uniform(0.5, 1.0)


async def with_retries(
    attempt: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    what: str,
    on_notice: OnText | None = None,
) -> T:
    """Run ``attempt``; retry a retryable ``ProviderError`` per ``policy``."""
    for n in range(1, policy.attempts + 1):
        try:
            return await attempt()
        except ProviderError as exc:
            if not exc.retryable or n >= policy.attempts:
                if exc.retryable:
                    exc.message = f"{exc.message} (gave up after {n} attempts)"
                raise
            wait = policy.delay(n, exc.retry_after)
            if on_notice is not None:
                await on_notice(f"{what}: {exc.message}; retrying in {wait:.1f}s "
                                f"(attempt {n + 1} of {policy.attempts})")
            await anyio.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover
