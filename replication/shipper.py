"""The shipper: sends a region's changes to the global tier, in batches, with acknowledgements.

The outbox is each board's change stream in Redis (written by the apply Lua script atomically with
the scores, so no change can be applied without being recorded). The shipper keeps, per stream, the
id of the last entry the global tier acknowledged, in Redis, so it resumes from there after a
restart, and retries with capped exponential backoff while the global tier or the link is down.
Delivery is at-least-once; the global merge is idempotent (see `podium.replication.changes`).

Bounds: a batch holds at most `ship_batch_max` stream entries, `ship_batch_changes_max` changes
and `ship_batch_bytes_max` bytes (`batching.cut`), below the receiver's body limit; a body the
receiver still refuses (413) is cut in half and sent again at once, so a backlog of any size
drains. The change count keeps each request short: a backlog ships as a stream of requests the
receiver answers in a fraction of a second (the lag of a change is how long it waits for the
requests ahead of it), never as bodies it works on for longer than `request_timeout_ms`. A batch
not acknowledged in time halves that board's count (it grows back, doubling, on each acknowledged
one): the receiver is busy, and resending the same large body would only add to its work. Each stream is capped by
`ingest.changes_len_max`. A link down long enough for the cap to
trim unshipped entries is detected (the stream's first id is past the acknowledged one), alarmed
and counted, and repaired by anti-entropy.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field
from enum import StrEnum

from opentelemetry.trace import Tracer
from podium.replication.batching import coalesce, cut
from podium.replication.change_feed import ChangeFeed, FeedRow
from podium.replication.changes import SEQ_SUB_BITS, Change, parse_stream_entry, stream_id_to_seq
from podium.replication.ship_trace import ship_span
from podium.replication.transport import ShipTimedOut, ShipTransport, encode_batch

from podium.clock import Clock
from podium.config import ReplicationSettings
from podium.errors import PayloadTooLarge, Unavailable
from podium.model import Board

log = logging.getLogger("podium.replication.shipper")
READ_CHUNK_ENTRIES = 128      # change-stream entries per read while filling one batch (at most)
FIRST_CHUNK_ENTRIES = 16      # the first read of a batch; each next one doubles (a short backlog reads little)
ENVELOPE_MARGIN_BYTES = 256   # signing headers travel outside the body; this covers JSON slack


class ShipperState(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    BACKING_OFF = "backing_off"
    STUCK = "stuck"              # a batch the receiver refuses even at one change: alarmed, never silent
    STOPPED = "stopped"


@dataclass
class ShipperStats:
    batches_sent: int = 0
    changes_sent: int = 0
    failures: int = 0
    overflows: int = 0                     # times unshipped changes were trimmed (anti-entropy repairs)
    splits: int = 0                        # batches refused as too large (413) and cut smaller
    stuck: dict[str, int] = field(default_factory=dict)    # board -> refusals of a single change (alarm)
    lag_ms: dict[str, int] = field(default_factory=dict)   # board -> age of the oldest unshipped change


def _seq(entry_id: str | None) -> int:
    return stream_id_to_seq(entry_id) if entry_id else 0


class Shipper:
    def __init__(self, feed: ChangeFeed, region: str, transport: ShipTransport, clock: Clock,
                 settings: ReplicationSettings, tracer: Tracer | None = None) -> None:
        self.feed = feed
        self.tracer = tracer      # a batch of traced writes continues their trace (ship_trace.py)
        self.region = region
        self.transport = transport
        self.clock = clock
        self.settings = settings
        self.state = ShipperState.CREATED
        self.stats = ShipperStats()
        self.known_boards: set[str] = set()   # the boards of the last round (metrics report each, 0 included)
        self._paused = False
        self._last_heartbeat = float("-inf")
        self._budget_bytes: dict[str, int] = {}               # per board, after a 413
        self._changes_max: dict[str, int] = {}                # per board, after a timeout (grows back)
        self._partial: dict[str, tuple[str | None, int]] = {}  # board -> (entry id, changes of it shipped)
        self._wake = asyncio.Event()

    def pause(self) -> None:
        """Stop shipping (an operator cutting the link); changes keep accumulating in the outbox."""
        self._paused = True

    def resume(self) -> None:
        self._paused = False
        self._wake.set()   # ship the held changes now, not after the paused loop's next sleep

    @property
    def paused(self) -> bool:
        return self._paused

    async def ship_once(self) -> int:
        """One round over every board: ship at most one batch per board. Returns changes shipped.
        Reports where every change stream stands at least every `heartbeat_interval_ms`."""
        shipped = 0
        acked = await self.feed.acked()
        boards = await self.feed.boards()
        self.known_boards = {b.id for b in boards}
        # boards ship concurrently (at most `ship_concurrency_max` requests in flight): the global
        # tier merges one board while the next batch is on the wire, instead of idling between them
        limit = asyncio.Semaphore(self.settings.ship_concurrency_max)

        async def one(board: Board) -> int:
            async with limit:
                return await self._ship_board(board, acked.get(board.id, "0-0"))

        results = await asyncio.gather(*(one(b) for b in boards), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result   # every other board's batch has finished (and is acknowledged) by now
            shipped += result
        await self._heartbeat_if_due()
        return shipped

    async def _ship_board(self, board: Board, position: str) -> int:
        limit = self.settings.ship_batch_max
        budget = self._budget_bytes.get(board.id, self.settings.ship_batch_bytes_max)
        changes_max = self._changes_max.get(board.id, self.settings.ship_batch_changes_max)
        rows = await self._read_up_to(board, position, limit + 1, budget, changes_max)
        if not rows:
            self.stats.lag_ms.pop(board.id, None)
            return 0
        await self._check_overflow(board, position, rows[0][0])
        self.stats.lag_ms[board.id] = max(0, self.clock.now_ms() - (stream_id_to_seq(rows[0][0]) >> SEQ_SUB_BITS))
        ids = [r.id for r in rows]
        entries = [parse_stream_entry(self.region, board.id, board.season, r.id, r.data) for r in rows]
        skip = self._partial.get(board.id, (None, 0))
        skip_n = skip[1] if skip[0] == ids[0] and skip[1] < len(entries[0]) else 0
        head = _seq(await self.feed.head(board))
        overhead = len(encode_batch(self.region, board, [], {board.id: [head, head, head]})) + ENVELOPE_MARGIN_BYTES
        part = cut(entries[:limit], skip_n, budget, overhead, changes_max)
        done = part.entries_done
        acked_after = ids[done - 1] if done else position
        next_unacked = ids[done] if done < len(ids) else None
        feeds = {board.id: [head, stream_id_to_seq(acked_after), _seq(next_unacked)]}
        changes = coalesce(part.changes)
        try:
            with ship_span(self.tracer, self.region, board.id, rows[:done + (1 if part.skip_next else 0)],
                           len(part.changes)):
                await self.transport.send(self.region, board, changes, feeds)
        except PayloadTooLarge as exc:
            self._refused(board, part.changes, part.size_bytes, exc)
            return 0
        except ShipTimedOut:
            self._changes_max[board.id] = max(1, len(part.changes) // 2)
            log.warning("the global tier did not acknowledge %d changes of %s in time; sending at most %d at once",
                        len(part.changes), board.id, self._changes_max[board.id])
            raise
        if board.id in self._changes_max:
            grown = 2 * self._changes_max[board.id]
            if grown >= self.settings.ship_batch_changes_max:
                del self._changes_max[board.id]
            else:
                self._changes_max[board.id] = grown
        if done:
            await self.feed.ack(board, acked_after)
        self._partial[board.id] = (ids[0], part.skip_next) if part.skip_next else (None, 0)
        self.stats.batches_sent += 1
        self.stats.changes_sent += len(changes)
        self.stats.stuck.pop(board.id, None)
        return len(part.changes)

    async def _read_up_to(self, board: Board, position: str, count: int, budget_bytes: int,
                          changes_max: int) -> list[FeedRow]:
        """Entries after `position`, in chunks, stopping once their packed size passes the budget
        (an encoded change is larger than its packed line, so that is all one body can carry) or
        their lines (one per change) reach `changes_max`: a deep backlog is never read and parsed
        whole for one request."""
        rows: list[FeedRow] = []
        packed_bytes = lines = 0
        chunk_entries = FIRST_CHUNK_ENTRIES
        while len(rows) < count and packed_bytes <= budget_bytes and lines < changes_max:
            want = min(chunk_entries, count - len(rows))
            chunk = await self.feed.read(board, rows[-1][0] if rows else position, want)
            for index, row in enumerate(chunk):
                packed_bytes += len(row.data)
                lines += row.data.count("\n") + 1
                if lines >= changes_max:
                    # the entry that fills the body, and the next one: its id is where the stream
                    # stands after this body (nothing further is parsed)
                    rows += chunk[:index + 2]
                    return rows
            rows += chunk
            if len(chunk) < want:
                break
            chunk_entries = min(READ_CHUNK_ENTRIES, 2 * chunk_entries)
        return rows

    def _refused(self, board: Board, changes: list[Change], size_bytes: int, exc: PayloadTooLarge) -> None:
        """The receiver refused the body's size: halve this board's budget and cut again at once.
        A single change it refuses can never get through: alarm (state STUCK, counted, logged)."""
        if len(changes) > 1:
            self._budget_bytes[board.id] = max(1, size_bytes // 2)
            self.stats.splits += 1
            log.warning("global tier refused a %d-byte batch of %s; splitting (budget now %d bytes)",
                        size_bytes, board.id, self._budget_bytes[board.id])
            return
        self.stats.stuck[board.id] = self.stats.stuck.get(board.id, 0) + 1
        log.error("replication of board %s cannot progress: the receiver refuses even one change (%d bytes): %s",
                  board.id, size_bytes, exc.message)
        raise Unavailable(f"board {board.id!r}: a single change is over the receiver's body limit")

    async def feed_reports(self) -> dict[str, list[int]]:
        """[head, acked, next_unacked] per board, as sequence numbers (podium.global_.staleness)."""
        acked = await self.feed.acked()
        out = {}
        for board in await self.feed.boards():
            position = acked.get(board.id, "0-0")
            after = await self.feed.read(board, position, 1)
            out[board.id] = [_seq(await self.feed.head(board)), stream_id_to_seq(position),
                             _seq(after[0][0] if after else None)]
        return out

    async def update_lag(self) -> None:
        """Age of the oldest unshipped change per board, without shipping (e.g. while paused)."""
        acked = await self.feed.acked()
        now_ms = self.clock.now_ms()
        for board in await self.feed.boards():
            rows = await self.feed.read(board, acked.get(board.id, "0-0"), 1)
            if rows:
                self.stats.lag_ms[board.id] = max(0, now_ms - (stream_id_to_seq(rows[0][0]) >> SEQ_SUB_BITS))
            else:
                self.stats.lag_ms.pop(board.id, None)

    async def _check_overflow(self, board: Board, position: str, first_unshipped: str) -> None:
        if position == "0-0":
            return
        first = await self.feed.first(board)
        if first and stream_id_to_seq(first) > stream_id_to_seq(position) and first == first_unshipped:
            # The entry right after the acknowledged one was trimmed: we lost changes to the cap.
            self.stats.overflows += 1
            log.error("replication outbox of %s overflowed its cap while the link was down; anti-entropy will repair",
                      board.id)

    async def run(self, stop: asyncio.Event) -> None:
        self.state = ShipperState.RUNNING
        backoff_ms = self.settings.ship_interval_ms
        try:
            while not stop.is_set():
                try:
                    if self._paused:
                        # changes are held, but the global tier still hears where the streams stand,
                        # so it labels this region stale by its data, not by silence
                        await self.update_lag()
                        await self._heartbeat_if_due()
                        await self._wait(stop, self.settings.ship_interval_ms)
                        continue
                    shipped = await self.ship_once()
                except Unavailable as exc:
                    self.stats.failures += 1
                    self.state = ShipperState.STUCK if self.stats.stuck else ShipperState.BACKING_OFF
                    backoff_ms = min(self.settings.backoff_ms_max, backoff_ms * 2)
                    log.warning("shipping to the global tier failed (%s); retrying in ~%d ms", exc.message, backoff_ms)
                    await self._wait(stop, backoff_ms * random.uniform(0.5, 1.0))
                    continue
                self.state = ShipperState.STUCK if self.stats.stuck else ShipperState.RUNNING
                backoff_ms = self.settings.ship_interval_ms
                if shipped == 0:
                    await self._wait(stop, self.settings.ship_interval_ms)
        finally:
            self.state = ShipperState.STOPPED

    async def _heartbeat_if_due(self) -> None:
        """Tell the global tier we are alive and where every change stream stands (busy, idle or
        paused alike): its staleness is measured on these reports."""
        now = self.clock.monotonic()
        if now - self._last_heartbeat >= self.settings.heartbeat_interval_ms / 1000:
            await self.transport.heartbeat(self.region, await self.feed_reports())
            self._last_heartbeat = now

    async def _wait(self, stop: asyncio.Event, ms: float) -> None:
        """Sleep `ms`, or less when stopped or resumed."""
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(waiters, timeout=ms / 1000, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            self._wake.clear()
