"""Stopping a child process the one way every server helper does: SIGTERM (a clean stop: the server
drains and flushes), then SIGKILL when it has not exited in time. Used by the embedded redis-server
and by the dev tooling's servers (stack nodes, Cassandra, the event-log worker, test servers)."""

from __future__ import annotations

import subprocess

KILL_WAIT_S = 5.0   # after SIGKILL the kernel reaps at once; this only bounds a wedged wait


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
