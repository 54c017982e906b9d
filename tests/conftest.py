"""Shared test fixtures: isolated cache/config dirs, the shared fixtures folder, and
scenario bundles generated once per run.

Generating all twelve small bundles takes ~25 s and importing one ~1 s, so tests
ask for the bundles they need and share them: under xdist the bundles and their
imported stores live in the run's common temp dir, and ``ensure_bundle`` makes one
worker generate while the other waits. Nothing here writes into the repository.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from obsbench.scenarios import GenerationResult, ensure_bundle

REPO = Path(__file__).resolve().parent.parent


def shared_dir() -> Path | None:
    """``$OBSBENCH_SHARED`` or ``../shared`` next to the repository, when present."""
    env = os.environ.get("OBSBENCH_SHARED")
    path = Path(env) if env else REPO.parent / "shared"
    return path if (path / "fixtures").is_dir() else None


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared folder (upstream fixtures, Loghub data); skips where it is absent."""
    path = shared_dir()
    if path is None:
        pytest.skip("../shared (or $OBSBENCH_SHARED) is absent in this clone; CI always has it")
    return path


@pytest.fixture(scope="session")
def fixtures(shared: Path) -> Path:
    return shared / "fixtures"


@pytest.fixture(autouse=True)
def _isolated_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every test gets its own cache and config dir and the null keyring backend."""
    base = tmp_path_factory.mktemp("obsbench-home")
    monkeypatch.setenv("OBSBENCH_CACHE_DIR", str(base / "cache"))
    monkeypatch.setenv("OBSBENCH_CONFIG", str(base / "config" / "config.toml"))
    monkeypatch.setenv("OBSBENCH_STATE_DIR", str(base / "state"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    for var in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)


def run_shared_dir(factory: pytest.TempPathFactory, name: str) -> Path:
    """A directory shared by every xdist worker of this run (their common parent)."""
    base = factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / name
    root.mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., GenerationResult]:
    """``bundle(name, seed=7)`` -> the GenerationResult of a small scenario bundle (cached)."""
    cache: dict[tuple[str, int], GenerationResult] = {}
    root = run_shared_dir(tmp_path_factory, "obsbench-bundles")

    def get(name: str, seed: int = 7) -> GenerationResult:
        key = (name, seed)
        if key not in cache:
            cache[key] = ensure_bundle(name, root / f"{name}-{seed}", seed=seed)
        return cache[key]

    return get


@pytest.fixture
def bundle_dir(
    bundle: Callable[..., GenerationResult],
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., Path]:
    """``bundle_dir(name, seed=7)`` -> a scenario bundle's directory.

    Tests using it share one store cache for the run, so each scenario is imported
    once, not once per test (the cache is content-addressed and safe across workers).
    """
    monkeypatch.setenv("OBSBENCH_CACHE_DIR", str(run_shared_dir(tmp_path_factory,
                                                                "obsbench-store-cache")))
    return lambda name, seed=7: bundle(name, seed).out_dir
