"""Numbers and units as the metrics tools print them (no numpy: the TUI's chart axes use it too)."""

from __future__ import annotations

import math


def fmt(v: float) -> str:
    """A number in at most 4 significant digits, with k/M/G for big ones."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    a = abs(v)
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e4, "k")):
        if a >= div:
            return f"{v / div:.4g}{suffix}"
    if a == 0:
        return "0"
    return f"{v:.4g}"


def fmt_unit(v: float, unit: str) -> str:
    """A value with its unit, readable at a glance (ms, %, MiB, cores)."""
    if v is None or not math.isfinite(v):
        return fmt(v)
    if unit == "s":
        return f"{v * 1000:.3g} ms" if abs(v) < 1 else f"{v:.3g} s"
    if unit == "ratio":
        return f"{v * 100:.3g}%"
    if unit == "bytes":
        for div, suffix in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
            if abs(v) >= div:
                return f"{v / div:.3g} {suffix}"
        return f"{v:.0f} B"
    if unit == "bool":
        return f"{v:g}"
    return f"{fmt(v)} {unit}".rstrip()
