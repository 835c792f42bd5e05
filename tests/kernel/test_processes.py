"""stop_process: SIGTERM first, SIGKILL only for a child that ignores it, an exited child just reaped."""

from __future__ import annotations

import signal
import subprocess
import sys

from podium.processes import stop_process

# Prints "ready" once its SIGTERM handling is set up, then sleeps far longer than any test waits.
CHILD = "import signal, sys, time\n{setup}\nprint('ready', flush=True)\ntime.sleep(120)\n"


def _child(setup: str = "") -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", CHILD.format(setup=setup)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_a_child_that_honours_sigterm_stops_with_it() -> None:
    with _child() as proc:
        stop_process(proc, timeout_s=30)
    assert proc.returncode == -signal.SIGTERM


def test_a_child_that_ignores_sigterm_is_killed_after_the_timeout() -> None:
    with _child("signal.signal(signal.SIGTERM, signal.SIG_IGN)") as proc:
        stop_process(proc, timeout_s=0.5)
    assert proc.returncode == -signal.SIGKILL


def test_an_exited_child_is_only_reaped() -> None:
    with subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"]) as proc:
        proc.wait(timeout=30)
        stop_process(proc, timeout_s=30)
    assert proc.returncode == 3
