"""Log template mining: millions of lines -> a few dozen patterns, streaming, no LLM.

Two stages, both deterministic:

1. **Masking (streaming, per line).** Each whitespace token is cut at value
   delimiters (``= , ; ( ) [ ] { } " '``) into atoms; an atom holding a digit
   is a variable (an atom of three or more dotted/dashed parts - an IP, a host,
   a version, a Java frame - becomes one ``<*>``; a shorter one keeps its word,
   ``core.2275`` -> ``core.<*>``), as is the value of ``key=value``, an empty
   ``()``/``[]``, the words true/false/null/none/root/admin, and timestamps.
   Lines with the same masked token sequence share a *leaf*: a dict lookup, so
   the cost per line is one regex pass and a cached token map.
2. **Grouping (on leaves, not lines).** Leaves of one length are grouped by
   their *longest common pattern*: the words whose frequency (at their
   position, over the lines of that length) is the frequency most of the
   leaf's words share - words of one event occur together, so they have the
   same count, while variables are rarer and shared words commoner (the idea
   of Brain, Yu et al. 2023). Within a group, a column whose values are few
   (fewer than ``variable_threshold``) splits it (``Failed`` vs ``Accepted``);
   a column with many values is a variable. Finally groups whose templates are
   equal once runs of ``<*>`` are collapsed merge (variable-length lists).

Memory is bounded by the number of distinct leaves (``max_leaves``; beyond it
the leaves are compacted into their groups and later lines are matched against
the groups' templates). The same lines in the same order give the same
patterns and ids.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

WILDCARD = "<*>"
DEFAULT_VARIABLE_THRESHOLD = 3
DEFAULT_MAX_LEAVES = 100_000
MAX_LINE_CHARS = 4_000  # a 1 MB line is mined on its head; its template says so with <*>
_TOKEN_CACHE_LIMIT = 400_000

_DATES = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,?\s+)?"
    r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\s+\d{1,2},?\s+"
    r"(?:\d{4}\s+)?\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?(?:\s+\d{4})?"
    r"|\d{4}[-/]\d{2}[-/]\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2}|\s?UTC)?"
    r"|\d{1,2}/(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/\d{4}:\d{2}:\d{2}:\d{2}"
    r"(?:\s[+-]\d{4})?"
)
_EMPTY = re.compile(r"(?<!\S)(?:\(\)|\[\]|\"\")(?!\S)")  # an empty value, not f()
_DELIM = re.compile(r"([\s=,;()\[\]{}\"'<>|]+)")
_SUBSPLIT = re.compile(r"([.:/\-_@#+]+)")
_DV = re.compile(r"<\*>(?:[.:/\-_@#+]+<\*>)+")
# a word with one trailing digit names a thing (ssh2, ipv4, utf8), it is not a value
_WORD_VERSION = re.compile(r"[A-Za-z]{2,}\d")
_TRAIL = re.compile(r"[.:/\-_@#+]+$")
# SCREAMING_SNAKE names a constant (SSLV3_ALERT_CERTIFICATE_EXPIRED, HTTP2_PROTOCOL_ERROR):
# no part is a bare number, so its digits belong to words
_CONSTANT = re.compile(r"[A-Z][A-Z0-9]*(?:_(?:[A-Z][A-Z0-9]*|[0-9]+[A-Z][A-Z0-9]*))+")
_KNOWN_VALUES = frozenset({"true", "false", "null", "none", "nil", "root", "admin"})


def _has_digit(text: str) -> bool:
    return any(ch.isdigit() for ch in text)


def _mask_atom(atom: str) -> str:
    """Mask one atom (a token's part between value delimiters)."""
    if not atom or atom == WILDCARD:
        return atom
    if atom.lower() in _KNOWN_VALUES:
        return WILDCARD
    trail = _TRAIL.search(atom)
    if trail and trail.start() > 0:  # "10.0.0.1:" keeps its colon: "<*>:"
        return _mask_atom(atom[:trail.start()]) + trail.group(0)
    if not _has_digit(atom) or _WORD_VERSION.fullmatch(atom) or _CONSTANT.fullmatch(atom):
        return atom
    if ":" in atom:  # "lib:OPENSSL_internal:SSLV3_ALERT_CERTIFICATE_EXPIRED" keeps its names
        segments = atom.split(":")
        if any(_CONSTANT.fullmatch(seg) for seg in segments):
            return ":".join(_mask_atom(seg) for seg in segments)
    parts = _SUBSPLIT.split(atom)
    if sum(1 for p in parts[0::2] if p) >= 3:
        return WILDCARD
    out: list[str] = []
    for i, part in enumerate(parts):
        if i % 2 == 0 and _has_digit(part):
            if out and out[-1].endswith("-"):  # a sign belongs to the number
                out[-1] = out[-1][:-1]
            out.append(WILDCARD)
        else:
            out.append(part)
    return _DV.sub(WILDCARD, "".join(out))


class Masker:
    """Maps raw tokens to masked tokens, with a bounded cache (tokens repeat a lot)."""

    def __init__(self) -> None:
        self._cache: dict[str, str] = {}

    def token(self, tok: str) -> str:
        hit = self._cache.get(tok)
        if hit is not None:
            return hit
        parts = _DELIM.split(tok)
        out: list[str] = []
        after_eq = False
        for i, part in enumerate(parts):
            if i % 2:
                out.append(part)
                after_eq = "=" in part
            elif after_eq and part:
                out.append(WILDCARD)
            else:
                out.append(_mask_atom(part))
        masked = "".join(out)
        if WILDCARD in masked:
            masked = _DV.sub(WILDCARD, masked)
        if len(self._cache) >= _TOKEN_CACHE_LIMIT:
            self._cache.clear()
        self._cache[tok] = masked
        return masked

    def tokens(self, line: str) -> tuple[str, ...]:
        if len(line) > MAX_LINE_CHARS:
            line = line[:MAX_LINE_CHARS]
        line = _DATES.sub(WILDCARD, line)
        if "()" in line or "[]" in line or '""' in line:
            line = _EMPTY.sub(lambda m: m.group(0)[0] + WILDCARD + m.group(0)[1], line)
        tok = self.token
        return tuple(tok(t) for t in line.split())


def collapse(template: Iterable[str]) -> tuple[str, ...]:
    """A template with each run of ``<*>`` tokens reduced to one."""
    out: list[str] = []
    for t in template:
        if t == WILDCARD and out and out[-1] == WILDCARD:
            continue
        out.append(t)
    return tuple(out)


def pattern_id(template: str) -> str:
    """A stable id for a template (the same template always gets the same id)."""
    return "P" + hashlib.blake2b(template.encode("utf-8"), digest_size=4).hexdigest()


@dataclass
class Leaf:
    """Lines with one masked token sequence, and what is kept about them."""

    tokens: tuple[str, ...]
    count: int = 0
    first_ns: int | None = None
    last_ns: int | None = None
    example: str = ""
    example_ns: int | None = None
    trace_ids: list[str] = field(default_factory=list)
    services: Counter[str] = field(default_factory=Counter)
    levels: Counter[str] = field(default_factory=Counter)

    def absorb(self, other: Leaf) -> None:
        self.count += other.count
        for ts in (other.first_ns, other.last_ns):
            if ts is not None:
                self.first_ns = ts if self.first_ns is None else min(self.first_ns, ts)
                self.last_ns = ts if self.last_ns is None else max(self.last_ns, ts)
        if not self.example:
            self.example, self.example_ns = other.example, other.example_ns
        for t in other.trace_ids:
            if len(self.trace_ids) >= TRACE_IDS_KEPT:
                break
            if t not in self.trace_ids:
                self.trace_ids.append(t)
        self.services.update(other.services)
        self.levels.update(other.levels)


TRACE_IDS_KEPT = 5


@dataclass
class Pattern:
    """One mined template with its counts, times, an example and linked trace ids."""

    id: str
    template: str
    count: int
    first_ns: int | None
    last_ns: int | None
    example: str
    trace_ids: list[str]
    services: dict[str, int]
    levels: dict[str, int]
    leaves: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "template": self.template, "count": self.count,
            "first_ns": self.first_ns, "last_ns": self.last_ns, "example": self.example,
            "trace_ids": self.trace_ids, "services": self.services, "levels": self.levels,
        }


