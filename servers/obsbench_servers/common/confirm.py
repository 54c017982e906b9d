"""The write gate: no write happens without a person saying yes, and every attempt is audited.

Three rules, each enforced in one place:

1. **Not registered unless enabled.** A server registers its write tools only when
   ``ctx.writes_enabled`` (the profile's ``writes_enabled``); otherwise a model cannot
   even see them (``writes_allowed``).
2. **A person confirms each call.** The confirmation is *not* a tool argument (a model
   could fill one in, for instance because a log line told it to); it is an MCP
   elicitation the server sends to the client, which shows it to the person. A
   resolver (``ask``) builds the question from the validated arguments; a client that
   cannot elicit gets no question and the write is refused. The CLI is such a client:
   it answers from ``--yes`` or an interactive prompt.
3. **Everything is written down.** ``WriteGate.run`` appends one audit record per
   attempt (``done``, ``refused`` or ``failed``) with the arguments, the backend, who
   confirmed and through which client, and who ran the process.

A tool declares the confirmation as a parameter annotated
``Annotated[ElicitationResult[Confirmation], Resolve(resolver)]``; MCPServer runs the
resolver before the tool body (on every protocol version: a standalone elicitation
request on 2025 revisions, an ``InputRequiredResult`` round on 2026-07-28) and keeps
the parameter out of the tool's input schema.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import anyio
from mcp.server.elicitation import (
    AcceptedElicitation,
    CancelledElicitation,
    DeclinedElicitation,
    ElicitationResult,
)
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.resolve import Elicit, Resolve
from pydantic import BaseModel, Field

from obsbench_servers.common.audit import AuditTrail, actor
from obsbench_servers.common.errors import GuardError, ObsbenchError

WRITES_SETTING = "writes_enabled"


class Confirmation(BaseModel):
    """The form a person fills in to allow one write."""

    confirm: bool = Field(description="Yes, perform exactly this write now.")
    name: str = Field(
        default="",
        description="Your name or handle; recorded in the audit trail as who confirmed.",
    )


# The type of a write tool's confirmation parameter; ``needs_confirmation`` binds the resolver.
ConfirmationArg = Annotated[Any, "bound by needs_confirmation"]
F = TypeVar("F")


def needs_confirmation(fn: F, resolver: Any, param: str = "confirmation") -> F:
    """Make ``param`` of ``fn`` a resolver-filled confirmation (kept out of the input schema).

    Written as a function because tools defined inside ``create_server`` are closures,
    whose postponed annotations could not name a resolver that is itself a closure.
    """
    fn.__annotations__[param] = Annotated[ElicitationResult[Confirmation], Resolve(resolver)]
    return fn


@dataclass(frozen=True)
class NoConfirmationChannel:
    """The resolver's answer when the client cannot ask a person (no form elicitation)."""

    reason: str


@dataclass(frozen=True)
class InvalidWrite:
    """The resolver's answer when the arguments are wrong: nobody is asked to confirm them."""

    error: ObsbenchError


class WriteRefusedError(GuardError):
    """The write was not confirmed; nothing was sent to the backend."""


def writes_allowed(writes_enabled: bool) -> bool:
    """Rule 1, named so every server reads the same way: register write tools only if True."""
    return bool(writes_enabled)


def writes_disabled_message(profile: str) -> tuple[str, str]:
    """The message and hint for a write attempted where writes are disabled."""
    where = f"profile {profile!r}" if profile else "this scope"
    return (
        f"writes are disabled for {where} ({WRITES_SETTING} = false): write tools are not "
        "registered and nothing was done",
        f"to allow confirmed writes, set {WRITES_SETTING} = true in [profiles.NAME] "
        f"(obsbench config set profiles.NAME.{WRITES_SETTING} true); a bundle is always "
        "read-only",
    )


def client_name(ctx: Context[Any, Any]) -> str:
    """The MCP client's self-declared name (``clientInfo.name``), or ``unknown``."""
    try:
        params = ctx.session.client_params
    except (ValueError, AttributeError):
        return "unknown"
    info = getattr(params, "client_info", None) if params is not None else None
    name = getattr(info, "name", None)
    version = getattr(info, "version", None)
    if not name:
        return "unknown"
    return f"{name} {version}" if version else str(name)


