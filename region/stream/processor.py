"""The stream worker's core, free of Faust: one micro-batch of scores-topic records in, Redis updated
through the Lua apply of direct mode (`RankStore.apply`, one call per board), rank changes, quarantined
entries and the replication feed out.

A record holds many entries (`records.py`, version 2: one record per batch and partition) or one
(version 1). Every entry of a record carries the record's offset.

Effect-level exactly-once: delivery is at-least-once (offsets are committed after the apply), and
each board stores the last applied offset of every partition atomically with its scores (apply.lua).
Entries of records at or below a board's stored offset are dropped before the call, so a replay
skips what was applied even when its micro-batch boundaries differ from the first run's; the Lua
check makes the call itself a no-op when another apply got there first. A record's entries for one
board always go into the same Lua call (chunks of a partition's records end on record boundaries),
so a record is applied to a board entirely or not at all. A micro-batch interrupted after board A
and before board B is replayed as: A's entries dropped, B's applied.

Score history: the apply itself puts the accepted entries in the board's history backlog (one
atomic Lua call with the scores and the offset), which the worker's history writer drains into
the warm store; a worker dying at any point loses nothing (region/history/writer.py).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Tracer
from podium.region.ingest_results import session_token
from podium.region.rank_store import ApplyCode
from podium.region.rank_store_redis import RedisRankStore
from podium.region.stream.anticheat import AntiCheat, Verdict
from podium.region.stream.records import decode_entries, encode_doc
from podium.region.stream.tracing import context_of

from podium.boards import BoardRegistry
from podium.clock import Clock
from podium.errors import Rebuilding
from podium.model import Board, ScoreEntry
from podium.ranking import encode_ts
from podium.stream_topics import StreamTopics, partition_key

log = logging.getLogger("podium.stream")

# topic, key, value: publishes one record (to the rank-changes, quarantine or replication topic)
Emit = Callable[[str, bytes, bytes], Awaitable[None]]
APPLY_ENTRIES_MAX = 5000   # default bound on the entries of one partition applied per round of Lua calls


@dataclass(frozen=True, slots=True)
class LogRecord:
    partition: int
    offset: int
    value: bytes
    headers: Any = None      # the record's Kafka headers (a traced request's context travels in them)


@dataclass(slots=True)
class _Chunk:
    """Entries of a partition's consecutive records, applied in one round of Lua calls."""

    entries: list[tuple[int, ScoreEntry]] = field(default_factory=list)   # (record offset, entry), log order
    traced: list[tuple[int, int, Context]] = field(default_factory=list)  # (offset, entries, context) of traced records


@contextmanager
def _traced_by(chunk: _Chunk, kept: Sequence[tuple[int, ScoreEntry]]) -> Iterator[None]:
    """Makes the context of the first traced record among `kept` current for the board's apply, so
    the change-stream entry keeps it (apply.lua, field "t") and the shipper continues that trace."""
    offsets = {off for off, _ in kept}
    ctx = next((c for off, _, c in chunk.traced if off in offsets), None)
    if ctx is None:
        yield
        return
    token = otel_context.attach(ctx)
    try:
        yield
    finally:
        otel_context.detach(token)


@dataclass(slots=True)
class BatchReport:
    records: int = 0         # records of the micro-batch
    entries: int = 0         # entries they held
    applied: int = 0         # entries that reached the Lua apply (any outcome but a skip)
    replayed: int = 0        # entries at or below the board's stored offset: applied before
    quarantined: int = 0     # held back by the stream anti-cheat
    dropped: int = 0         # entries of unknown boards, plus undecodable records
    rank_changes: int = 0    # entries whose rank changed (published on the rank-changes topic)


