"""Parsing PromQL with a real PromQL parser, and errors that point at the problem.

The grammar is Prometheus's: ``promql-parser`` is a Rust port of the upstream
parser (type checks included: ``rate(foo)`` is refused with "expected type
matrix"). Hand-writing a PromQL grammar would drift from Prometheus; this
package tracks it. Its messages carry no position, so ``parse`` finds the
longest prefix that can still be completed into a valid query and reports the
column where the query stops making sense, with a caret under it.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from functools import lru_cache
from typing import Any

import promql_parser as pp

from obsbench_servers.common.errors import BadInputError
from obsbench_servers.metrics.promql.ast import (
    Aggregate,
    At,
    Binary,
    Call,
    Matcher,
    MatrixSel,
    Node,
    NumberLit,
    Paren,
    StringLit,
    Subquery,
    Unary,
    VectorSel,
)

# The package's enums are not hashable: compare by name.
_MATCH_OPS = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}
_CARD = {"OneToOne": "one-to-one", "ManyToOne": "many-to-one", "OneToMany": "one-to-many",
         "ManyToMany": "many-to-many"}


def _enum_name(value: Any) -> str:
    return str(value).rsplit(".", 1)[-1]


_NEGATIVE_AT = re.compile(r"@\s*-")
# Prometheus 2.x names the parser (which follows Prometheus 3) no longer knows: parsed under
# the new name and given back their own in the tree, so a Prometheus 2 backend still gets
# the query as written and the embedded engine names what it was asked for.
_RENAMED = {"holt_winters": "double_exponential_smoothing"}
_OLD_NAME = re.compile(r"\b(" + "|".join(_RENAMED) + r")(\s*\()")


class PromQLSyntaxError(BadInputError):
    """A query that does not parse; ``position`` is the 1-based column of the problem."""

    def __init__(self, message: str, hint: str | None, position: int) -> None:
        super().__init__(message, hint)
        self.position = position


def _ms(delta: timedelta | None) -> int:
    if delta is None:
        return 0
    return (delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000)


def _at(mod: Any) -> At | None:
    if mod is None:
        return None
    kind = _enum_name(mod.type)
    if kind == "Start":
        return At("start")
    if kind == "End":
        return At("end")
    try:
        when = mod.at
    except BaseException as exc:  # pyo3 panics (BaseException) on times before 1970
        raise BadInputError(
            "@ timestamps before 1970 are not supported",
            "use an epoch time in seconds after 1970, or @ start() / @ end()",
        ) from exc
    return At("at", round(when.timestamp() * 1000))


def _matchers(items: list[Any]) -> tuple[Matcher, ...]:
    return tuple(Matcher(m.name, _MATCH_OPS[_enum_name(m.op)], m.value) for m in items)


def _vector(vs: Any) -> VectorSel:
    sets: list[tuple[Matcher, ...]] = []
    base = _matchers(vs.matchers.matchers)
    ors = vs.matchers.or_matchers
    name = vs.name
    name_m = (Matcher("__name__", "=", name),) if name else ()
    if ors:
        for group in ors:
            sets.append(name_m + _matchers(group))
    else:
        sets.append(name_m + base)
    return VectorSel(name, tuple(sets), _ms(vs.offset), _at(vs.at))


def _restore_names(node: Node, names: dict[str, str]) -> Node:
    """The tree with calls of the renamed functions given their Prometheus 2 names."""
    if not names:
        return node
    if isinstance(node, Call):
        args = tuple(_restore_names(a, names) for a in node.args)
        return Call(names.get(node.func, node.func), args)
    fields = getattr(node, "__dataclass_fields__", {})
    changes = {k: _restore_names(v, names) for k in fields
               if isinstance(v := getattr(node, k), Node)}
    return replace(node, **changes) if changes else node


def convert(e: Any) -> Node:
    """Convert a ``promql_parser`` expression into the engine's tree."""
    if isinstance(e, pp.NumberLiteral):
        return NumberLit(float(e.val))
    if isinstance(e, pp.StringLiteral):
        return StringLit(str(e.val))
    if isinstance(e, pp.VectorSelector):
        return _vector(e)
    if isinstance(e, pp.MatrixSelector):
        return MatrixSel(_vector(e.vector_selector), _ms(e.range))
    if isinstance(e, pp.SubqueryExpr):
        step = _ms(e.step) if e.step is not None else None
        return Subquery(convert(e.expr), _ms(e.range), step or None, _ms(e.offset), _at(e.at))
    if isinstance(e, pp.ParenExpr):
        return Paren(convert(e.expr))
    if isinstance(e, pp.UnaryExpr):
        return Unary(convert(e.expr))
    if isinstance(e, pp.Call):
        return Call(e.func.name, tuple(convert(a) for a in e.args))
    if isinstance(e, pp.AggregateExpr):
        mod = e.modifier
        without = mod is not None and _enum_name(mod.type) == "Without"
        grouping = tuple(mod.labels) if mod is not None else ()
        param = convert(e.param) if e.param is not None else None
        return Aggregate(str(e.op), convert(e.expr), param, without, grouping, mod is not None)
    if isinstance(e, pp.BinaryExpr):
        bmod = e.modifier
        op = str(e.op)
        if bmod is None:
            card = "many-to-many" if op in ("and", "or", "unless") else "one-to-one"
            return Binary(op, convert(e.lhs), convert(e.rhs), card=card)
        matching = bmod.matching
        on = matching is not None and _enum_name(matching.type) == "Include"
        labels = tuple(matching.labels) if matching is not None else ()
        fill = bmod.fill_values
        if fill is not None and (fill.lhs is not None or fill.rhs is not None):
            raise BadInputError("fill values in vector matching are not supported",
                                "remove the fill modifier")
        return Binary(op, convert(e.lhs), convert(e.rhs), bool(bmod.return_bool),
                      _CARD[_enum_name(bmod.card)], on, labels, tuple(bmod.group_labels or ()))
    raise BadInputError(f"unsupported PromQL construct {type(e).__name__}",
                        "rewrite the query without it")


