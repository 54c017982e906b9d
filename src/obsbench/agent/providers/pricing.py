"""Token prices and the cost of a model turn, from ``[agent.prices]`` in the config.

Prices are USD per million tokens. A model id with a date or ``-latest`` suffix
(``claude-sonnet-4-5-20250929``) uses its base name's price. Prices are matched
exactly otherwise: a prefix match would price a newer model at an older one's
rate. An unknown model costs nothing in the accounting, and the loop says so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from obsbench.agent.model import Usage

_SUFFIX = re.compile(r"(-\d{8}|-latest|@\d{8}|-v\d+(:\d+)?)$")
# Anthropic's multipliers when a price entry leaves the cache rates out (5-minute writes).
CACHE_READ_FACTOR = 0.1
CACHE_WRITE_FACTOR = 1.25


def find_price(model: str, prices: Mapping[str, Any]) -> Any | None:
    """The price entry for ``model`` (exact, then without a date/version suffix)."""
    if model in prices:
        return prices[model]
    base = model
    while True:
        stripped = _SUFFIX.sub("", base)
        if stripped == base:
            break
        base = stripped
        if base in prices:
            return prices[base]
    # Provider-prefixed ids: gateways ("anthropic/claude-sonnet-4-5"), Bedrock
    # ("anthropic.claude-opus-4-1-20250805-v1:0").
    tail = model.rsplit("/", 1)[-1].removeprefix("anthropic.")
    if tail != model:
        return find_price(tail, prices)
    return None


def _rate(price: Any, key: str) -> float | None:
    value = price.get(key) if isinstance(price, Mapping) else getattr(price, key, None)
    return None if value is None else float(value)


def turn_cost(usage: Usage, price: Any | None) -> float:
    """USD for one turn's tokens (0 when the model has no price)."""
    if price is None:
        return 0.0
    inp = _rate(price, "input") or 0.0
    out = _rate(price, "output") or 0.0
    read = _rate(price, "cache_read")
    write = _rate(price, "cache_write")
    read = inp * CACHE_READ_FACTOR if read is None else read
    write = inp * CACHE_WRITE_FACTOR if write is None else write
    return (usage.input_tokens * inp + usage.output_tokens * out
            + usage.cache_read_tokens * read + usage.cache_write_tokens * write) / 1_000_000
