"""``obsbench demo`` opens the TUI on a terminal and prints text elsewhere (a real pty)."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from obsbench.cli.main import app


def _read_until(fd: int, needles: list[str], timeout_s: float) -> str:
    seen = b""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
            text = seen.decode("utf-8", "replace")
            if all(n in text for n in needles):
                return text
    raise AssertionError(f"never saw {needles!r}; last output: {seen[-2000:]!r}")


@pytest.mark.slow
def test_demo_opens_the_tui_on_a_terminal(demo_bundle: Path) -> None:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "140", "LINES": "40"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "obsbench", "demo", "--out", str(demo_bundle), "--agent",
         "offline"], stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    try:
        # The status bar shows the bundle's scope and the store; the servers connect.
        _read_until(master, ["embedded store", "5 servers"], 90)
        os.write(master, b":alerts\r")
        _read_until(master, ["HighErrorRate"], 60)
        os.write(master, b"\x11")  # ctrl+q
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def test_demo_without_a_terminal_prints_the_summary(demo_bundle: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--out", str(demo_bundle), "--no-tui"],
                                env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "HighErrorRate" in result.stdout and str(demo_bundle) in result.stdout
