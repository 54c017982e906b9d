"""OpenMetrics text as ``promtool tsdb create-blocks-from openmetrics`` backfills it.

One family at a time (``# TYPE``/``# HELP``/``# UNIT`` then its samples, never
interleaved with another family), each series' samples in time order with
timestamps in seconds, and ``# EOF`` at the end. Every sample line written is
counted, so the generation result knows exactly how many samples a file
holds. Series the alert rules need are also kept in a ``Recorder``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence

from obsbench.scenarios.sink import Sink


class Points:
    """A recorded series: sample times (ascending) and values."""

    __slots__ = ("_prefix", "ts", "vs")

    def __init__(self, ts: list[int], vs: list[float]) -> None:
        self.ts = ts
        self.vs = vs
        self._prefix: list[float] | None = None

    def increase(self, t: float, width: float) -> tuple[float, float] | None:
        """(counter increase, seconds spanned) over the samples in ``(t - width, t]``.

        Resets count the new value as the increase, as Prometheus does; None with
        fewer than two samples.
        """
        lo = bisect_right(self.ts, t - width)
        hi = bisect_right(self.ts, t)
        if hi - lo < 2:
            return None
        if self._prefix is None:
            acc = 0.0
            prefix = [0.0]
            vs = self.vs
            for k in range(1, len(vs)):
                d = vs[k] - vs[k - 1]
                acc += d if d >= 0 else vs[k]
                prefix.append(acc)
            self._prefix = prefix
        return self._prefix[hi - 1] - self._prefix[lo], float(self.ts[hi - 1] - self.ts[lo])

    def window(self, t: float, width: float) -> tuple[list[int], list[float]]:
        """Samples in ``(t - width, t]``."""
        lo = bisect_right(self.ts, t - width)
        hi = bisect_right(self.ts, t)
        return self.ts[lo:hi], self.vs[lo:hi]


def escape(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def fmt(v: float | int) -> str:
    """A sample value: integers without a fraction, floats with 6 decimals at most."""
    if isinstance(v, int):
        return str(v)
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(round(v, 6))


class Recorder:
    """Written series kept in memory for the alert-rule evaluator (by metric name)."""

    def __init__(self, wanted: Iterable[str]) -> None:
        self.wanted = frozenset(wanted)
        self.series: dict[str, list[tuple[dict[str, str], Points]]] = {}

    def keep(self, name: str) -> bool:
        return name in self.wanted

    def add(self, name: str, labels: dict[str, str], points: Points) -> None:
        self.series.setdefault(name, []).append((dict(labels), points))

    def select(self, name: str, **match: str) -> list[tuple[dict[str, str], Points]]:
        """Series of ``name`` whose labels equal every ``match`` value."""
        out = []
        for labels, points in self.series.get(name, []):
            if all(labels.get(k) == v for k, v in match.items()):
                out.append((labels, points))
        return out


class OMWriter:
    """Writes families and series into one ``.om`` file."""

    def __init__(self, sink: Sink, recorder: Recorder | None = None) -> None:
        self.sink = sink
        self.recorder = recorder
        self._families: set[str] = set()
        self.samples = 0

    def family(self, name: str, mtype: str, help_: str, unit: str = "") -> None:
        if name in self._families:
            raise ValueError(f"family {name} written twice in {self.sink.rel}")
        self._families.add(name)
        text = f"# TYPE {name} {mtype}\n# HELP {name} {help_}\n"
        if unit and name.endswith("_" + unit):
            text += f"# UNIT {name} {unit}\n"
        self.sink.write(text)

    def series(self, name: str, labels: dict[str, str], times: Sequence[int],
               values: Sequence[float | int | None]) -> int:
        """Write one series (``None`` values are gaps); returns the samples written."""
        inner = ",".join(f'{k}="{escape(v)}"' for k, v in labels.items())
        prefix = f"{name}{{{inner}}} " if inner else f"{name} "
        keep = self.recorder is not None and self.recorder.keep(name)
        pts = Points([], [])
        parts: list[str] = []
        append = parts.append
        for t, v in zip(times, values, strict=True):
            if v is None:
                continue
            if v.__class__ is int:
                text = str(v)
            elif v == int(v) and -1e15 < v < 1e15:
                text = str(int(v))
            else:
                text = repr(round(v, 6))
            append(f"{prefix}{text} {t}\n")
            if keep:
                pts.ts.append(t)
                pts.vs.append(float(v))
        if parts:
            self.sink.write("".join(parts), len(parts))
            self.samples += len(parts)
            if keep and self.recorder is not None:
                self.recorder.add(name, labels, pts)
        return len(parts)

    def close(self) -> None:
        self.sink.write("# EOF\n")
