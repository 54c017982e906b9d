"""The command bar (``:`` k9s style): calls tools directly, without the LLM.

Parsing is plain Python (no Textual) so it is tested on its own. A command is
either a *tool call* (``ToolCommand``: a hub tool name and its arguments) or an
*app action* (``AppCommand``: export, theme, agent, profile, help) the app performs.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any

from obsbench_servers.common.errors import BadInputError


@dataclass(frozen=True)
class ToolCommand:
    """Call ``tool`` (hub name, ``server_tool``) with ``arguments``."""

    tool: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AppCommand:
    """An action of the app itself (``export md``, ``theme obsbench-light``, ``help``)."""

    action: str
    args: tuple[str, ...] = ()


Command = ToolCommand | AppCommand

# name -> one-line usage; the help screen and error hints list these.
USAGE: dict[str, str] = {
    "logs": ":logs [SERVICE] [/REGEX] [WORDS]   search log lines (last hour)",
    "patterns": ":patterns [SERVICE]              error patterns vs the hour before",
    "metrics": ":metrics PROMQL                   range query over the last hour",
    "trace": ":trace TRACE_ID                   one trace as a span tree",
    "errors": ":errors [SERVICE]                 traces with errors",
    "alerts": ":alerts                           firing alerts",
    "incidents": ":incidents                        active incidents",
    "deploys": ":deploys [WINDOW]                 rollouts and config changes (default 24h)",
    "events": ":events [WINDOW]                  Kubernetes events",
    "call": ":call TOOL [key=value ...]        any tool by its hub name",
    "export": ":export [md|json] [PATH]          transcript and evidence to a file",
    "postmortem": ":postmortem                       cited post-mortem of the last answer",
    "theme": ":theme NAME                       switch colour theme",
    "agent": ":agent offline|anthropic|openai[:MODEL]  investigate with another agent",
    "profile": ":profile [NAME] [--force]          switch profile (no NAME: list them)",
    "help": ":help                             keys and commands",
}
_APP = ("export", "theme", "help", "postmortem", "agent", "profile")


def _value(text: str) -> Any:
    """``key=value`` values: JSON when they parse (numbers, booleans, lists), else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_command(line: str) -> Command:
    """``:logs checkout /timeout`` -> ToolCommand("logs_search_logs", {...})."""
    text = line.strip().removeprefix(":").strip()
    if not text:
        raise BadInputError("empty command", "try :help for the list of commands")
    head, _, rest = text.partition(" ")
    verb, rest = head.lower(), rest.strip()
    try:
        words = shlex.split(rest)
    except ValueError as exc:
        raise BadInputError(f"cannot read {rest!r}: {exc}", "close the quotes") from None
    if verb in _APP:
        return AppCommand(verb, tuple(words))
    if verb == "logs":
        return _logs(words)
    if verb == "patterns":
        return ToolCommand("logs_get_error_patterns", {"service": words[0]} if words else {})
    if verb in ("metrics", "promql", "m"):
        if not rest:
            raise BadInputError(":metrics needs a PromQL expression",
                                "e.g. :metrics sum by (service) (rate(http_requests_total[5m]))")
        return ToolCommand("metrics_query_range", {"expr": rest})
    if verb == "trace":
        if len(words) != 1:
            raise BadInputError(":trace needs one trace id", "e.g. :trace 4bf92f3577b34da6...")
        return ToolCommand("traces_get_trace_details", {"trace_id": words[0]})
    if verb == "errors":
        return ToolCommand("traces_find_error_traces", {"service": words[0]} if words else {})
    if verb == "alerts":
        return ToolCommand("alerts_list_firing_alerts", {})
    if verb == "incidents":
        return ToolCommand("alerts_get_active_incidents", {})
    if verb == "deploys":
        return ToolCommand("infra_get_recent_deployments", {"window": words[0]} if words else {})
    if verb == "events":
        return ToolCommand("infra_get_events", {"window": words[0]} if words else {})
    if verb == "call":
        return _call(words)
    import difflib  # noqa: PLC0415

    close = difflib.get_close_matches(verb, list(USAGE), n=1)
    raise BadInputError(f"unknown command :{verb}",
                        (f"did you mean :{close[0]}? " if close else "") + "try :help")


def _logs(words: list[str]) -> ToolCommand:
    args: dict[str, Any] = {}
    plain: list[str] = []
    for w in words:
        if w.startswith("/") and len(w) > 1:
            args["regex"] = w[1:]
        elif "service" not in args and not plain and "=" not in w:
            args["service"] = w
        elif "=" in w:
            key, _, value = w.partition("=")
            args[key] = _value(value)
        else:
            plain.append(w)
    if plain:
        args["contains"] = " ".join(plain)
    return ToolCommand("logs_search_logs", args)


def _call(words: list[str]) -> ToolCommand:
    if not words:
        raise BadInputError(":call needs a tool name", "e.g. :call metrics_query expr=up")
    args: dict[str, Any] = {}
    for w in words[1:]:
        key, eq, value = w.partition("=")
        if not eq or not key:
            raise BadInputError(f"{w!r} is not key=value", "e.g. :call logs_search_logs limit=20")
        args[key] = _value(value)
    return ToolCommand(words[0], args)
