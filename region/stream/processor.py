"""The stream worker's core, free of Faust: one micro-batch of scores-topic records in, Redis updated
through the one processing path (`apply_entries`, one Lua call per board), rank changes, quarantined
entries and the replication feed out.

Effect-level exactly-once: delivery is at-least-once (offsets are committed after the apply), and
each board stores the last applied offset of every partition atomically with its scores (apply.lua).
Records at or below a board's stored offset are dropped before the call, so a replay skips what was
applied even when its micro-batch boundaries differ from the first run's; the Lua check makes the
call itself a no-op when another apply got there first. A micro-batch interrupted after board A and
before board B is replayed as: A's records dropped, B's applied.

Score history: the apply itself puts the accepted entries in the board's history backlog (one
atomic Lua call with the scores and the offset), which the worker's history writer drains into
the warm store; a worker dying at any point loses nothing (region/history/writer.py).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from podium.region.ingest import apply_entries
from podium.region.rank_store_redis import RedisRankStore
from podium.region.stream.anticheat import AntiCheat, Verdict
from podium.region.stream.records import decode_entry, encode_doc

from podium.boards import BoardRegistry
from podium.clock import Clock
from podium.errors import Rebuilding
from podium.model import Board, EntryStatus, ScoreEntry
from podium.ranking import encode_ts
from podium.stream_topics import StreamTopics, partition_key

log = logging.getLogger("podium.stream")

# topic, key, value: publishes one record (to the rank-changes, quarantine or replication topic)
Emit = Callable[[str, bytes, bytes], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class LogRecord:
    partition: int
    offset: int
    value: bytes


@dataclass(slots=True)
class BatchReport:
    applied: int = 0         # entries that reached the Lua apply (any outcome but a skip)
    replayed: int = 0        # entries at or below the board's stored offset: applied before
    quarantined: int = 0     # held back by the stream anti-cheat
    dropped: int = 0         # undecodable records or unknown boards
    rank_changes: list[dict[str, object]] = field(default_factory=list)


class StreamProcessor:
    def __init__(
        self, store: RedisRankStore, registry: BoardRegistry, topics: StreamTopics, anti_cheat: AntiCheat,
        clock: Clock, emit: Emit, region: str, quarantine_len_max: int,
        on_quarantine: Callable[[str, Verdict], None] | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.topics = topics
        self.anti_cheat = anti_cheat
        self.clock = clock
        self.emit = emit
        self.region = region
        self.quarantine_len_max = quarantine_len_max
        self.on_quarantine = on_quarantine

    async def process(self, records: Sequence[LogRecord]) -> BatchReport:
        """Apply one micro-batch. Safe to call again with any overlapping records (replays)."""
        report = BatchReport()
        now_ms = self.clock.now_ms()
        by_partition: dict[int, list[LogRecord]] = defaultdict(list)
        for record in records:
            by_partition[record.partition].append(record)
        for p, recs in sorted(by_partition.items()):
            recs.sort(key=lambda r: r.offset)
            await self._partition(p, recs, now_ms, report)
        return report

    async def _boards(self, entries: Sequence[ScoreEntry]) -> dict[str, Board]:
        boards = await self.registry.all()
        if any(e.board not in boards for e in entries):
            boards = await self.registry.refresh()
        return boards

    async def _partition(self, p: int, recs: list[LogRecord], now_ms: int, report: BatchReport) -> None:
        part, last = partition_key(self.topics.scores, p), recs[-1].offset
        decoded = [(r.offset, decode_entry(r.value)) for r in recs]
        entries = [(off, e) for off, e in decoded if e is not None]
        boards = await self._boards([e for _, e in entries])
        for board_id in sorted({e.board for _, e in entries}):
            if self.registry.rebuilding(board_id):
                # Held, not applied: the swap would overwrite it. The caller retries the micro-batch.
                raise Rebuilding(board_id)
        report.dropped += len(recs) - len(entries)
        by_board: dict[str, list[tuple[int, ScoreEntry]]] = defaultdict(list)
        for off, e in entries:
            if e.board in boards:
                by_board[e.board].append((off, e))
            else:
                report.dropped += 1
        to_apply: list[tuple[int, ScoreEntry]] = []
        held_only: list[Board] = []
        for board_id, group in by_board.items():
            board = boards[board_id]
            stored = await self.store.applied_offset(board, part)
            fresh = [(off, e) for off, e in group if stored is None or off > stored]
            report.replayed += len(group) - len(fresh)
            kept = []
            for off, e in fresh:
                verdict = self.anti_cheat.check(e, now_ms)
                if verdict is None:
                    kept.append((off, e))
                else:
                    await self._quarantine(board, off, e, verdict)
                    report.quarantined += 1
            to_apply += kept
            if fresh and not kept:
                held_only.append(board)
        results = await apply_entries(self.store, boards, to_apply, now_ms, partition=part, offset=last,
                                      region=self.region) or {}
        for board in held_only:
            # nothing to rank, but the offset is recorded so `wait=true` submitters see it handled
            await self.store.apply(board, [], now_ms, partition=part, offset=last)
        report.applied += len(results)
        changes: dict[str, list[dict[str, object]]] = defaultdict(list)
        sessions: dict[str, object] = {}
        for off, e in to_apply:
            result = results.get(off)
            if result is None or result.status is not EntryStatus.APPLIED:
                continue
            change: dict[str, object] = {"player": e.player, "score": result.score, "rank": result.rank,
                      "achieved_at": e.achieved_at_ms, "offset": off}
            changes[e.board].append(change)
            sessions[e.board] = result.extra.get("session")
        # one record per board and micro-batch on each topic (a record per entry would cost more than the apply)
        for board_id, board_changes in changes.items():
            doc = {"board": board_id, "partition": p, "changes": board_changes}
            report.rank_changes += [{"board": board_id, **c} for c in board_changes]
            await self.emit(self.topics.rank_changes, board_id.encode(), encode_doc(doc))
            await self.emit(self.topics.replication, board_id.encode(), encode_doc(
                {**doc, "region": self.region, "session": sessions[board_id]}))

    async def _quarantine(self, board: Board, off: int, e: ScoreEntry, verdict: Verdict) -> None:
        """Visible to admins (GET /v1/admin/quarantine reads the board's stream) and never ranked."""
        await self.store.quarantine(board, {
            "player": e.player, "score": str(e.score), "ts": encode_ts(e.achieved_at_ms), "event": e.event_id,
            "reason": verdict.reason, "offset": str(off), **verdict.detail,
        }, self.quarantine_len_max)
        await self.emit(self.topics.quarantine, e.player.encode(), encode_doc(
            {"board": e.board, "player": e.player, "score": e.score, "achieved_at": e.achieved_at_ms,
             "event_id": e.event_id, "reason": verdict.reason, **verdict.detail}))
        log.warning("quarantined board=%s player=%s score=%d reason=%s %s", e.board, e.player, e.score,
                    verdict.reason, verdict.detail)
        if self.on_quarantine is not None:
            self.on_quarantine(e.board, verdict)
