"""Output conventions of every command: data on stdout, diagnostics on stderr, exit codes.

Exit 0: ok. Exit 1: the tool reported an error. Exit 2: usage or configuration
error. JSON goes to stdout only, so ``| jq`` always sees a document.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import orjson
import typer

from obsbench_servers.common.errors import BadInputError, ConfigError, ObsbenchError
from obsbench_servers.common.timeutil import TimeParseError

T = TypeVar("T")

EXIT_OK = 0
EXIT_TOOL_ERROR = 1
EXIT_USAGE = 2


def print_json(data: Any) -> None:
    """Write one JSON document to stdout (indented, stable key order as given)."""
    sys.stdout.write(
        orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode() + "\n"
    )
    sys.stdout.flush()


def info(message: str) -> None:
    """A diagnostic for the person, on stderr."""
    sys.stderr.write(message + "\n")


def fail(message: str, hint: str | None = None, code: int = EXIT_TOOL_ERROR) -> NoReturn:
    """Print an error (and what to try) on stderr and exit with ``code``."""
    sys.stderr.write(f"error: {message}\n")
    if hint:
        sys.stderr.write(f"hint: {hint}\n")
    raise typer.Exit(code)


def run_guarded(fn: Callable[[], T], *, usage_errors: tuple[type[Exception], ...] = ()) -> T:
    """Run a command body, mapping known errors to messages and exit codes."""
    try:
        return fn()
    except ConfigError as exc:
        fail(exc.message, exc.hint, EXIT_USAGE)
    except TimeParseError as exc:
        fail(str(exc), None, EXIT_USAGE)
    except BadInputError as exc:
        code = EXIT_USAGE if usage_errors and isinstance(exc, usage_errors) else EXIT_TOOL_ERROR
        fail(exc.message, exc.hint, code)
    except ObsbenchError as exc:
        fail(exc.message, exc.hint, EXIT_TOOL_ERROR)
