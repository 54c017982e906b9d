"""Bundles generated once per test run, on first use, shared by the xdist workers.

Generating all twelve small bundles takes ~25 s, so tests ask for the ones
they need and share them: under xdist the cache lives in the run's common
temp dir and ``ensure_bundle`` makes one worker generate while the other
waits. Nothing here writes into the repository.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from obsbench.scenarios import GenerationResult, ensure_bundle


def bundle_root(factory: pytest.TempPathFactory) -> Path:
    """This run's shared bundle directory (the workers' common parent under xdist)."""
    base = factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "obsbench-bundles"
    root.mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., GenerationResult]:
    """``bundle(name, seed=7)`` -> the GenerationResult of a small bundle (cached)."""
    cache: dict[tuple[str, int], GenerationResult] = {}
    root = bundle_root(tmp_path_factory)

    def get(name: str, seed: int = 7) -> GenerationResult:
        key = (name, seed)
        if key not in cache:
            cache[key] = ensure_bundle(name, root / f"{name}-{seed}", seed=seed)
        return cache[key]

    return get


@pytest.fixture
def bundle_dir(bundle: Callable[..., GenerationResult]) -> Callable[..., Path]:
    return lambda name, seed=7: bundle(name, seed).out_dir
