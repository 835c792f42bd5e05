"""Board snapshots: the warm store plus a compressed file export (JSONL.gz, the cold tier), restore
from a file, the season-end archive, and the periodic scheduler (injected clock, owned task).

File format: line 1 is a header `{"board","season","taken_at_ms","entries"}`, then one
`[rank, player, score, achieved_at_ms]` array per line in rank order. Written to a temp file and
renamed, so a crash never leaves a half export under the final name.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
from collections.abc import Awaitable, Callable, Sequence
from enum import StrEnum
from pathlib import Path

from podium.region.history.store import HistoryStore, Snapshot

from podium.clock import Clock
from podium.errors import BadUserInput
from podium.invariant import invariant
from podium.model import RankedEntry
from podium.tasks import Supervisor, cancel_and_wait

EXPORT_SUFFIX = ".jsonl.gz"
GZIP_LEVEL = 6  # ~same size as 9 at a fraction of the CPU


def export_path(directory: Path, board: str, season: int, taken_at_ms: int) -> Path:
    return Path(directory) / f"{board}.s{season}.{taken_at_ms}{EXPORT_SUFFIX}"


def _export_sync(snapshot: Snapshot, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    header = {"board": snapshot.board, "season": snapshot.season,
              "taken_at_ms": snapshot.taken_at_ms, "entries": len(snapshot.entries)}
    with gzip.open(tmp, "wt", encoding="utf-8", compresslevel=GZIP_LEVEL) as out:
        out.write(json.dumps(header, separators=(",", ":")) + "\n")
        for e in snapshot.entries:
            out.write(json.dumps([e.rank, e.player, e.score, e.achieved_at_ms], separators=(",", ":")) + "\n")
    os.replace(tmp, path)
    return path


def _restore_sync(path: Path) -> Snapshot:
    with gzip.open(path, "rt", encoding="utf-8") as src:
        try:
            header = json.loads(src.readline())
            entries = tuple(RankedEntry(*json.loads(line)) for line in src)
        except (ValueError, TypeError) as exc:
            raise BadUserInput(f"{path} is not a snapshot export: {exc}") from exc
    if len(entries) != header.get("entries"):
        raise BadUserInput(f"{path} is truncated: {len(entries)} of {header.get('entries')} entries")
    return Snapshot(str(header["board"]), int(header["season"]), int(header["taken_at_ms"]), entries)


async def export_snapshot(snapshot: Snapshot, directory: Path) -> Path:
    path = export_path(directory, snapshot.board, snapshot.season, snapshot.taken_at_ms)
    return await asyncio.to_thread(_export_sync, snapshot, path)


async def restore(path: Path, store: HistoryStore | None = None) -> Snapshot:
    """Loads a file export back (and into the warm store when one is given)."""
    snapshot = await asyncio.to_thread(_restore_sync, Path(path))
    if store is not None:
        await store.write_snapshot(snapshot)
    return snapshot


# Reads a board's full standings in rank order (the lead wires it to the Redis rank store).
StandingsReader = Callable[[str], Awaitable[tuple[int, Sequence[RankedEntry]]]]


async def take_snapshot(store: HistoryStore, read: StandingsReader, board: str, now_ms: int,
                        directory: Path) -> tuple[Snapshot, Path]:
    season, entries = await read(board)
    snapshot = Snapshot(board, season, now_ms, tuple(entries))
    # The file first: a stored snapshot record then always has its export on disk (a crash between
    # the two leaves an orphan file, never a record without its file).
    path = await export_snapshot(snapshot, directory)
    await store.write_snapshot(snapshot)
    return snapshot, path


async def archive_season(store: HistoryStore, read: StandingsReader, board: str, now_ms: int,
                         directory: Path, clear: Callable[[str], Awaitable[None]]) -> Path:
    """Season reset: the final standings are stored and exported BEFORE `clear` runs, so a failed
    archive leaves the board untouched."""
    _snapshot, path = await take_snapshot(store, read, board, now_ms, directory)
    await clear(board)
    return path


class SchedulerState(StrEnum):
    NEW = "new"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


class SnapshotScheduler:
    """Every `interval_s` (on the injected clock's wall time) snapshots each board.

    `sleep` is injected with the clock so tests drive time; a failing board is logged in `errors`
    and retried at the next tick, never killing the loop. `claim(now_ms)`, when given, is asked
    before each tick: several processes of a region each run a scheduler, and only the one that
    claims the interval snapshots it (False, or a failing claim, skips the tick).
    """

    ERRORS_KEPT_MAX = 100

    def __init__(self, store: HistoryStore, read: StandingsReader, boards: Callable[[], Sequence[str]],
                 clock: Clock, interval_s: int, directory: Path,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 claim: Callable[[int], Awaitable[bool]] | None = None) -> None:
        if interval_s <= 0:
            raise ValueError("snapshot_interval_s must be positive")
        self.store, self.read, self.boards, self.clock = store, read, boards, clock
        self.interval_ms = interval_s * 1000
        self.directory = Path(directory)
        self.sleep = sleep
        self.claim = claim
        self.state = SchedulerState.NEW
        self.taken: list[tuple[str, int]] = []
        self.errors: list[tuple[str, str]] = []
        self._task: asyncio.Task[None] | None = None
        self._next_ms = 0

    def start(self, supervisor: Supervisor | None = None) -> None:
        """Starts the schedule (under `supervisor` when given: restarted if it ever fails)."""
        invariant(self.state is SchedulerState.NEW, f"start in state {self.state}")
        self._next_ms = self.clock.now_ms() + self.interval_ms
        self.state = SchedulerState.RUNNING
        if supervisor is not None:
            self._task = supervisor.supervise("snapshot-scheduler", self._loop)
        else:
            self._task = asyncio.create_task(self._loop(), name="snapshot-scheduler")

    async def tick(self) -> None:
        """Snapshots every board once, now."""
        now = self.clock.now_ms()
        if self.claim is not None:
            try:
                if not await self.claim(now):
                    return
            except Exception as exc:  # noqa: BLE001 - a failed claim skips one tick, never the loop
                self.errors = [*self.errors, ("*", repr(exc))][-self.ERRORS_KEPT_MAX:]
                return
        for board in self.boards():
            try:
                await take_snapshot(self.store, self.read, board, now, self.directory)
                self.taken.append((board, now))
            except Exception as exc:  # noqa: BLE001 - a board's failure must not stop the others
                self.errors = [*self.errors, (board, repr(exc))][-self.ERRORS_KEPT_MAX:]

    async def _loop(self) -> None:
        while self.state is SchedulerState.RUNNING:
            wait_ms = self._next_ms - self.clock.now_ms()
            if wait_ms > 0:
                await self.sleep(wait_ms / 1000)
                continue
            await self.tick()
            # Missed ticks (a long pause) are skipped, not replayed in a burst.
            now = self.clock.now_ms()
            while self._next_ms <= now:
                self._next_ms += self.interval_ms

    async def stop(self) -> None:
        if self.state in (SchedulerState.NEW, SchedulerState.STOPPED):
            self.state = SchedulerState.STOPPED
            return
        self.state = SchedulerState.STOPPING
        task, self._task = self._task, None
        await cancel_and_wait(task)
        self.state = SchedulerState.STOPPED
