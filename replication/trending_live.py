"""The trending fan-out, a region's and the global tier's: one ticker per process; per (stream,
window, k, dims) one top-K read per tick when the stream changed or the window slid to a new
minute, one diff per tick shared by every subscriber, serialized once per (update, selection
shape) through podium.gql.live_fast.

As in podium.fanout, a subscriber has no queue, only the last top it was sent: a slow consumer
gets one coalesced diff and memory stays bounded by the number of subscribers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field

from podium.replication.trending_buckets import MINUTE_MS, parse_last

from podium.clock import Clock
from podium.config import ApiLimits, TrendingSettings
from podium.errors import BadUserInput, RateLimited
from podium.fanout import PayloadCache
from podium.model import RankedEntry
from podium.ticker import run_ticks
from podium.top_diff import TopChange, diff_top

log = logging.getLogger("podium.trending.live")

Dims = tuple[tuple[str, str], ...]       # a subscription's dimension filter, sorted by name
VersionReader = Callable[[list[str]], Awaitable[dict[str, int]]]


@dataclass(frozen=True, slots=True)
class TrendLabel:
    """How a watch's counts are known, as the `trending` query labels its answer: EXACT, or
    APPROXIMATE (sketch estimates, each within [lower, upper]). A change of precision, guarantee or
    error bound is sent to subscribers even when the ranking did not change; the regions' as-of
    times and the items' bounds ride along on every message (they move with every shipped round,
    and alone are no reason to send one)."""

    precision: str = "EXACT"
    epsilon: float = 0.0
    guaranteed: bool = True
    error_bound: int = 0             # the largest upper - lower among the items (0 when EXACT)
    bounds: tuple[tuple[str, int, int], ...] = field(default=(), compare=False)    # (item, lower, upper)
    regions_as_of: tuple[tuple[str, int | None], ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class TopRead:
    rows: list[RankedEntry]
    label: TrendLabel | None = None


# stream, window, k, dims -> the top (a bare list: no label, as a region's EXACT reads)
TopReader = Callable[[str, str, int, Dims], Awaitable[list[RankedEntry] | TopRead]]


def _read(got: list[RankedEntry] | TopRead) -> TopRead:
    return got if isinstance(got, TopRead) else TopRead(got)


@dataclass(frozen=True, slots=True)
class TrendingUpdate:
    stream: str
    window: str
    k: int
    seq: int
    full: bool
    items: list[RankedEntry]            # rank, item (as `player`), count (as `score`)
    changes: list[TopChange]
    as_of_ms: int
    since: int = -1
    dims: Dims = ()
    label: TrendLabel | None = None

    @property
    def key(self) -> tuple[object, ...]:
        return ("trending", self.stream, self.window, self.k, self.dims, self.since, self.seq)


@dataclass
class _Watch:
    stream: str
    window: str
    k: int
    dims: Dims = ()
    seq: int = 0
    state: list[RankedEntry] = field(default_factory=list)
    label: TrendLabel | None = None
    shared_diff: list[TopChange] = field(default_factory=list)
    as_of_ms: int = 0
    minute: int = 0
    ready: asyncio.Condition = field(default_factory=asyncio.Condition)
    loaded: asyncio.Event = field(default_factory=asyncio.Event)
    error: BaseException | None = None
    subscribers: int = 0


class TrendingFanOut:
    def __init__(self, read_top: TopReader, read_versions: VersionReader, api: ApiLimits,
                 limits: TrendingSettings, clock: Clock) -> None:
        self.read_top = read_top
        self.read_versions = read_versions
        self.api = api
        self.limits = limits
        self.clock = clock
        self.payloads = PayloadCache(api.subscription_payload_cache_max)
        self.watches: dict[tuple[str, str, int, Dims], _Watch] = {}
        self.versions: dict[str, int] = {}
        self.subscriptions = 0

    def _admit(self, window: str, k: int) -> None:
        if not 1 <= k <= self.limits.subscription_k_max:
            raise BadUserInput(f"k must be between 1 and {self.limits.subscription_k_max}")
        if parse_last(window) > self.limits.window_ms_max:
            raise BadUserInput(f"window must be at most {self.limits.window_ms_max // 60_000} minutes")
        if self.subscriptions >= self.api.subscriptions_per_process_max:
            raise RateLimited("this process serves its maximum number of subscriptions; retry on another", 1.0)

    async def subscribe(self, stream: str, window: str, k: int, dims: Dims = ()) -> AsyncGenerator[TrendingUpdate, None]:
        """Updates of one (stream, window, k, dims) watch, shared by every subscriber of the same four."""
        self._admit(window, k)
        key = (stream, window, k, dims)
        watch = self.watches.get(key)
        if watch is None:
            watch = self.watches[key] = _Watch(stream, window, k, dims)
            try:
                first = _read(await self.read_top(stream, window, k, dims))
                watch.state, watch.label = first.rows, first.label
            except BaseException as exc:
                self.watches.pop(key, None)
                watch.error = exc
                watch.loaded.set()
                raise
            watch.as_of_ms = self.clock.now_ms()
            watch.minute = watch.as_of_ms // MINUTE_MS
            watch.loaded.set()
        watch.subscribers += 1
        self.subscriptions += 1
        try:
            await watch.loaded.wait()
            if watch.error is not None:
                raise watch.error
            seen_seq, seen, seen_label = watch.seq, watch.state, watch.label
            yield TrendingUpdate(stream, window, k, seen_seq, True, list(seen), [], watch.as_of_ms, dims=dims,
                                 label=seen_label)
            while True:
                async with watch.ready:
                    await watch.ready.wait_for(lambda: watch.seq != seen_seq)  # noqa: B023 - read before it changes
                changes = watch.shared_diff if seen_seq == watch.seq - 1 else diff_top(seen, watch.state)
                relabelled = watch.label != seen_label
                since, seen_seq, seen, seen_label = seen_seq, watch.seq, watch.state, watch.label
                if changes or relabelled:
                    yield TrendingUpdate(stream, window, k, seen_seq, False, [], changes, watch.as_of_ms, since, dims,
                                         seen_label)
        finally:
            watch.subscribers -= 1
            self.subscriptions -= 1
            if watch.subscribers == 0 and self.watches.get(key) is watch:
                self.watches.pop(key, None)

    async def tick(self) -> None:
        """Re-reads the watches whose stream changed or whose window slid since the last tick."""
        streams = sorted({w.stream for w in self.watches.values()})
        if not streams:
            return
        versions = await self.read_versions(streams)
        changed = {s for s in streams if versions.get(s) != self.versions.get(s)}
        self.versions.update(versions)
        now = self.clock.now_ms()
        for watch in list(self.watches.values()):
            slid = now // MINUTE_MS != watch.minute
            if not watch.loaded.is_set() or watch.error is not None or not (slid or watch.stream in changed):
                continue
            got = _read(await self.read_top(watch.stream, watch.window, watch.k, watch.dims))
            rows = got.rows
            watch.minute = now // MINUTE_MS
            if rows == watch.state and got.label == watch.label:
                watch.label = got.label       # the newer as-of times and bounds, for the next message
                continue
            watch.shared_diff = diff_top(watch.state, rows)
            watch.state, watch.label, watch.as_of_ms = rows, got.label, now
            async with watch.ready:
                watch.seq += 1
                watch.ready.notify_all()

    async def run(self, stop: asyncio.Event) -> None:
        """The ticker, every `api.tick_ms`; a failed tick is logged and the next one tries again."""
        await run_ticks(self.tick, self.api.tick_ms, self.clock, stop, log, "trending")
