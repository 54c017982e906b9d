"""Regular expressions from users and LLMs, run by a linear-time engine.

A pattern typed by a person or written by a model is untrusted: with a
backtracking engine (Python's ``re``) ``(a+)+$`` against a long line takes
exponential time and would hang a server thread. RE2 (``google-re2``) matches
in time linear in the input, whatever the pattern, and it is the syntax LogQL,
Loki, ADX (``matches regex``) and DuckDB's ``regexp_*`` functions already use,
so a pattern means the same thing on every logs backend. What RE2 refuses
(backreferences, lookaround) is reported with a hint, not silently rewritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import re2

from obsbench_servers.common.errors import BadInputError

MAX_PATTERN_CHARS = 2_000
# RE2 compiles to an automaton whose size is bounded by this memory budget: a
# pattern that needs more (e.g. a{1000}{1000}) is refused instead of allocating.
_MAX_MEM = 8 << 20

_UNSUPPORTED = (
    ("(?=", "lookahead"), ("(?!", "negative lookahead"), ("(?<=", "lookbehind"),
    ("(?<!", "negative lookbehind"), ("(?>", "atomic groups"),
)


@dataclass(frozen=True)
class SafeRegex:
    """A compiled RE2 pattern; ``search`` and ``fullmatch`` are linear in the text."""

    pattern: str
    _compiled: Any

    def search(self, text: str) -> bool:
        return self._compiled.search(text) is not None

    def fullmatch(self, text: str) -> bool:
        return self._compiled.fullmatch(text) is not None

    def findall(self, text: str) -> list[Any]:
        return list(self._compiled.findall(text))


def _explain(pattern: str, detail: str) -> str:
    for token, name in _UNSUPPORTED:
        if token in pattern:
            return f"{name} ({token}...) is not supported by RE2, the linear-time syntax LogQL uses"
    if "\\1" in pattern or "\\2" in pattern:
        return "backreferences (\\1) are not supported by RE2, the linear-time syntax LogQL uses"
    return detail


def _detail(exc: Exception) -> str:
    arg = exc.args[0] if exc.args else ""
    return arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)


def compile_regex(pattern: str, *, ignore_case: bool = False, what: str = "regex") -> SafeRegex:
    """Compile ``pattern`` with RE2, or raise ``BadInputError`` saying what is wrong."""
    if not isinstance(pattern, str) or not pattern:
        raise BadInputError(f"empty {what}", "give a pattern such as 'timeout|refused'")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise BadInputError(
            f"{what} is {len(pattern):,} characters long (limit {MAX_PATTERN_CHARS:,})",
            "use a shorter pattern, or a plain substring filter (contains)",
        )
    options = re2.Options()
    options.max_mem = _MAX_MEM
    options.case_sensitive = not ignore_case
    options.log_errors = False
    try:
        compiled = re2.compile(pattern, options)
    except re2.error as exc:
        raise BadInputError(
            f"invalid {what} {pattern!r}: {_explain(pattern, _detail(exc))}",
            "write RE2 syntax (as in LogQL and Go): no backreferences or lookaround; "
            "escape literal ( ) [ ] . * + ? with a backslash",
        ) from None
    return SafeRegex(pattern, compiled)


def check_regex(pattern: str, *, what: str = "regex") -> str:
    """Validate a pattern that a backend (Loki, ADX, DuckDB) will run with RE2 itself."""
    compile_regex(pattern, what=what)
    return pattern


def escape(text: str) -> str:
    """Quote ``text`` so that it matches literally (RE2 and Go syntax)."""
    return str(re2.escape(text))
