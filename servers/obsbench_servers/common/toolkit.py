"""Registering tools on an MCP server with the rules every tool shares.

``register_tool`` wraps a function returning ``ToolOutput``: synchronous bodies
run in a worker thread (a slow backend never blocks the server's event loop),
every call has a timeout, ``ObsbenchError`` becomes an error result with its
hint, and an unexpected exception becomes an error result too — the server
keeps serving whatever one call did. Unknown argument names are refused (a
model that writes ``levels`` for ``level`` must not get unfiltered lines it
believes filtered). Every result, errors included, leaves
through the server's ``Redactor`` (``common/redact.py``): text and
``structured_content`` alike, because any MCP client may hand either to a model.
"""

from __future__ import annotations

import functools
import inspect
import logging
import typing
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import create_model, model_validator

from obsbench_servers.common.errors import BackendError, BadInputError, ObsbenchError
from obsbench_servers.common.redact import redactor_for
from obsbench_servers.common.result import ToolOutput, error_result
from obsbench_servers.common.suggest import did_you_mean
from obsbench_servers.common.timeutil import TimeParseError

log = logging.getLogger("obsbench_servers")

DEFAULT_TIMEOUT_S = 60.0

ToolFn = Callable[..., ToolOutput] | Callable[..., Awaitable[ToolOutput]]


def wrap_tool(
    fn: ToolFn, *, name: str, timeout_s: float, server: MCPServer | None = None
) -> Callable[..., Awaitable[CallToolResult]]:
    """An async function with ``fn``'s parameters that returns a redacted ``CallToolResult``."""
    hints = typing.get_type_hints(fn, include_extras=True)
    sig = inspect.signature(fn)
    params = [
        p.replace(annotation=hints.get(p.name, p.annotation)) for p in sig.parameters.values()
    ]
    is_async = inspect.iscoroutinefunction(fn)

    async def call(**kwargs: Any) -> CallToolResult:
        result = await run(**kwargs)
        # in a worker thread: a large result must not stall the server's event loop
        redacted: CallToolResult = await anyio.to_thread.run_sync(
            redactor_for(server).call_result, result)
        return redacted

    async def run(**kwargs: Any) -> CallToolResult:
        try:
            with anyio.fail_after(timeout_s):
                if is_async:
                    out = await fn(**kwargs)  # type: ignore[misc]
                else:
                    out = await anyio.to_thread.run_sync(
                        functools.partial(fn, **kwargs), abandon_on_cancel=True
                    )
        except ObsbenchError as exc:
            return error_result(exc)
        except TimeParseError as exc:
            return error_result(BadInputError(str(exc)))
        except TimeoutError:
            return error_result(BackendError(
                f"{name} did not finish within {timeout_s:g}s",
                "narrow the time range or the selector, or raise the profile's timeout",
            ))
        except Exception as exc:
            log.exception("tool %s failed unexpectedly", name)
            return error_result(ObsbenchError(
                f"{name} failed unexpectedly: {type(exc).__name__}: {exc}",
                "the server is still serving; try different arguments, and report this",
            ))
        if not isinstance(out, ToolOutput):  # a programming error, reported like one
            return error_result(ObsbenchError(f"{name} returned {type(out).__name__}"))
        return out.to_call_result()

    call.__name__ = fn.__name__
    call.__doc__ = fn.__doc__
    call.__signature__ = sig.replace(  # type: ignore[attr-defined]
        parameters=params, return_annotation=CallToolResult
    )
    call.__annotations__ = {**{p.name: p.annotation for p in params}, "return": CallToolResult}
    return call


def register_tool(
    server: MCPServer,
    fn: ToolFn,
    *,
    name: str | None = None,
    description: str | None = None,
    title: str | None = None,
    read_only: bool = True,
    destructive: bool = False,
    idempotent: bool = True,
    open_world: bool = True,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> None:
    """Register ``fn`` as an MCP tool with annotations that tell clients what it does."""
    tool_name = name or fn.__name__
    server.add_tool(
        wrap_tool(fn, name=tool_name, timeout_s=timeout_s, server=server),
        name=tool_name,
        title=title,
        description=description or inspect.getdoc(fn),
        annotations=ToolAnnotations(
            title=title,
            read_only_hint=read_only,
            destructive_hint=destructive,
            idempotent_hint=idempotent,
            open_world_hint=open_world,
        ),
    )
    _refuse_unknown_arguments(server, tool_name)


def _refuse_unknown_arguments(server: MCPServer, name: str) -> None:
    """Make the tool's argument model refuse names it does not have, with a close-name hint.

    MCPServer's argument models ignore extra keys; for a tool an LLM calls, a silently
    dropped filter is worse than an error. The schema says so too (additionalProperties).
    """
    manager = getattr(server, "_tool_manager", None)
    tool = manager.get_tool(name) if manager is not None else None
    if tool is None:  # an mcp release without this seam: keep its default behaviour
        return
    base = tool.fn_metadata.arg_model
    known = sorted(f.alias or n for n, f in base.model_fields.items())

    def known_only(cls: type, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(k for k in data if k not in known)
            if unknown:
                hints = "; ".join(f"{k!r}: {did_you_mean(k, known, 'argument')}"
                                  for k in unknown)
                raise ValueError(f"unknown argument(s) for {name}: {hints}; "
                                 f"it takes {', '.join(known) or 'no arguments'}")
        return data

    # the same model name, so validation errors still name the tool's arguments
    validator: Any = model_validator(mode="before")(classmethod(known_only))  # type: ignore[arg-type]
    strict = create_model(base.__name__, __base__=base, __validators__={"known_only": validator})
    tool.fn_metadata.arg_model = strict
    tool.parameters = {**tool.parameters, "additionalProperties": False}
