"""Processes that hang: SIGSTOP keeps their sockets open and answers nothing, SIGCONT resumes them."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STOP_WAIT_S = 10.0


def _all_threads_stopped(pid: int) -> bool:
    """Every thread of `pid` is in the stopped state (a group stop completes thread by thread, and on a
    loaded machine a thread can still run, and answer, for a moment after the signal was sent)."""
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            state = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
            if state not in ("T", "t", "Z", "X"):
                return False
    except (FileNotFoundError, ProcessLookupError):
        return True          # gone: it answers nothing either
    return True


@contextmanager
def stopped(pids: list[int]) -> Iterator[None]:
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + STOP_WAIT_S
    while not all(_all_threads_stopped(pid) for pid in pids):
        assert time.monotonic() < deadline, f"processes {pids} did not stop within {STOP_WAIT_S} s"
        time.sleep(0.01)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
