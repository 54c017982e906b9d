"""Fixtures of the TUI tests: the demo scenario's bundle, imported once per run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tui_support import SCENARIO


@pytest.fixture
def demo_bundle(bundle_dir: Callable[..., Path]) -> Path:
    return bundle_dir(SCENARIO)
