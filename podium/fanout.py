"""The subscription fan-out hub: one ticker per process; per (board, n) one Redis read and one
diff per tick, shared by every subscriber of that (board, n); per board one batched read for
every player watched by `rankChanged`.

Coalescing and slow consumers: a subscriber never has a queue. It has a slot holding the last top
it was sent; when it is ready for more, it gets one diff from what it saw to the latest state
(computed once per tick and shared when it saw the previous tick, as nearly all do). So a slow
consumer skips intermediate ticks and memory stays bounded by the number of subscribers.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from podium.clock import Clock
from podium.config import ApiLimits
from podium.errors import BadUserInput, RateLimited
from podium.fanout_push import Pusher, PushSink
from podium.model import RankedEntry
from podium.ticker import run_ticks
from podium.top_diff import TopChange, diff_top

log = logging.getLogger("podium.fanout")
OVERTAKEN_MAX = 10

RangeReader = Callable[[str, int, int], Awaitable[list[RankedEntry]]]   # board, start, count
PlayersReader = Callable[[str, list[str]], Awaitable[list[RankedEntry | None]]]
VersionReader = Callable[[list[str]], Awaitable[dict[str, str]]]
RangesReader = Callable[[str, list[tuple[int, int]]], Awaitable[list[list[RankedEntry]]]]   # board, [(start, count)]


@dataclass(frozen=True, slots=True)
class TopUpdate:
    board: str
    n: int
    seq: int                      # tick number of the state this update brings the subscriber to
    full: bool                    # first message: `entries` is the whole top
    entries: list[RankedEntry]
    changes: list[TopChange]
    as_of_ms: int
    since: int = -1               # tick the subscriber saw before (-1: first message)

    @property
    def key(self) -> tuple[object, ...]:
        """Same key, same message: subscribers who saw the same tick share one serialized payload."""
        return ("top", self.board, self.n, self.since, self.seq)


@dataclass(frozen=True, slots=True)
class RankUpdate:
    board: str
    player: str
    rank: int | None
    previous_rank: int | None
    score: int | None
    overtaken_by: list[str]
    as_of_ms: int
    seq: int = 0
    first: bool = True

    @property
    def key(self) -> tuple[object, ...]:
        return ("rank", self.board, self.player, self.seq, self.first)


@dataclass
class _TopWatch:
    board: str
    n: int
    seq: int = 0
    state: list[RankedEntry] = field(default_factory=list)
    prev_state: list[RankedEntry] = field(default_factory=list)
    shared_diff: list[TopChange] = field(default_factory=list)
    as_of_ms: int = 0
    ready: asyncio.Condition = field(default_factory=asyncio.Condition)
    loaded: asyncio.Event = field(default_factory=asyncio.Event)
    error: BaseException | None = None   # the first read failed: every waiting subscriber gets it
    subscribers: int = 0
    sinks: dict[PushSink, None] = field(default_factory=dict)   # push subscribers (podium.fanout_push)
    behind: bool = False                 # some sink did not get the latest tick yet


@dataclass
class _RankWatch:
    board: str
    player: str
    entry: RankedEntry | None = None
    seq: int = 0
    overtaken_by: list[str] = field(default_factory=list)
    previous_rank: int | None = None
    as_of_ms: int = 0
    ready: asyncio.Condition = field(default_factory=asyncio.Condition)
    loaded: asyncio.Event = field(default_factory=asyncio.Event)
    error: BaseException | None = None
    subscribers: int = 0
    sinks: dict[PushSink, None] = field(default_factory=dict)
    behind: bool = False


@dataclass(eq=False, slots=True)
class Held:
    """One subscriber counted by a watch (`FanOut.open_top` / `open_rank`): `first` is its first
    update; `close()` (idempotent) stops counting it and drops the watch with its last subscriber."""

    first: TopUpdate | RankUpdate
    _release: Callable[[], None]
    closed: bool = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._release()


class PayloadCache:
    """Serialized payloads by (update key, shape), least recently used out first; bounded."""

    def __init__(self, entries_max: int) -> None:
        self.entries_max = max(1, entries_max)
        self._items: OrderedDict[tuple[object, ...], Any] = OrderedDict()   # text, or a whole frame (bytes)
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[object, ...]) -> Any:
        text = self._items.get(key)
        if text is None:
            self.misses += 1
            return None
        self.hits += 1
        self._items.move_to_end(key)
        return text

    def put(self, key: tuple[object, ...], text: str | bytes) -> None:
        self._items[key] = text
        self._items.move_to_end(key)
        while len(self._items) > self.entries_max:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class FanOut:
    def __init__(self, read_range: RangeReader, read_players: PlayersReader, read_versions: VersionReader,
                 limits: ApiLimits, clock: Clock, on_tick_ms: Callable[[float], None] | None = None,
                 on_delivery: Callable[[float, int], None] | None = None,
                 read_ranges: RangesReader | None = None) -> None:
        self.read_ranges = read_ranges   # many (start, count) ranges of one board in one round trip
        self.on_tick_ms = on_tick_ms
        self.on_delivery = on_delivery   # per tick that pushed: (ms spent writing, subscriber-ticks coalesced)
        self.pusher = Pusher(clock, limits.tick_ms, limits.push_buffer_bytes_max)
        self.read_range = read_range
        self.read_players = read_players
        self.read_versions = read_versions
        self.limits = limits
        self.clock = clock
        self.payloads = PayloadCache(limits.subscription_payload_cache_max)   # see podium.gql.live_fast
        self.tops: dict[tuple[str, int], _TopWatch] = {}
        self.ranks: dict[tuple[str, str], _RankWatch] = {}
        self.versions: dict[str, str] = {}
        self.subscriptions = 0
        self.ticks = 0
        self.last_tick_ms = 0.0

    def _admit(self, n: int | None = None) -> None:
        if n is not None and not 1 <= n <= self.limits.subscription_top_n_max:
            raise BadUserInput(f"n must be between 1 and {self.limits.subscription_top_n_max}")
        if self.subscriptions >= self.limits.subscriptions_per_process_max:
            raise RateLimited("this process serves its maximum number of subscriptions; retry on another", 1.0)

    async def open_top(self, board: str, n: int) -> Held:
        """One counted subscriber of (board, n) without a generator (a push subscriber, attached
        by the caller): its first update, the whole top; `close()` it when the subscriber ends."""
        self._admit(n)
        key = (board, n)
        watch = self.tops.get(key)
        if watch is None:
            watch = self.tops[key] = _TopWatch(board, n)
            await self._load(watch, lambda: self._first_read(board, lambda: self.read_range(board, 0, n)), "state")
        held = Held(TopUpdate(board, n, 0, True, [], [], 0, -1), lambda: self._release(self.tops, key, watch))
        await self._hold(watch, held)
        held.first = TopUpdate(board, n, watch.seq, True, list(watch.state), [], watch.as_of_ms, -1)
        return held

    async def subscribe_top(self, board: str, n: int) -> AsyncGenerator[TopUpdate, None]:
        held = await self.open_top(board, n)
        watch = self.tops[(board, n)]
        try:
            first = held.first
            assert isinstance(first, TopUpdate)
            seen_seq, seen = first.seq, first.entries
            yield first                                  # open_top built it from a copy of the state
            while True:
                async with watch.ready:
                    await watch.ready.wait_for(lambda s=seen_seq: watch.seq != s)  # type: ignore[misc]
                if seen_seq == watch.seq - 1:
                    changes = watch.shared_diff          # the common case: computed once per tick
                else:
                    changes = diff_top(seen, watch.state)  # a slow consumer: one coalesced diff
                since, seen_seq, seen = seen_seq, watch.seq, watch.state
                if changes:
                    yield TopUpdate(board, n, seen_seq, False, [], changes, watch.as_of_ms, since)
        finally:
            held.close()

    async def open_rank(self, board: str, player: str) -> Held:
        """One counted subscriber of (board, player) without a generator, as `open_top`."""
        self._admit()
        key = (board, player)
        watch = self.ranks.get(key)
        if watch is None:
            watch = self.ranks[key] = _RankWatch(board, player)

            async def first_entry() -> RankedEntry | None:
                entries = await self._first_read(board, lambda: self.read_players(board, [player]))
                return entries[0]  # type: ignore[index, no-any-return]

            await self._load(watch, first_entry, "entry")
        held = Held(RankUpdate(board, player, None, None, None, [], 0), lambda: self._release(self.ranks, key, watch))
        await self._hold(watch, held)
        e = watch.entry
        held.first = RankUpdate(board, player, e.rank if e else None, None, e.score if e else None, [], watch.as_of_ms,
                                watch.seq, True)
        return held

    async def subscribe_rank(self, board: str, player: str) -> AsyncGenerator[RankUpdate, None]:
        held = await self.open_rank(board, player)
        watch = self.ranks[(board, player)]
        try:
            first = held.first
            assert isinstance(first, RankUpdate)
            seen = first.seq
            yield first
            while True:
                async with watch.ready:
                    await watch.ready.wait_for(lambda s=seen: watch.seq != s)  # type: ignore[misc]
                seen = watch.seq
                e = watch.entry
                yield RankUpdate(board, player, e.rank if e else None, watch.previous_rank,
                                 e.score if e else None, list(watch.overtaken_by), watch.as_of_ms, seen, False)
        finally:
            held.close()

    async def _hold(self, watch: _TopWatch | _RankWatch, held: Held) -> None:
        """Counts `held` on `watch` once its first read is done; released again when that fails."""
        watch.subscribers += 1
        self.subscriptions += 1
        try:
            await watch.loaded.wait()
            if watch.error is not None:
                raise watch.error
        except BaseException:
            held.close()
            raise

    def _release(self, watches: dict[Any, Any], key: tuple[str, Any], watch: _TopWatch | _RankWatch) -> None:
        watch.subscribers -= 1
        self.subscriptions -= 1
        if watch.subscribers == 0 and watches.get(key) is watch:
            watches.pop(key, None)

    def attach(self, first: TopUpdate | RankUpdate, sink: PushSink) -> None:
        """From now on the tick writes this subscriber's frames (its generator stays open, unread,
        so it is still counted); `first` is the update it was sent."""
        if isinstance(first, TopUpdate):
            top = self.tops[(first.board, first.n)]
            sink.seq, sink.seen = first.seq, first.entries
            top.sinks[sink] = None
            top.behind = top.behind or top.seq != sink.seq
        else:
            rank = self.ranks[(first.board, first.player)]
            sink.seq = first.seq
            rank.sinks[sink] = None
            rank.behind = rank.behind or rank.seq != sink.seq

    def detach(self, first: TopUpdate | RankUpdate, sink: PushSink) -> None:
        key = (first.board, first.n) if isinstance(first, TopUpdate) else (first.board, first.player)
        watch = self.tops.get(key) if isinstance(first, TopUpdate) else self.ranks.get(key)  # type: ignore[arg-type]
        if watch is not None:
            watch.sinks.pop(sink, None)

    async def _push_top(self, watch: _TopWatch, started: float) -> None:
        def update(sink: PushSink) -> TopUpdate | None:
            since = sink.seq
            changes = watch.shared_diff if since == watch.seq - 1 else diff_top(sink.seen, watch.state)
            return TopUpdate(watch.board, watch.n, watch.seq, False, [], changes, watch.as_of_ms, since) if changes else None

        watch.behind = not await self.pusher.push(watch.sinks, watch.seq, watch.state, update, started)

    async def _push_rank(self, rw: _RankWatch, started: float) -> None:
        def update(sink: PushSink) -> RankUpdate:
            e = rw.entry
            return RankUpdate(rw.board, rw.player, e.rank if e else None, rw.previous_rank, e.score if e else None,
                              list(rw.overtaken_by), rw.as_of_ms, rw.seq, False)

        rw.behind = not await self.pusher.push(rw.sinks, rw.seq, None, update, started)

    async def _first_read(self, board: str, read: Callable[[], Awaitable[object]]) -> object:
        """A new watch reads its board's version before its state, so the next tick treats that
        state as seen: a change after it is a push (and measured as one), nothing is read twice.
        Not when another watch of the board exists: the next tick must still bring that one along."""
        watches = sum(b == board for b, _ in self.tops) + sum(b == board for b, _ in self.ranks)
        if watches <= 1:
            self.versions.update(await self.read_versions([board]))
        return await read()

    async def _load(self, watch: _TopWatch | _RankWatch, read: Callable[[], Awaitable[object]], attr: str) -> None:
        """First read of a new watch; later subscribers of the same key wait for it (`loaded`)."""
        try:
            setattr(watch, attr, await read())
        except BaseException as exc:
            if isinstance(watch, _TopWatch):
                self.tops.pop((watch.board, watch.n), None)
            else:
                self.ranks.pop((watch.board, watch.player), None)
            watch.error = exc
            watch.loaded.set()   # subscribers already waiting on this watch fail with it, not hang
            raise
        watch.as_of_ms = self.clock.now_ms()
        watch.loaded.set()

    async def tick(self) -> None:
        """One tick: read what changed (one version read for all watched boards), recompute, wake
        the generator subscribers and write the push subscribers' frames."""
        boards = sorted({b for b, _ in self.tops} | {b for b, _ in self.ranks})
        if not boards:
            return
        started = self.clock.monotonic()
        coalesced = self.pusher.stats.coalesced
        versions = await self.read_versions(boards)
        changed = {b for b in boards if versions.get(b) != self.versions.get(b)}
        self.versions.update(versions)
        now = self.clock.now_ms()
        pushed = False
        for watch in list(self.tops.values()):
            if watch.board in changed and watch.loaded.is_set():
                rows = await self.read_range(watch.board, 0, watch.n)
                if rows != watch.state:
                    watch.shared_diff = diff_top(watch.state, rows)
                    watch.prev_state, watch.state, watch.as_of_ms = watch.state, rows, now
                    async with watch.ready:
                        watch.seq += 1
                        watch.ready.notify_all()
                    watch.behind = True
            if watch.behind and watch.sinks:
                pushed = True
                await self._push_top(watch, started)
        by_board: dict[str, list[_RankWatch]] = {}
        for rw in self.ranks.values():
            if rw.board in changed and rw.loaded.is_set():
                by_board.setdefault(rw.board, []).append(rw)
        for board, watches in by_board.items():
            entries = await self.read_players(board, [w.player for w in watches])
            moved = [(rw, entry) for rw, entry in zip(watches, entries, strict=True) if entry != rw.entry]
            # Those now between a player's old and new position passed it: every such range of the
            # tick in one batched read (one round trip per watch made a tick last seconds when one
            # event moved thousands of watched entries, e.g. a contest's fan-out).
            falls = [(o.rank - 1, min(e.rank - o.rank, OVERTAKEN_MAX)) for rw, e in moved
                     if (o := rw.entry) is not None and e is not None and e.rank > o.rank]
            aheads = iter(await self._read_ranges(board, falls) if falls else [])
            for rw, entry in moved:
                old = rw.entry
                old_rank, new_rank = (old.rank if old else None), (entry.rank if entry else None)
                rw.overtaken_by = []
                if old_rank is not None and new_rank is not None and new_rank > old_rank:
                    rw.overtaken_by = [e.player for e in next(aheads) if e.player != rw.player]
                rw.entry, rw.previous_rank, rw.as_of_ms = entry, old_rank, now
                async with rw.ready:
                    rw.seq += 1
                    rw.ready.notify_all()
                rw.behind = True
        for rw in list(self.ranks.values()):
            if rw.behind and rw.sinks:
                pushed = True
                await self._push_rank(rw, started)
        if pushed and self.on_delivery is not None:
            self.on_delivery((self.clock.monotonic() - started) * 1000, self.pusher.stats.coalesced - coalesced)

    async def _read_ranges(self, board: str, ranges: list[tuple[int, int]]) -> list[list[RankedEntry]]:
        """(start, count) ranges of one board: the batch reader when given, else concurrent reads."""
        if self.read_ranges is not None:
            return await self.read_ranges(board, ranges)
        return list(await asyncio.gather(*(self.read_range(board, start, count) for start, count in ranges)))

    async def run(self, stop: asyncio.Event) -> None:
        """The ticker: every `tick_ms`; a failed tick is logged and the next one tries again."""
        await run_ticks(self.tick, self.limits.tick_ms, self.clock, stop, log, "fan-out", self._ticked)

    def _ticked(self, spent_ms: float, ok: bool) -> None:
        if ok:
            self.ticks += 1
        self.last_tick_ms = spent_ms
        if self.on_tick_ms is not None:
            self.on_tick_ms(spent_ms)
