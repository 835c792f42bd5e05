"""Server processes, the one way every helper handles them: waiting until a Podium server answers
`/readyz` with 200 (while it is still alive), and stopping a child with SIGTERM (a clean stop: the
server drains and flushes), then SIGKILL when it has not exited in time. Used by the embedded
redis-server and by the dev tooling's servers (stack nodes, Cassandra, the event-log worker, test
servers) and the tests that spawn servers."""

from __future__ import annotations

import contextlib
import ctypes
import signal
import subprocess
import time
from collections.abc import Callable

import httpx

KILL_WAIT_S = 5.0   # after SIGKILL the kernel reaps at once; this only bounds a wedged wait
_PR_SET_PDEATHSIG = 1   # prctl option (linux/prctl.h): a signal for the child when its parent dies


def die_with_parent() -> None:
    """In a child, before exec (`preexec_fn`): the kernel sends it SIGTERM when its parent dies, so
    a killed test or stack leaves no orphan servers. Linux only; elsewhere the child simply
    outlives a SIGKILLed parent."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

def stop_process(proc: subprocess.Popen[bytes] | subprocess.Popen[str], timeout_s: float,
                 kill_wait_s: float = KILL_WAIT_S) -> None:
    """SIGTERM, wait up to `timeout_s`, then SIGKILL and wait up to `kill_wait_s`. A process that has
    already exited is only reaped."""
    if proc.poll() is not None:
        return
    proc.terminate()   # SIGTERM on POSIX
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=kill_wait_s)


def wait_ready(base_url: str, timeout_s: float, alive: Callable[[], bool] = lambda: True,
               poll_s: float = 0.1) -> bool:
    """Polls `GET {base_url}/readyz` until it answers 200 (True); False as soon as `alive()` is false
    or `timeout_s` has passed. Callers raise their own error, with their own log tail."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not alive():
            return False
        try:
            if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(poll_s)
    return False