def ask(ctx: Context[Any, Any], message: str) -> Elicit[Confirmation] | NoConfirmationChannel:
    """Ask the person through the client, or say why that is impossible (rule 2)."""
    caps = ctx.client_capabilities
    elicitation = caps.elicitation if caps is not None else None
    if elicitation is None:
        return NoConfirmationChannel(
            f"the MCP client ({client_name(ctx)}) cannot ask a person to confirm: it did not "
            "declare the elicitation capability"
        )
    if elicitation.form is None and elicitation.url is not None:
        return NoConfirmationChannel(
            f"the MCP client ({client_name(ctx)}) supports only URL elicitation, not the "
            "confirmation form"
        )
    return Elicit(message, Confirmation)


@dataclass(frozen=True)
class Decision:
    """What came back from the person (or why nobody could be asked)."""

    confirmed: bool
    by: str
    channel: str
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"confirmed": self.confirmed, "by": self.by,
                                "channel": self.channel}
        if self.reason:
            data["reason"] = self.reason
        return data


def decide(outcome: Any, client: str) -> Decision:
    """Read a resolver outcome: only an accepted form with ``confirm = true`` confirms."""
    channel = f"mcp-elicitation via {client}"
    if isinstance(outcome, AcceptedElicitation):
        data = outcome.data
        if isinstance(data, Confirmation):
            if data.confirm:
                return Decision(True, data.name.strip() or f"unnamed person at {client}", channel)
            return Decision(False, data.name.strip(), channel,
                            "the person answered the confirmation with confirm = false")
        if isinstance(data, NoConfirmationChannel):
            return Decision(False, "", "none", data.reason)
        if isinstance(data, InvalidWrite):
            return Decision(False, "", "none", f"invalid arguments: {data.error.message}")
        return Decision(False, "", "none", f"unexpected confirmation value {type(data).__name__}")
    if isinstance(outcome, DeclinedElicitation):
        return Decision(False, "", channel, "the person declined")
    if isinstance(outcome, CancelledElicitation):
        return Decision(False, "", channel, "the person cancelled the confirmation")
    return Decision(False, "", "none", "no confirmation was given")


class WriteGate:
    """Runs one confirmed write and audits every attempt (rule 3)."""

    def __init__(self, server: str, profile: str, trail: AuditTrail | None = None) -> None:
        self.server = server
        self.profile = profile
        self.trail = trail or AuditTrail()

    def record(self, *, tool: str, arguments: dict[str, Any], outcome: str,
               decision: Decision | None, backend: dict[str, Any] | None = None,
               result: dict[str, Any] | None = None, reason: str = "") -> dict[str, Any]:
        """Append one write record (also used by the CLI for writes refused before a call)."""
        fields: dict[str, Any] = {
            "server": self.server,
            "tool": tool,
            "profile": self.profile,
            "outcome": outcome,
            "arguments": arguments,
            "confirmation": decision.to_dict() if decision else None,
            "confirmed_by": decision.by if decision and decision.confirmed else None,
            "actor": actor(),
        }
        if backend:
            fields["backend"] = backend
        if result is not None:
            fields["result"] = result
        if reason:
            fields["reason"] = reason
        return self.trail.append("write", **fields)

    async def run(
        self,
        *,
        tool: str,
        arguments: dict[str, Any],
        outcome: Any,
        client: str,
        backend: dict[str, Any],
        action: Callable[[], dict[str, Any]],
    ) -> tuple[dict[str, Any], Decision]:
        """Refuse (audited) unless confirmed; otherwise run ``action`` in a thread (audited)."""
        invalid = getattr(outcome, "data", None)
        if isinstance(invalid, InvalidWrite):
            # Nobody was asked; the arguments are reported like any bad input.
            self.record(tool=tool, arguments=arguments, outcome="refused", decision=None,
                        backend=backend, reason=f"invalid arguments: {invalid.error.message}")
            raise invalid.error
        decision = decide(outcome, client)
        if not decision.confirmed:
            self.record(tool=tool, arguments=arguments, outcome="refused", decision=decision,
                        backend=backend, reason=decision.reason)
            raise WriteRefusedError(
                f"{tool} was not performed: {decision.reason}. Nothing was sent to the backend.",
                "writes need a person's explicit confirmation through the MCP client "
                "(elicitation) or the CLI (--yes or the interactive prompt); a model cannot "
                "confirm on its own",
            )
        try:
            result = await anyio.to_thread.run_sync(functools.partial(action))
        except ObsbenchError as exc:
            self.record(tool=tool, arguments=arguments, outcome="failed", decision=decision,
                        backend=backend, reason=exc.message)
            raise
        except Exception as exc:
            self.record(tool=tool, arguments=arguments, outcome="failed", decision=decision,
                        backend=backend, reason=f"{type(exc).__name__}: {exc}")
            raise
        self.record(tool=tool, arguments=arguments, outcome="done", decision=decision,
                    backend=backend, result=result)
        return result, decision
