"""The workbench TUI: chat beside live evidence panels (the only package importing Textual).

``run_tui`` is what ``obsbench`` and ``obsbench demo`` call; ``WorkbenchApp`` is the
app (tests drive it with Pilot).
"""

from __future__ import annotations
