"""Close-name suggestions for unknown services, labels and fields ("did you mean ...")."""

from __future__ import annotations

import difflib


def close_names(name: str, candidates: list[str], n: int = 3) -> list[str]:
    """Up to ``n`` candidates close to ``name``: fuzzy matches first, then substrings."""
    lowered = {c.lower(): c for c in candidates}
    hits = [lowered[h] for h in difflib.get_close_matches(name.lower(), list(lowered), n=n,
                                                           cutoff=0.5)]
    extra = [c for c in candidates if name.lower() in c.lower() and c not in hits]
    return hits + extra[: max(0, n - len(hits))]


def did_you_mean(name: str, candidates: list[str], what: str = "name") -> str:
    """A hint naming the closest candidates, or listing some when none is close."""
    close = close_names(name, candidates)
    if close:
        return f"did you mean {', '.join(repr(c) for c in close)}?"
    shown = ", ".join(sorted(candidates)[:12])
    more = f" (and {len(candidates) - 12} more)" if len(candidates) > 12 else ""
    return f"known {what}s: {shown}{more}" if candidates else f"no {what}s are known here"
