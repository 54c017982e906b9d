"""Errors a tool can raise, each carrying what went wrong and what to try.

An error reaches two readers: an LLM deciding its next call, and an engineer at
3 a.m. Both need the same two things, so every error has a ``message`` (what
was wrong) and a ``hint`` (what to do instead).
"""

from __future__ import annotations


class ObsbenchError(Exception):
    """Base error: ``message`` says what was wrong, ``hint`` what to try."""

    kind = "error"

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message

    def to_dict(self) -> dict[str, str]:
        data = {"error": self.kind, "message": self.message}
        if self.hint:
            data["hint"] = self.hint
        return data


class BadInputError(ObsbenchError):
    """The arguments were wrong (bad query, unknown name, impossible range)."""

    kind = "bad_input"


class NotFoundError(ObsbenchError):
    """The thing asked for does not exist (service, trace id, incident)."""

    kind = "not_found"


class BackendError(ObsbenchError):
    """The backend failed, refused, timed out or answered garbage."""

    kind = "backend"


class GuardError(ObsbenchError):
    """A guard refused the request before it reached the backend (too big, too wide)."""

    kind = "guard"


class ConfigError(ObsbenchError):
    """The configuration is invalid; the message names the file and key."""

    kind = "config"
