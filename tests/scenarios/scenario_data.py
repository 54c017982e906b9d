"""Reading generated bundles the way an outside tool would, for the scenario tests.

Deliberately independent of the simulator: a small OpenMetrics reader, rate and
histogram-quantile over the samples written, JSON-lines and OTLP readers. The
tests judge the files, never the simulator's internal state.
"""

from __future__ import annotations

import gzip
import itertools
import json
import math
import re
import tomllib
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+) (\d+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

Key = tuple[str, tuple[tuple[str, str], ...]]


def open_text(path: Path) -> Iterator[str]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:  # type: ignore[operator]
        yield from f


def parse_om(path: Path, names: set[str] | None = None) -> dict[Key, list[tuple[int, float]]]:
    """``{(metric, sorted labels): [(ts_seconds, value), ...]}`` of an OpenMetrics file."""
    out: dict[Key, list[tuple[int, float]]] = defaultdict(list)
    for line in open_text(path):
        if line.startswith("#"):
            continue
        m = SAMPLE.match(line.rstrip("\n"))
        assert m, f"{path.name}: not a sample line: {line!r}"
        name = m.group(1)
        if names is not None and name not in names:
            continue
        labels = tuple(sorted(LABEL.findall(m.group(2) or "")))
        out[(name, labels)].append((int(m.group(4)), float(m.group(3))))
    return out


def select(series: dict[Key, list[tuple[int, float]]], name: str,
           **match: str) -> list[tuple[dict[str, str], list[tuple[int, float]]]]:
    out = []
    for (n, labels), pts in series.items():
        d = dict(labels)
        if n == name and all(d.get(k) == v for k, v in match.items()):
            out.append((d, pts))
    return out


def increase(pts: list[tuple[int, float]], lo: int, hi: int) -> float:
    """Counter increase between the samples in [lo, hi] (resets counted as Prometheus does)."""
    window = [v for t, v in pts if lo <= t <= hi]
    inc = 0.0
    for a, b in itertools.pairwise(window):
        inc += b - a if b >= a else b
    return inc


def hist_quantile(q: float, buckets: list[tuple[dict[str, str], list[tuple[int, float]]]],
                  lo: int, hi: int) -> float:
    """histogram_quantile(q) of the bucket increases summed by ``le`` over [lo, hi]."""
    by_le: dict[float, float] = defaultdict(float)
    for labels, pts in buckets:
        le = math.inf if labels["le"] == "+Inf" else float(labels["le"])
        by_le[le] += increase(pts, lo, hi)
    total = by_le[math.inf]
    assert total > 0, "no observations in the window"
    rank = q * total
    prev_le, prev_c = 0.0, 0.0
    for le in sorted(by_le):
        c = by_le[le]
        if c >= rank:
            if math.isinf(le):
                return prev_le
            return prev_le + (le - prev_le) * (rank - prev_c) / max(c - prev_c, 1e-9)
        prev_le, prev_c = le, c
    return math.inf


def error_ratio(counters: list[tuple[dict[str, str], list[tuple[int, float]]]], code_label: str,
                lo: int, hi: int) -> float:
    total = sum(increase(p, lo, hi) for _, p in counters)
    bad = sum(increase(p, lo, hi) for lab, p in counters if lab[code_label].startswith("5"))
    return bad / total


def manifest(bundle: Path) -> dict[str, Any]:
    return tomllib.loads((bundle / "bundle.toml").read_text())


def rfc(ts: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp())


def jsonl(path: Path) -> Iterator[dict[str, Any]]:
    for line in open_text(path):
        yield json.loads(line)


def k8s_items(bundle: Path, kind: str) -> list[dict[str, Any]]:
    doc = json.loads((bundle / "k8s" / f"{kind}.json").read_text())
    assert doc["kind"] == "List"
    return list(doc["items"])


def spans(bundle: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(service.name, span) for every span of the OTLP trace export."""
    for line in open_text(bundle / "traces" / "otel-collector.otlp.json"):
        doc = json.loads(line)
        for rs in doc["resourceSpans"]:
            svc = next(a["value"]["stringValue"] for a in rs["resource"]["attributes"]
                       if a["key"] == "service.name")
            for ss in rs["scopeSpans"]:
                for span in ss["spans"]:
                    yield svc, span


def attr(span: dict[str, Any], key: str) -> Any:
    for a in span.get("attributes", ()):
        if a["key"] == key:
            return next(iter(a["value"].values()))
    return None
