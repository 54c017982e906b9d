"""``python -m obsbench``: the same as the ``obsbench`` command (used to spawn stdio servers)."""

from obsbench.cli.main import run

run()
