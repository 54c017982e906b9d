"""What a model provider must do for the investigation loop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from obsbench.agent.model import Message, Turn
from obsbench.hub import ToolSpec
from obsbench_servers.common.errors import ObsbenchError

OnText = Callable[[str], Awaitable[None]]
# The error a provider puts on a tool call that the output limit cut in half.
CUT_OFF = ("your reply was cut off at the output limit while writing this call, so its "
           "arguments are incomplete; send the call again")


class ProviderError(ObsbenchError):
    """The model could not be reached or refused the request (after retries where they help).

    ``retryable`` tells whether the failure was transient (rate limit, overload, network)
    and ``retry_after`` how long the service asked to wait; providers retry those with
    backoff, and the loop ends the investigation with a partial result when they persist.
    """

    def __init__(self, message: str, hint: str | None = None, *, retryable: bool = False,
                 status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, hint)
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after


class Provider(Protocol):
    """A chat model with tool use. ``complete`` streams text through ``on_text``."""

    name: str
    model: str

    async def complete(
        self,
        system: str,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        on_text: OnText | None = None,
        max_tokens: int = 4096,
        on_notice: OnText | None = None,
    ) -> Turn:
        """One model turn: the assistant message (text and tool uses), stop reason, usage.

        ``on_notice`` hears what the person should know while waiting (a retry after a
        429 or an overload). Raises ``ProviderError`` when the turn cannot be had.
        """
        ...