class StreamProcessor:
    def __init__(
        self, store: RedisRankStore, registry: BoardRegistry, topics: StreamTopics, anti_cheat: AntiCheat,
        clock: Clock, emit: Emit, region: str, quarantine_len_max: int,
        on_quarantine: Callable[[str, Verdict], None] | None = None, apply_entries_max: int = APPLY_ENTRIES_MAX,
        tracer: Tracer | None = None,
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
        self.apply_entries_max = apply_entries_max
        self.tracer = tracer

    async def process(self, records: Sequence[LogRecord]) -> BatchReport:
        """Apply one micro-batch. Safe to call again with any overlapping records (replays)."""
        report = BatchReport(records=len(records))
        now_ms = self.clock.now_ms()
        by_partition: dict[int, list[LogRecord]] = defaultdict(list)
        for record in records:
            by_partition[record.partition].append(record)
        for p, recs in sorted(by_partition.items()):
            recs.sort(key=lambda r: r.offset)
            for chunk in self._chunks(recs, report):
                await self._partition(p, chunk, now_ms, report)
        return report

    def _chunks(self, recs: list[LogRecord], report: BatchReport) -> list[_Chunk]:
        """The partition's entries as (offset, entry), in log order, cut on record boundaries into
        chunks of at most `apply_entries_max` entries (one record may exceed it alone)."""
        chunks = [_Chunk()]
        for r in recs:
            entries = decode_entries(r.value)
            if entries is None:
                report.dropped += 1
                continue
            report.entries += len(entries)
            if chunks[-1].entries and len(chunks[-1].entries) + len(entries) > self.apply_entries_max:
                chunks.append(_Chunk())
            chunks[-1].entries += [(r.offset, e) for e in entries]
            ctx = context_of(r.headers) if self.tracer is not None else None
            if ctx is not None:
                chunks[-1].traced.append((r.offset, len(entries), ctx))
        return [c for c in chunks if c.entries]

    async def _boards(self, entries: Sequence[tuple[int, ScoreEntry]]) -> dict[str, Board]:
        boards = await self.registry.all()
        if any(e.board not in boards for _, e in entries):
            boards = await self.registry.refresh()
        return boards

    async def _partition(self, p: int, chunk: _Chunk, now_ms: int, report: BatchReport) -> None:
        entries = chunk.entries
        part, last = partition_key(self.topics.scores, p), entries[-1][0]
        started_ns = time.time_ns()
        boards = await self._boards(entries)
        by_board: dict[str, list[tuple[int, ScoreEntry]]] = defaultdict(list)
        for off, e in entries:
            if e.board in boards:
                by_board[e.board].append((off, e))
            else:
                report.dropped += 1
        for board_id in sorted(by_board):
            if self.registry.rebuilding(board_id):
                # Held, not applied: the swap would overwrite it. The caller retries the micro-batch.
                raise Rebuilding(board_id)
        groups: list[tuple[Board, list[tuple[int, ScoreEntry]]]] = []
        for board_id, group in by_board.items():
            board = boards[board_id]
            stored = await self.store.applied_offset(board, part)
            fresh = group if stored is None else [(off, e) for off, e in group if off > stored]
            report.replayed += len(group) - len(fresh)
            kept = []
            for off, e in fresh:
                verdict = self.anti_cheat.check(e, now_ms)
                if verdict is None:
                    kept.append((off, e))
                else:
                    await self._quarantine(board, off, e, verdict)
                    report.quarantined += 1
            if fresh:
                # an empty group still records the offset, so `wait=true` submitters see it handled
                groups.append((board, kept))
        for board, kept in groups:
            # the Lua apply of direct mode (one call per board); None: another apply stored this offset
            with _traced_by(chunk, kept):
                outcomes = await self.store.apply(board, [e for _, e in kept], now_ms, partition=part, offset=last)
            if outcomes is None or not kept:
                continue
            report.applied += len(outcomes)
            changes: list[dict[str, object]] = []
            version = None
            for (off, e), out in zip(kept, outcomes, strict=True):
                if out.code is ApplyCode.APPLIED:
                    changes.append({"player": e.player, "score": out.score, "rank": out.rank,
                                    "achieved_at": e.achieved_at_ms, "offset": off})
                    version = out.version
            if changes:
                await self._publish(board.id, p, changes, version)
        self._apply_spans(p, chunk, started_ns)

    async def _publish(self, board_id: str, p: int, changes: list[dict[str, object]], version: str | None) -> None:
        """One record per board and chunk on each topic (a record per entry would cost more than the apply)."""
        doc = {"board": board_id, "partition": p, "changes": changes}
        # read-your-writes: the global tier answers SESSION reads once it has the last applied version
        session = session_token(self.region, version) if version else None
        await self.emit(self.topics.rank_changes, board_id.encode(), encode_doc(doc))
        await self.emit(self.topics.replication, board_id.encode(), encode_doc(
            {**doc, "region": self.region, "session": session}))

    def _apply_spans(self, p: int, chunk: _Chunk, started_ns: int) -> None:
        """One `stream.apply` span per traced record, a child of the request that produced it, timed
        over the Lua calls that applied it (the chunk's)."""
        if self.tracer is None or not chunk.traced:
            return
        ended_ns = time.time_ns()
        for offset, n, ctx in chunk.traced:
            span = self.tracer.start_span(
                "stream.apply", context=ctx, kind=SpanKind.CONSUMER, start_time=started_ns,
                attributes={"messaging.system": "kafka", "messaging.destination.name": self.topics.scores,
                            "messaging.destination.partition.id": str(p), "messaging.kafka.offset": offset,
                            "podium.region": self.region, "podium.entries": n,
                            "podium.chunk_entries": len(chunk.entries)})
            span.end(end_time=ended_ns)

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
