"""Tenant isolation for a Prometheus shared by several tenants (``tenant_label`` in a profile).

A profile with ``tenant = "a"`` and ``tenant_label = "tenant"`` must never read a
series whose ``tenant`` label is not ``a``, whatever PromQL the model writes. The
query is parsed with the real PromQL parser (``promql/parse.py``), every vector
selector of the tree (inside ranges, subqueries, functions, aggregations, both
sides of ``or``/``unless``, each set of a ``{a="x" or b="y"}`` selector) gets the
matcher ``tenant="a"``, any matcher the query had on that label is dropped, and
the tree is printed back to PromQL. Selectors are the only way PromQL reads
data, so pinning all of them bounds the whole query; asking for another tenant
(``{tenant="b"}``, ``{tenant=~".+"}``, ``{tenant!="a"}``) then selects nothing of
theirs. A query that does not parse is refused (never sent unscoped).

Never string concatenation: the printer below works on the parsed tree, and
values are escaped on the way out, so a label value cannot close the selector.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, replace
from typing import Any

from obsbench_servers.common.errors import ConfigError
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
from obsbench_servers.metrics.promql.parse import parse

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


# --------------------------------------------------------------------------- printing


def _quote(value: str) -> str:
    """A PromQL double-quoted string (Go escapes: JSON's are a subset)."""
    return json.dumps(value, ensure_ascii=False)


_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1))


def _duration(ms: int) -> str:
    """A PromQL duration such as ``1h30m`` (composite units, as Prometheus prints them)."""
    if ms == 0:
        return "0s"
    parts = []
    for unit, size in _UNITS:
        count, ms = divmod(ms, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Inf" if value > 0 else "(-Inf)"
    text = repr(value)
    return f"({text})" if value < 0 else text


def _at(at: At | None) -> str:
    if at is None:
        return ""
    if at.kind in ("start", "end"):
        return f" @ {at.kind}()"
    whole, frac = divmod(at.ms, 1000)
    return f" @ {whole}.{frac:03d}"


def _offset(ms: int) -> str:
    if ms == 0:
        return ""
    return f" offset -{_duration(-ms)}" if ms < 0 else f" offset {_duration(ms)}"


def _matcher(m: Matcher) -> str:
    return f"{m.name}{m.op}{_quote(m.value)}"


def _selector(vs: VectorSel) -> str:
    sets = []
    for ms in vs.matcher_sets:
        shown = [m for m in ms if not (vs.name and m.name == "__name__" and m.op == "="
                                       and m.value == vs.name)]
        sets.append(",".join(_matcher(m) for m in shown))
    return f"{vs.name or ''}{{{' or '.join(sets)}}}"


def _operand(node: Node) -> str:
    text = render(node)
    return f"({text})" if isinstance(node, (Binary, Unary)) else text


def _binary(node: Binary) -> str:
    parts = [_operand(node.lhs), node.op]
    if node.return_bool:
        parts.append("bool")
    if node.on or node.matching:
        parts.append(f"{'on' if node.on else 'ignoring'}({', '.join(node.matching)})")
    if node.card == "many-to-one":
        parts.append(f"group_left({', '.join(node.include)})")
    elif node.card == "one-to-many":
        parts.append(f"group_right({', '.join(node.include)})")
    parts.append(_operand(node.rhs))
    return " ".join(parts)


def render(node: Node) -> str:
    """PromQL text of a tree from ``parse`` (parenthesised where precedence could matter)."""
    if isinstance(node, NumberLit):
        return _number(node.value)
    if isinstance(node, StringLit):
        return _quote(node.value)
    if isinstance(node, VectorSel):
        return _selector(node) + _offset(node.offset_ms) + _at(node.at)
    if isinstance(node, MatrixSel):
        vs = node.vs
        return (f"{_selector(vs)}[{_duration(node.range_ms)}]"
                f"{_offset(vs.offset_ms)}{_at(vs.at)}")
    if isinstance(node, Subquery):
        step = _duration(node.step_ms) if node.step_ms else ""
        return (f"{_operand(node.expr)}[{_duration(node.range_ms)}:{step}]"
                f"{_offset(node.offset_ms)}{_at(node.at)}")
    if isinstance(node, Paren):
        return f"({render(node.expr)})"
    if isinstance(node, Unary):
        return f"-({render(node.expr)})"
    if isinstance(node, Call):
        return f"{node.func}({', '.join(render(a) for a in node.args)})"
    if isinstance(node, Aggregate):
        clause = ""
        if node.without:
            clause = f" without ({', '.join(node.grouping)})"
        elif node.has_grouping:
            clause = f" by ({', '.join(node.grouping)})"
        args = ([render(node.param)] if node.param is not None else []) + [render(node.expr)]
        return f"{node.op}{clause} ({', '.join(args)})"
    if isinstance(node, Binary):
        return _binary(node)
    raise TypeError(f"cannot print {type(node).__name__}")  # pragma: no cover - parse's nodes


# --------------------------------------------------------------------------- pinning


def _pin_selector(vs: VectorSel, pin: Matcher) -> VectorSel:
    sets = tuple((*(m for m in ms if m.name != pin.name), pin)
                 for ms in vs.matcher_sets or ((),))
    return replace(vs, matcher_sets=sets)


def pin(node: Node, label: str, value: str) -> Node:
    """The tree with ``label="value"`` as the only matcher on ``label`` in every selector."""
    matcher = Matcher(label, "=", value)

    def visit(n: Node) -> Node:
        if isinstance(n, VectorSel):
            return _pin_selector(n, matcher)
        if isinstance(n, MatrixSel):
            return replace(n, vs=_pin_selector(n.vs, matcher))
        if isinstance(n, Call):
            return replace(n, args=tuple(visit(a) for a in n.args))
        fields = getattr(n, "__dataclass_fields__", {})
        changes: dict[str, Any] = {k: visit(v) for k in fields
                                   if isinstance(v := getattr(n, k), Node)}
        return replace(n, **changes) if changes else n

    return visit(node)


@dataclass(frozen=True)
class TenantScope:
    """The tenant a profile is pinned to: ``label="value"`` on everything it reads."""

    label: str
    value: str

    @classmethod
    def from_config(cls, label: str | None, value: str | None) -> TenantScope | None:
        """The scope for a backend's ``tenant_label``/``tenant`` (None when not set)."""
        if not label:
            return None
        if not _LABEL_NAME.match(label):
            raise ConfigError(f"tenant_label {label!r} is not a Prometheus label name",
                              "use letters, digits and _ (not starting with a digit)")
        if label == "__name__":
            raise ConfigError("tenant_label cannot be __name__", "name the tenant label")
        if not value:
            raise ConfigError(
                f"tenant_label = {label!r} needs the tenant it pins queries to",
                'add tenant = "your-tenant" to the backend (the value of that label)')
        return cls(label, value)

    @property
    def selector(self) -> str:
        """A selector of every series of the tenant (``match[]`` for discovery endpoints)."""
        return f"{{{self.label}={_quote(self.value)}}}"

    def query(self, expr: str) -> str:
        """``expr`` with every selector pinned to the tenant (refused if it does not parse)."""
        return render(pin(parse(expr), self.label, self.value))

    def matches(self, match: list[str] | None) -> list[str]:
        """``match[]`` selectors for discovery: each one pinned, or the tenant's whole set."""
        if not match:
            return [self.selector]
        return [self.query(m) for m in match]

    def owns(self, labels: dict[str, Any]) -> bool:
        """Whether a labelled object (an alert) belongs to the tenant."""
        return labels.get(self.label) == self.value


__all__ = ["TenantScope", "pin", "render"]