# --------------------------------------------------------------------------- errors


def _closers(prefix: str) -> str:
    """What closes the brackets and quote left open at the end of ``prefix``."""
    stack: list[str] = []
    quote: str | None = None
    escaped = False
    for ch in prefix:
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\" and quote != "`":
                escaped = True
            elif ch == quote:
                quote = None
            continue
        if ch in "\"'`":
            quote = ch
        elif ch in "([{":
            stack.append({"(": ")", "[": "]", "{": "}"}[ch])
        elif ch in ")]}" and stack and stack[-1] == ch:
            stack.pop()
    return (quote or "") + "".join(reversed(stack))


_FILLERS = ("", " x", "x", "[5m]", " 1", "1", "5m", "m", " 5m", '"x"', ' "x"', '="x"', " x)",
            ", x", ") x", "x,x")


def _viable(prefix: str) -> bool:
    """Can ``prefix`` be completed into a query that parses?"""
    close = _closers(prefix)
    for filler in _FILLERS:
        for tail in (close, "]" + close.lstrip("]"), "}" + close):
            try:
                pp.parse(prefix + filler + tail)
                return True
            except BaseException:
                continue
    return False


def error_position(query: str) -> int:
    """0-based index of the first character after the longest viable prefix."""
    lo, best = 0, 0
    # Linear from the start is exact (viability is not monotonic around tokens); queries
    # are short and this only runs on the error path.
    for i in range(len(query) + 1):
        if query[:i].strip() == "" or _viable(query[:i]):
            best = i
        elif i - best > 24:
            break
    del lo
    return min(best, max(0, len(query) - 1)) if best < len(query) else best


@lru_cache(maxsize=512)
def parse(query: str) -> Node:
    """Parse PromQL into the engine's tree; errors name the column and show a caret."""
    text = query.strip()
    if not text:
        raise PromQLSyntaxError("empty PromQL query", "write an expression such as "
                                "rate(http_requests_total[5m])", 1)
    if _NEGATIVE_AT.search(text):
        # Checked first: the parser's binding panics (and prints a Rust backtrace) on them.
        raise BadInputError("@ timestamps before 1970 are not supported",
                            "use an epoch time in seconds after 1970, or @ start() / @ end()")
    used: set[str] = set()
    try:
        try:
            tree = pp.parse(text)
        except ValueError:
            used = {m.group(1) for m in _OLD_NAME.finditer(text)}
            if not used:
                raise
            text = _OLD_NAME.sub(lambda m: _RENAMED[m.group(1)] + m.group(2), text)
            tree = pp.parse(text)
    except BaseException as exc:  # pyo3 raises ValueError, or PanicException (BaseException)
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        reason = str(exc).strip() or "invalid query"
        pos = error_position(text)
        near = text[pos:pos + 12]
        caret = f"\n  {text}\n  {' ' * pos}^"
        where = f"at char {pos + 1}" + (f" (near {near!r})" if near else " (end of query)")
        raise PromQLSyntaxError(
            f"invalid PromQL {where}: {reason}{caret}",
            "check brackets, quotes and operators; metric names and labels can be found "
            "with list_metrics and label_values",
            pos + 1,
        ) from None
    return _restore_names(convert(tree), {_RENAMED[u]: u for u in used})