def _split_groups(leaves: list[Leaf], threshold: int) -> list[list[int]]:
    """Brain-style grouping of same-length leaves; returns groups of leaf indexes."""
    freq: Counter[tuple[int, str]] = Counter()
    for leaf in leaves:
        for i, t in enumerate(leaf.tokens):
            if t != WILDCARD:
                freq[(i, t)] += leaf.count
    initial: dict[tuple[tuple[int, str], ...], list[int]] = {}
    for li, leaf in enumerate(leaves):
        fs = [freq[(i, t)] for i, t in enumerate(leaf.tokens) if t != WILDCARD]
        if not fs:
            initial.setdefault((), []).append(li)
            continue
        common = Counter(fs)
        best = max(common.items(), key=lambda kv: (kv[1], kv[0]))[0]
        key = tuple((i, t) for i, t in enumerate(leaf.tokens)
                    if t != WILDCARD and freq[(i, t)] == best)
        initial.setdefault(key, []).append(li)
    groups: list[list[int]] = []
    width = len(leaves[0].tokens) if leaves else 0
    stack: list[tuple[list[int], list[int]]] = [
        (members, list(range(width))) for members in initial.values()]
    while stack:
        members, cols = stack.pop(0)
        stats: list[tuple[int, int]] = []
        for c in cols:
            n = len({leaves[m].tokens[c] for m in members})
            if n > 1:
                stats.append((n, c))
        stats.sort()
        if not stats or stats[0][0] >= threshold:
            groups.append(members)
            continue
        col = stats[0][1]
        rest = [c for _, c in stats[1:]]
        by: dict[str, list[int]] = defaultdict(list)
        for m in members:
            by[leaves[m].tokens[col]].append(m)
        stack[:0] = [(by[v], rest) for v in sorted(by)]
    return groups


