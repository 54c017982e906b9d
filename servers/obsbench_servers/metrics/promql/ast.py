"""The PromQL syntax tree the embedded engine evaluates.

``parse.py`` converts the ``promql-parser`` package's tree (a Rust port of
Prometheus's own parser) into these small frozen dataclasses, so the evaluator
never touches the foreign objects: durations are integer milliseconds, ``@``
timestamps are milliseconds, and operators are plain strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from obsbench_servers.common.saferegex import SafeRegex, compile_regex

ARITHMETIC = frozenset({"+", "-", "*", "/", "%", "^", "atan2"})
# Operators whose result loses the metric name (Prometheus 2.x keeps it for atan2).
DROPS_NAME = frozenset({"+", "-", "*", "/", "%", "^"})
COMPARISON = frozenset({"==", "!=", ">", "<", ">=", "<="})
SET_OPS = frozenset({"and", "or", "unless"})


@dataclass(frozen=True)
class Matcher:
    """One label matcher: ``name op "value"`` with op one of = != =~ !~."""

    name: str
    op: str
    value: str

    @cached_property
    def _regex(self) -> SafeRegex:
        # RE2, like Prometheus (Go's regexp): linear time whatever the pattern a model
        # writes, and anchored at both ends as Prometheus anchors every regex matcher.
        return compile_regex(f"^(?:{self.value})$", what="label matcher regex")

    def matches(self, value: str) -> bool:
        """Whether a label value (``""`` when the label is absent) matches."""
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        hit = self._regex.fullmatch(value)
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op}"{escaped}"'


@dataclass(frozen=True)
class At:
    """An ``@`` modifier: a fixed time, or the query's ``start()`` / ``end()``."""

    kind: str  # "at" | "start" | "end"
    ms: int = 0


@dataclass(frozen=True)
class Node:
    """Base class of every expression node."""


@dataclass(frozen=True)
class NumberLit(Node):
    value: float


@dataclass(frozen=True)
class StringLit(Node):
    value: str


@dataclass(frozen=True)
class VectorSel(Node):
    """An instant vector selector; ``matcher_sets`` has one set unless ``or`` was used."""

    name: str | None
    matcher_sets: tuple[tuple[Matcher, ...], ...]
    offset_ms: int = 0
    at: At | None = None

    @property
    def matchers(self) -> tuple[Matcher, ...]:
        return self.matcher_sets[0] if self.matcher_sets else ()

    def selector_text(self) -> str:
        sets = []
        for ms in self.matcher_sets:
            sets.append(",".join(str(m) for m in ms if not (m.name == "__name__" and m.op == "="
                                                            and m.value == self.name)))
        inner = " or ".join(sets)
        return f"{self.name or ''}{{{inner}}}"


@dataclass(frozen=True)
class MatrixSel(Node):
    vs: VectorSel
    range_ms: int


@dataclass(frozen=True)
class Subquery(Node):
    expr: Node
    range_ms: int
    step_ms: int | None
    offset_ms: int = 0
    at: At | None = None


@dataclass(frozen=True)
class Call(Node):
    func: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Aggregate(Node):
    op: str
    expr: Node
    param: Node | None = None
    without: bool = False
    grouping: tuple[str, ...] = ()
    has_grouping: bool = False  # "by ()" and no clause at all both mean "one group"


@dataclass(frozen=True)
class Binary(Node):
    op: str
    lhs: Node
    rhs: Node
    return_bool: bool = False
    card: str = "one-to-one"  # one-to-one | many-to-one | one-to-many | many-to-many
    on: bool = False
    matching: tuple[str, ...] = ()
    include: tuple[str, ...] = ()


@dataclass(frozen=True)
class Unary(Node):
    expr: Node


@dataclass(frozen=True)
class Paren(Node):
    expr: Node


@dataclass
class Walk:
    """What a tree holds, for guards and discovery: selectors and the widest range."""

    selectors: list[VectorSel] = field(default_factory=list)
    max_range_ms: int = 0
    max_offset_ms: int = 0


def walk(node: Node, acc: Walk | None = None) -> Walk:
    """Collect the selectors of a tree and the widest range/offset any of them reaches."""
    acc = acc or Walk()
    if isinstance(node, VectorSel):
        acc.selectors.append(node)
        acc.max_offset_ms = max(acc.max_offset_ms, abs(node.offset_ms))
    elif isinstance(node, MatrixSel):
        acc.max_range_ms = max(acc.max_range_ms, node.range_ms)
        walk(node.vs, acc)
    elif isinstance(node, Subquery):
        acc.max_range_ms = max(acc.max_range_ms, node.range_ms)
        acc.max_offset_ms = max(acc.max_offset_ms, abs(node.offset_ms))
        walk(node.expr, acc)
    elif isinstance(node, Call):
        for a in node.args:
            walk(a, acc)
    elif isinstance(node, Aggregate):
        walk(node.expr, acc)
        if node.param is not None:
            walk(node.param, acc)
    elif isinstance(node, Binary):
        walk(node.lhs, acc)
        walk(node.rhs, acc)
    elif isinstance(node, (Unary, Paren)):
        walk(node.expr, acc)
    return acc
