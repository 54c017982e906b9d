"""Where the embedded engine reads series: the bundle store, or series held in memory.

``StoreSource`` keeps the ``series`` table in memory (a bundle has thousands of
series, not millions) with an index by metric name, matches selectors there,
and reads only the matched series' samples for the needed time range from
DuckDB as numpy arrays. Stale markers (the NaN with ``STALE_NAN_BITS``) are
recognised by their bits.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np
import orjson

from obsbench_servers.metrics.promql.ast import Matcher
from obsbench_servers.metrics.promql.values import NAME, Labels, RawSeries
from obsbench_servers.store.schema import STALE_NAN_BITS

if TYPE_CHECKING:
    from obsbench_servers.store import TelemetryStore

MatcherSets = Sequence[Sequence[Matcher]]


class SeriesSource(Protocol):
    """What the evaluator needs from storage."""

    def series_labels(self, matcher_sets: MatcherSets) -> list[Labels]:
        """Label sets of the series a selector matches (no samples)."""
        ...

    def select(self, matcher_sets: MatcherSets, mint_ms: int, maxt_ms: int) -> list[RawSeries]:
        """Matched series with their samples in ``[mint_ms, maxt_ms]``, sorted by labels."""
        ...


def stale_mask(vals: np.ndarray) -> np.ndarray:
    """Which values are Prometheus stale markers (by bit pattern, not ``== NaN``)."""
    return vals.view(np.uint64) == np.uint64(STALE_NAN_BITS)


class _Index:
    """Series labels in memory with an index by metric name."""

    def __init__(self, rows: Iterable[tuple[int, str, str]]) -> None:
        self.ids: list[int] = []
        self.labels: list[Labels] = []
        self.dicts: list[dict[str, str]] = []
        self.by_name: dict[str, list[int]] = {}
        for sid, metric, labels_json in rows:
            d = {k: str(v) for k, v in orjson.loads(labels_json or "{}").items() if v != ""}
            d[NAME] = metric
            pos = len(self.ids)
            self.ids.append(int(sid))
            self.dicts.append(d)
            self.labels.append(tuple(sorted(d.items())))
            self.by_name.setdefault(metric, []).append(pos)
        order = sorted(range(len(self.labels)), key=lambda i: self.labels[i])
        self.rank = {pos: r for r, pos in enumerate(order)}

    def match(self, matcher_sets: MatcherSets) -> list[int]:
        """Positions of matched series, in label order (Prometheus's series-set order)."""
        hits: set[int] = set()
        for matchers in matcher_sets:
            hits.update(self._match_one(matchers))
        return sorted(hits, key=self.rank.__getitem__)

    def _match_one(self, matchers: Sequence[Matcher]) -> list[int]:
        names = [m for m in matchers if m.name == NAME]
        if any(m.op == "=" for m in names):
            value = next(m.value for m in names if m.op == "=")
            cand: Iterable[int] = self.by_name.get(value, [])
        elif names:
            metrics = [n for n in self.by_name if all(m.matches(n) for m in names)]
            cand = [i for n in metrics for i in self.by_name[n]]
        else:
            cand = range(len(self.ids))
        rest = [m for m in matchers if m.name != NAME]
        if not rest:
            return list(cand)
        return [i for i in cand if all(m.matches(self.dicts[i].get(m.name, "")) for m in rest)]


class StoreSource:
    """Series from the embedded DuckDB store of a bundle."""

    def __init__(self, store: TelemetryStore) -> None:
        self.store = store
        self._index: _Index | None = None
        self._lock = threading.Lock()
        self.samples_read = 0

    @property
    def index(self) -> _Index:
        with self._lock:
            if self._index is None:
                rows = self.store.query("SELECT series_id, metric, labels_json FROM series")
                self._index = _Index(rows)
            return self._index

    def series_labels(self, matcher_sets: MatcherSets) -> list[Labels]:
        idx = self.index
        return [idx.labels[i] for i in idx.match(matcher_sets)]

    def count(self, matcher_sets: MatcherSets) -> int:
        return len(self.index.match(matcher_sets))

    def select(self, matcher_sets: MatcherSets, mint_ms: int, maxt_ms: int) -> list[RawSeries]:
        idx = self.index
        positions = idx.match(matcher_sets)
        if not positions:
            return []
        ids = np.array([idx.ids[i] for i in positions], dtype=np.int64)
        cur = self.store.cursor()
        # The id range lets DuckDB skip row groups by their min/max (the table is stored
        # sorted by series and time), the IN list picks the series inside it.
        sql = ("SELECT series_id, ts_ms, value FROM samples "
               "WHERE series_id BETWEEN ? AND ? AND ts_ms BETWEEN ? AND ? "
               "AND series_id IN (SELECT unnest(?::BIGINT[])) ORDER BY series_id, ts_ms")
        got = cur.execute(sql, [int(ids.min()), int(ids.max()), int(mint_ms), int(maxt_ms),
                                ids.tolist()]).fetchnumpy()
        sid = np.asarray(got["series_id"], dtype=np.int64)
        ts = np.asarray(got["ts_ms"], dtype=np.int64)
        vals = np.asarray(got["value"], dtype=np.float64)
        self.samples_read += len(ts)
        stale = stale_mask(vals)
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        lo = np.searchsorted(sid, sorted_ids, "left")
        hi = np.searchsorted(sid, sorted_ids, "right")
        bounds = {int(sorted_ids[k]): (int(lo[k]), int(hi[k])) for k in range(len(ids))}
        out = []
        for pos, series_id in zip(positions, ids.tolist(), strict=True):
            a, b = bounds[series_id]
            out.append(RawSeries(idx.labels[pos], ts[a:b], vals[a:b], stale[a:b]))
        return out


class MemorySource:
    """Series held in memory (tests, and data already fetched)."""

    def __init__(self, series: Iterable[RawSeries]) -> None:
        self.series = sorted(series, key=lambda s: s.labels)

    def _matching(self, matcher_sets: MatcherSets) -> list[RawSeries]:
        out = []
        for s in self.series:
            d = dict(s.labels)
            if any(all(m.matches(d.get(m.name, "")) for m in ms) for ms in matcher_sets):
                out.append(s)
        return out

    def series_labels(self, matcher_sets: MatcherSets) -> list[Labels]:
        return [s.labels for s in self._matching(matcher_sets)]

    def select(self, matcher_sets: MatcherSets, mint_ms: int, maxt_ms: int) -> list[RawSeries]:
        out = []
        for s in self._matching(matcher_sets):
            a = int(np.searchsorted(s.ts, mint_ms, "left"))
            b = int(np.searchsorted(s.ts, maxt_ms, "right"))
            out.append(RawSeries(s.labels, s.ts[a:b], s.vals[a:b], s.stale[a:b]))
        return out