class TemplateMiner:
    """Streaming template miner: ``add`` lines, then read ``patterns()``."""

    def __init__(
        self,
        *,
        variable_threshold: int = DEFAULT_VARIABLE_THRESHOLD,
        max_leaves: int = DEFAULT_MAX_LEAVES,
    ) -> None:
        self.variable_threshold = variable_threshold
        self.max_leaves = max_leaves
        self.masker = Masker()
        self.leaves: list[Leaf | None] = []
        self._parent: dict[int, int] = {}
        self.compactions = 0
        self._index: dict[tuple[str, ...], int] = {}
        self._compacted: dict[int, list[int]] = {}  # length -> leaf ids standing for groups
        self.lines = 0
        self._result: tuple[list[Pattern], list[int]] | None = None

    def add(
        self,
        text: str,
        *,
        ts_ns: int | None = None,
        trace_id: str | None = None,
        service: str | None = None,
        level: str | None = None,
    ) -> int:
        """Add one line; returns its leaf index (``leaf_pattern`` maps it to a pattern)."""
        toks = self.masker.tokens(text)
        li = self._index.get(toks)
        if li is None:
            li = self._match_compacted(toks)
            if li is None:
                li = len(self.leaves)
                self.leaves.append(Leaf(toks))
                self._index[toks] = li
                if len(self._index) > self.max_leaves:
                    self._compact()
                    li = self._resolve(li)
        leaf = self._leaf(li)
        leaf.count += 1
        self.lines += 1
        self._result = None
        if ts_ns is not None:
            if leaf.first_ns is None or ts_ns < leaf.first_ns:
                leaf.first_ns = ts_ns
            if leaf.last_ns is None or ts_ns > leaf.last_ns:
                leaf.last_ns = ts_ns
        if not leaf.example:
            leaf.example = text if len(text) <= MAX_LINE_CHARS else text[:MAX_LINE_CHARS]
            leaf.example_ns = ts_ns
        if trace_id and len(leaf.trace_ids) < TRACE_IDS_KEPT and trace_id not in leaf.trace_ids:
            leaf.trace_ids.append(trace_id)
        if service:
            leaf.services[service] += 1
        if level:
            leaf.levels[level] += 1
        return li

    def _match_compacted(self, toks: tuple[str, ...]) -> int | None:
        for li in self._compacted.get(len(toks), ()):
            tpl = self._leaf(li).tokens
            if all(a in (WILDCARD, b) for a, b in zip(tpl, toks, strict=True)):
                return li
        return None

    def _compact(self) -> None:
        """Too many distinct leaves: fold each group into one leaf (bounded memory).

        Absorbed leaves keep only a pointer to their group's leaf, so ids that
        ``add`` returned earlier still resolve (``leaf_pattern_ids``).
        """
        groups, _ = self._group()
        self._index = {}
        self._compacted = {}
        for members in groups:
            head = min(members)
            rep = self.leaves[head]
            assert rep is not None
            tpl = self._template([li for li in members
                                  if len(self._leaf(li).tokens) == len(rep.tokens)])
            for li in members:
                if li != head:
                    rep.absorb(self._leaf(li))
                    self.leaves[li] = None
                    self._parent[li] = head
            rep.tokens = tpl
            self._index[tpl] = head
            self._compacted.setdefault(len(tpl), []).append(head)
        self.compactions += 1
        # Groups themselves may be many (every line unique even when masked): leave
        # room so that compaction does not run again for every new leaf.
        self.max_leaves = max(self.max_leaves, 2 * len(self._index))

    def _leaf(self, li: int) -> Leaf:
        leaf = self.leaves[li]
        assert leaf is not None
        return leaf

    def _live(self) -> list[int]:
        return [li for li, leaf in enumerate(self.leaves) if leaf is not None]

    def _resolve(self, li: int) -> int:
        while li in self._parent:
            li = self._parent[li]
        return li

    def _group(self) -> tuple[list[list[int]], list[int]]:
        by_len: dict[int, list[int]] = defaultdict(list)
        for li in self._live():
            by_len[len(self._leaf(li).tokens)].append(li)
        groups: list[list[int]] = []
        for length in sorted(by_len):
            ids = by_len[length]
            for members in _split_groups([self._leaf(i) for i in ids], self.variable_threshold):
                groups.append([ids[m] for m in members])
        # Merge groups whose templates agree once runs of <*> are collapsed.
        canon: dict[tuple[str, ...], int] = {}
        merged: list[list[int]] = []
        for members in groups:
            key = collapse(self._template(members))
            if key in canon:
                merged[canon[key]].extend(members)
            else:
                canon[key] = len(merged)
                merged.append(list(members))
        leaf_group = [0] * len(self.leaves)
        for g, members in enumerate(merged):
            for li in members:
                leaf_group[li] = g
        for li in self._parent:
            leaf_group[li] = leaf_group[self._resolve(li)]
        return merged, leaf_group

    def _template(self, members: list[int]) -> tuple[str, ...]:
        tpl = list(self._leaf(members[0]).tokens)
        for li in members[1:]:
            for i, t in enumerate(self._leaf(li).tokens):
                if tpl[i] != t:
                    tpl[i] = WILDCARD
        return tuple(tpl)

    def _finish(self) -> tuple[list[Pattern], list[int]]:
        if self._result is not None:
            return self._result
        groups, leaf_group = self._group()
        patterns: list[Pattern] = []
        for members in groups:
            lengths = {len(self._leaf(li).tokens) for li in members}
            tpl = self._template(members) if len(lengths) == 1 else collapse(
                self._template([li for li in members
                                if len(self._leaf(li).tokens) == min(lengths)]))
            text = " ".join(tpl)
            acc = Leaf(tpl)
            for li in sorted(members, key=lambda i: (-self._leaf(i).count, i)):
                acc.absorb(self._leaf(li))
            patterns.append(Pattern(
                id=pattern_id(text), template=text, count=acc.count, first_ns=acc.first_ns,
                last_ns=acc.last_ns, example=acc.example, trace_ids=list(acc.trace_ids),
                services=dict(acc.services.most_common()), levels=dict(acc.levels.most_common()),
                leaves=len(members),
            ))
        self._result = (patterns, leaf_group)
        return self._result

    def patterns(self) -> list[Pattern]:
        """Every pattern, most frequent first (ties: template order, so deterministic)."""
        pats = self._finish()[0]
        return sorted(pats, key=lambda p: (-p.count, p.template))

    def leaf_pattern_ids(self) -> list[str]:
        """The pattern id of every leaf index ``add`` returned (valid until the next add)."""
        patterns, leaf_group = self._finish()
        return [patterns[g].id for g in leaf_group]


def mine_lines(lines: Iterable[str], *, per_line: bool = False) -> tuple[list[Pattern], list[str]]:
    """Mine plain lines; with ``per_line`` also each line's pattern id, in input order.

    Note: ``per_line`` keeps one small int per line (the leaf), not the lines.
    """
    miner = TemplateMiner()
    leaf_ids: list[int] = []
    for line in lines:
        li = miner.add(line)
        if per_line:
            leaf_ids.append(li)
    ids = miner.leaf_pattern_ids() if per_line else []
    return miner.patterns(), [ids[li] for li in leaf_ids] if per_line else []


def read_lines(data: bytes) -> Iterator[str]:
    """Lines of a raw log file: any bytes (invalid UTF-8 replaced), CRLF or LF."""
    text = data.decode("utf-8", errors="replace")
    for line in text.split("\n"):
        yield line.rstrip("\r")
