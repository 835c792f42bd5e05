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
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Tracer
from podium.region.ingest_results import session_token
from podium.region.rank_store_redis import RedisRankStore
from podium.region.rank_store_reply import AppliedLog
from podium.region.stream.anticheat import AntiCheat, Verdict
from podium.region.stream.records import decode_groups, encode_doc
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
class _Group:
    """One record's entries for one board (a version 2 record holds them together): they are fenced,
    applied and published together, never split across Lua calls."""

    partition: int
    offset: int
    board: str
    entries: list[ScoreEntry]


@dataclass(slots=True)
class _Chunk:
    """Consecutive records of the micro-batch (all partitions, in partition then offset order),
    applied in one Lua call per board."""

    groups: list[_Group] = field(default_factory=list)
    entries: int = 0
    last: dict[int, int] = field(default_factory=dict)   # partition -> offset of its last record here
    traced: list[tuple[int, int, int, Context]] = field(default_factory=list)  # (partition, offset, entries, context)


@contextmanager
def _traced_by(chunk: _Chunk, kept: Sequence[_Group]) -> Iterator[None]:
    """Makes the context of the first traced record among `kept` current for the board's apply, so
    the change-stream entry keeps it (apply.lua, field "t") and the shipper continues that trace."""
    ctx = None
    if chunk.traced:
        records = {(g.partition, g.offset) for g in kept}
        ctx = next((c for p, off, _, c in chunk.traced if (p, off) in records), None)
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
        ordered = sorted(records, key=lambda r: (r.partition, r.offset))
        for chunk in self._chunks(ordered, report):
            await self._apply_chunk(chunk, now_ms, report)
        return report

    def _chunks(self, records: list[LogRecord], report: BatchReport) -> list[_Chunk]:
        """The records' board groups, in partition then offset order, cut on record boundaries into
        chunks of at most `apply_entries_max` entries (one record may exceed it alone)."""
        chunks = [_Chunk()]
        for r in records:
            groups = decode_groups(r.value)
            if groups is None:
                report.dropped += 1
                continue
            n = sum(len(g) for _, g in groups)
            if not n:
                continue
            report.entries += n
            chunk = chunks[-1]
            if chunk.entries and chunk.entries + n > self.apply_entries_max:
                chunk = _Chunk()
                chunks.append(chunk)
            chunk.groups += [_Group(r.partition, r.offset, board, entries) for board, entries in groups]
            chunk.entries += n
            chunk.last[r.partition] = r.offset
            ctx = context_of(r.headers) if self.tracer is not None else None
            if ctx is not None:
                chunk.traced.append((r.partition, r.offset, n, ctx))
        return [c for c in chunks if c.entries]

    async def _boards(self, chunk: _Chunk) -> dict[str, Board]:
        boards = await self.registry.all()
        if any(g.board not in boards for g in chunk.groups):
            boards = await self.registry.refresh()
        return boards

    async def _apply_chunk(self, chunk: _Chunk, now_ms: int, report: BatchReport) -> None:
        started_ns = time.time_ns()
        boards = await self._boards(chunk)
        by_board: dict[str, list[_Group]] = {}
        for g in chunk.groups:
            if g.board in boards:
                by_board.setdefault(g.board, []).append(g)
            else:
                report.dropped += len(g.entries)
        for board_id in sorted(by_board):
            if self.registry.rebuilding(board_id):
                # Held, not applied: the swap would overwrite it. The caller retries the micro-batch.
                raise Rebuilding(board_id)
        for board_id, groups in by_board.items():
            await self._apply_board(boards[board_id], groups, chunk, now_ms, report)
        self._apply_spans(chunk, started_ns)

    async def _fresh(self, board: Board, groups: list[_Group], report: BatchReport | None) -> list[_Group]:
        """The groups of records above the board's stored offset of their partition (the rest was
        applied before: a replay)."""
        partitions = list(dict.fromkeys(g.partition for g in groups))
        stored = dict(zip(partitions, await self.store.applied_offsets(
            board, [partition_key(self.topics.scores, p) for p in partitions]), strict=True))
        fresh = []
        for g in groups:
            done = stored[g.partition]
            if done is None or g.offset > done:
                fresh.append(g)
            elif report is not None:
                report.replayed += len(g.entries)
        return fresh

    async def _apply_board(self, board: Board, groups: list[_Group], chunk: _Chunk, now_ms: int,
                           report: BatchReport) -> None:
        """One Lua call for the board's entries of every partition in the chunk, storing each
        partition's offset with them; entries the anti-cheat holds back are quarantined instead."""
        fresh = await self._fresh(board, groups, report)
        kept: list[_Group] = []
        for g in fresh:
            flagged = self.anti_cheat.check_many(board.id, g.entries, now_ms)
            if flagged:
                for i, verdict in flagged:
                    await self._quarantine(board, g.offset, g.entries[i], verdict)
                report.quarantined += len(flagged)
                held = {i for i, _ in flagged}
                g = _Group(g.partition, g.offset, g.board, [e for i, e in enumerate(g.entries) if i not in held])
            kept.append(g)
        # every partition with fresh records stores its offset, even when nothing of it is kept, so
        # `wait=true` submitters see it handled
        partitions = list(dict.fromkeys(g.partition for g in fresh))
        while partitions:
            firsts: dict[int, int] = {}
            for g in kept:
                firsts.setdefault(g.partition, g.offset)
            offsets = [(partition_key(self.topics.scores, p), firsts[p], chunk.last[p]) for p in partitions]
            entries = list(chain.from_iterable(g.entries for g in kept))
            with _traced_by(chunk, kept):
                result = await self.store.apply_log(board, entries, now_ms, offsets)
            if result is not None:
                report.applied += len(entries)
                await self._publish(board.id, kept, entries, result)
                return
            # another worker stored an offset of these partitions meanwhile (a rebalance): what it
            # applied is dropped and the rest tried again
            kept = await self._fresh(board, kept, None)
            live = {g.partition for g in kept}
            partitions = [p for p in partitions if p in live]

    async def _publish(self, board_id: str, kept: list[_Group], entries: list[ScoreEntry], result: AppliedLog) -> None:
        """One record per board and Lua call on each topic (a record per entry would cost more than
        the apply); each change names its record's partition and offset."""
        applied = result.applied()
        if not applied:
            return
        owner: list[int] = []    # entry index -> its group
        for gi, g in enumerate(kept):
            owner += [gi] * len(g.entries)
        changes = []
        for i, rank, score in applied:
            e, g = entries[i], kept[owner[i]]
            changes.append({"player": e.player, "score": score, "rank": rank, "achieved_at": e.achieved_at_ms,
                            "partition": g.partition, "offset": g.offset})
        partitions = sorted({g.partition for g in kept})
        doc = {"board": board_id, "partitions": partitions, "changes": changes}
        # read-your-writes: the global tier answers SESSION reads once it has the last applied version
        session = session_token(self.region, result.version) if result.version else None
        await self.emit(self.topics.rank_changes, board_id.encode(), encode_doc(doc))
        await self.emit(self.topics.replication, board_id.encode(), encode_doc(
            {**doc, "region": self.region, "session": session}))

    def _apply_spans(self, chunk: _Chunk, started_ns: int) -> None:
        """One `stream.apply` span per traced record, a child of the request that produced it, timed
        over the Lua calls that applied it (the chunk's)."""
        if self.tracer is None or not chunk.traced:
            return
        ended_ns = time.time_ns()
        for p, offset, n, ctx in chunk.traced:
            span = self.tracer.start_span(
                "stream.apply", context=ctx, kind=SpanKind.CONSUMER, start_time=started_ns,
                attributes={"messaging.system": "kafka", "messaging.destination.name": self.topics.scores,
                            "messaging.destination.partition.id": str(p), "messaging.kafka.offset": offset,
                            "podium.region": self.region, "podium.entries": n,
                            "podium.chunk_entries": chunk.entries})
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
