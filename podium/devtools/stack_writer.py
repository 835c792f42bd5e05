"""The history writer as a supervised child process (`podium history-writer`), for `podium up` and
the local stacks: started with the region's settings, restarted with the supervisor's jittered
backoff whenever it exits, stopped (SIGTERM: it drains what it can) at shutdown.

A dead writer loses nothing: its unacknowledged backlog entries stay pending in Redis and the next
writer takes them over after `history.backlog_claim_idle_ms`. Meanwhile the region's /readyz shows
the backlog growing (`history_backlog`: entries and the oldest entry's age)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from podium.config import Settings
from podium.processes import die_with_parent, stop_process

log = logging.getLogger("podium.devtools")
STOP_TIMEOUT_S = 20.0    # SIGTERM → drained (bounded by history.close_drain_ms_max) → exit
CHECK_MS = 200           # how often the supervising loop looks at the child


class WriterExited(RuntimeError):
    """The writer process ended on its own (killed, crashed): the supervisor restarts it."""


def writer_env(settings: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The writer is configured like the region it drains: the same Redis, region and warm store."""
    env = dict(os.environ if base is None else base)   # the user's PODIUM_* settings apply to both
    env.update({"REDIS_URL": settings.redis_url or "", "PODIUM_REGION": settings.region,
                "PODIUM_DATA_DIR": str(settings.data_dir),
                "PODIUM_REDIS_CLUSTER": "true" if settings.redis_cluster else "false",
                # the region and its writer must agree on who writes the inboxes
                "PODIUM_NOTIFICATIONS__INBOX_WRITER": settings.notifications.inbox_writer})
    return env


@dataclass
class WriterProcess:
    env: dict[str, str]
    log_path: Path
    python: str = sys.executable
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    # CPU priority below the serving process's (os.nice increment): on a small machine the writer
    # yields the CPU to the requests and catches up when they leave it some (a full backlog still
    # refuses batches, never drops them)
    nice: int = 0

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def spawn(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        out = self.log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                [self.python, "-m", "podium", "history-writer"], env=self.env, stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT, cwd=self.log_path.parent,
                preexec_fn=self._in_child)  # noqa: PLW1509 - only nice and the parent-death signal
        finally:
            out.close()
        self.starts += 1

    def _in_child(self) -> None:
        if self.nice:
            os.nice(self.nice)
        die_with_parent()

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is not None:
            stop_process(proc, STOP_TIMEOUT_S)


async def keep_writer(writer: WriterProcess, stop: asyncio.Event, check_ms: int = CHECK_MS) -> None:
    """A supervised loop (`podium.tasks.Supervisor`): starts the writer, raises `WriterExited` when it
    dies (the supervisor restarts the loop, and so the writer, after its backoff), and stops it when
    `stop` is set or the loop is cancelled."""
    try:
        if not writer.alive:
            writer.spawn()
        while not stop.is_set():
            proc = writer.process
            if proc is None or proc.poll() is not None:
                code = proc.returncode if proc is not None else None
                writer.process = None
                raise WriterExited(f"history writer exited with {code} (log: {writer.log_path})")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), check_ms / 1000)
    finally:
        # a dead writer was reaped above (nothing to stop); shielded: a second cancel must not leave it running
        await asyncio.shield(asyncio.to_thread(writer.stop))
