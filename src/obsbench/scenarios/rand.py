"""Seeded randomness and the id shapes real systems use.

Every random choice in a bundle comes from a ``random.Random`` seeded by the
scenario name, the seed and a component name, so two generations with the same
inputs are byte-identical and adding a draw in one component never shifts
another component's stream. Nothing here reads the wall clock.
"""

from __future__ import annotations

import hashlib
import math
import random

# Kubernetes' SafeEncodeString alphabet (no vowels, no 0/1/3): pod-template hashes
# and generated name suffixes look like "7d9f8c6b5" and "x2kq9".
K8S_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def stream(scenario: str, seed: int, component: str) -> random.Random:
    """An independent, reproducible random stream for one component of one bundle."""
    return random.Random(f"{scenario}\x1f{seed}\x1f{component}")


def stable_hash(*parts: object, length: int = 16) -> str:
    """Hex digest of the parts: for ids that must not depend on draw order."""
    h = hashlib.blake2b("\x1f".join(str(p) for p in parts).encode(), digest_size=32)
    return h.hexdigest()[:length]


def k8s_suffix(rng: random.Random, n: int = 5) -> str:
    """A generated-name suffix as the API server makes it (``x2kq9``)."""
    return "".join(rng.choice(K8S_ALPHABET) for _ in range(n))


def template_hash(*parts: object) -> str:
    """A pod-template-hash: derived from the template, so equal templates share it."""
    digest = hashlib.blake2b("\x1f".join(str(p) for p in parts).encode(), digest_size=8).digest()
    num = int.from_bytes(digest, "big")
    out = []
    for _ in range(10 if num % 2 else 9):
        num, r = divmod(num, len(K8S_ALPHABET))
        out.append(K8S_ALPHABET[r])
    return "".join(out)


def uid(*parts: object) -> str:
    """A Kubernetes-style UUID, stable for the same parts."""
    h = hashlib.blake2b("\x1f".join(str(p) for p in parts).encode(), digest_size=16).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def trace_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def span_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(64) | 1:016x}"


def lognormal_ms(rng: random.Random, median: float, sigma: float) -> float:
    """A latency draw: log-normal around ``median`` (ms)."""
    return median * math.exp(rng.gauss(0.0, sigma))


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (normal approximation above 30: fast and good enough for counts)."""
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit = math.exp(-lam)
    k = 0
    p = rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k
