"""The trending service: ingest of event batches (validated, deduplicated, idempotent) and
top-K queries over any range, wired from the store and registry (the I/O shell of the core)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Mapping
from operator import attrgetter
from typing import Any

from podium.region.idempotency_redis import IdempotencyStore
from podium.region.ingest import entries_digest
from podium.region.trending.decode import DecodedEvents, WireEvent, check_typed, decode_typed, events_of_body
from podium.region.trending.events import EventStatus, TrendEvent, check_batch, query_series, validate_event
from podium.region.trending.ingest_plan import EventColumns
from podium.region.trending.shipper import TrendingShipper
from podium.region.trending.sink_kafka import EventLogSink
from podium.region.trending.store_redis import RedisTrendingStore, StreamRegistry
from podium.region.trending.streams import StreamSpec
from podium.replication import trending_sketch as sketches
from podium.replication.trending_buckets import (
    Calendar,
    check_retention,
    cover,
    resolve_range,
    widen_to_retention,
)
from podium.replication.trending_topk import Precision, TrendAnswer, TrendItem

from podium.clock import Clock
from podium.config import TrendingSettings
from podium.errors import BadUserInput, Unavailable

IDEMPOTENCY_SCOPE = "events:"    # keeps event batches apart from score batches of the same key id
_APPLIED, _DUPLICATE, _REJECTED, _ACCEPTED = (s.value for s in EventStatus)
_STREAM = attrgetter("stream")


class TrendingService:
    def __init__(self, store: RedisTrendingStore, streams: StreamRegistry, idempotency: IdempotencyStore,
                 limits: TrendingSettings, clock: Clock) -> None:
        self.store = store
        self.streams = streams
        self.idempotency = idempotency
        self.limits = limits
        self.clock = clock
        # None: counted in the request; an EventLogSink produces to the events topic instead
        self.sink: EventLogSink | None = None
        self.shipper: TrendingShipper | None = None     # cells to the global tier (wiring sets it)

    async def declare_configured(self) -> None:
        for declared in self.limits.streams:
            await self.streams.create(StreamSpec.from_dict(declared.model_dump(), self.limits), exist_ok=True)

    async def submit(self, raw_events: Any, *, scope: str, idem_key: str | None = None,
                     body: bytes | None = None, body_digest: str | None = None) -> dict[str, Any]:
        """Per-entry results for a batch; with `idem_key`, a retry replays the first response.
        With the HTTP `body` the events are decoded in C (`decode`); `raw_events` is None then
        and `body_digest` (the body's SHA-256) identifies the request for its Idempotency-Key."""
        typed = decode_typed(body, self.limits) if body is not None else None
        if typed is not None:
            check_batch(typed, self.limits)
        else:
            if raw_events is None and body is not None:
                raw_events = events_of_body(body)
            raw_events = check_batch(raw_events, self.limits)
        if idem_key is None:
            return await self._process(raw_events, typed)
        body_hash = body_digest or entries_digest(raw_events)
        scope = IDEMPOTENCY_SCOPE + scope
        replay = await self.idempotency.begin(scope, idem_key, body_hash)
        if replay is not None:
            return replay  # type: ignore[no-any-return, unused-ignore]
        try:
            response = await self._process(raw_events, typed)
        except BaseException:
            with contextlib.suppress(Unavailable):
                await self.idempotency.abandon(scope, idem_key)
            raise
        await self.idempotency.finish(scope, idem_key, body_hash, response)
        return response

    async def _process(self, raw_events: list[Any] | None, typed: list[WireEvent] | None) -> dict[str, Any]:
        now_ms = self.clock.now_ms()
        streams = await self.streams.all()
        named = set(map(_STREAM, typed)) if typed is not None else {
            e["stream"] for e in raw_events or () if isinstance(e, dict) and isinstance(e.get("stream"), str)}
        if not named <= streams.keys():
            streams = await self.streams.refresh()     # declared by another process since
        # CPU work off the event loop: a 10,000-event batch must not stall other requests' I/O; a
        # small one is checked in place (its ~0.3 ms is less than a thread hop on a busy process)
        if typed is not None and len(typed) <= self.limits.inline_events_max:
            decoded = check_typed(typed, streams, self.limits, now_ms)
        elif typed is not None:
            decoded = await asyncio.to_thread(check_typed, typed, streams, self.limits, now_ms)
        else:
            decoded = await asyncio.to_thread(_validate, raw_events or [], streams, self.limits, now_ms)
        statuses = [_REJECTED] * decoded.size
        for stream_id, (indices, cols) in decoded.columns.items():
            if self.sink is not None:
                await self.sink.put(stream_id, cols)
                for i in indices:
                    statuses[i] = _ACCEPTED
                continue
            fresh = await self.store.apply_columns(streams[stream_id], cols, now_ms)
            for i, ok in zip(indices, fresh, strict=True):
                statuses[i] = _APPLIED if ok else _DUPLICATE
        results = [{"index": i, "status": st} for i, st in enumerate(statuses)]
        for i, r in decoded.rejected.items():
            results[i] = r.to_dict()
        shown = [_ACCEPTED, _REJECTED] if self.sink is not None else [_APPLIED, _DUPLICATE, _REJECTED]
        counts = {s: statuses.count(s) for s in shown}
        return {"results": results, "counts": counts}

    async def query(self, stream: str, *, from_ms: int | None = None, to_ms: int | None = None,
                    last: str | None = None, calendar: Calendar | None = None, tz: str | None = None,
                    k: int = 10, dims: Mapping[str, Any] | None = None,
                    precision: Precision = Precision.EXACT) -> TrendAnswer:
        """The top-K of `stream` over one range (see buckets.resolve_range for the range forms)."""
        if not 1 <= k <= self.limits.k_max:
            raise BadUserInput(f"k must be between 1 and {self.limits.k_max}")
        spec = await self.streams.require(stream)
        series = query_series(spec, dims)
        now = self.clock.now_ms()
        a, b = resolve_range(now, from_ms=from_ms, to_ms=to_ms, last=last, calendar=calendar, tz=tz)
        kept = {r: spec.kept(r) for r in spec.resolutions}
        if last is not None or calendar is not None:
            a = widen_to_retention(a, now, kept)
        if (b - a) // 60_000 > 10 * self.limits.cover_buckets_max * 1440:
            raise BadUserInput("the range is longer than any stream keeps")
        buckets = cover(a, b, spec.resolutions)
        if len(buckets) > self.limits.cover_buckets_max:
            raise BadUserInput(f"the range needs {len(buckets)} buckets; the limit is {self.limits.cover_buckets_max}")
        check_retention(buckets, now, kept)
        if precision is Precision.EXACT:
            rows, other, total = await self.store.read_exact(spec, buckets, series, k)
            items = [TrendItem(r, item, c, c, c) for r, (item, c) in enumerate(rows, 1)]
            return TrendAnswer(spec.id, a, b, precision, items, total, other, True, buckets=len(buckets),
                               series=series)
        merged, total = await self.store.read_sketch(spec, buckets, series)
        items, guaranteed = sketches.top(merged, k)
        return TrendAnswer(spec.id, a, b, precision, items, total, 0, guaranteed,
                           epsilon=sketches.epsilon(spec.sketch_lg_size), delta=0.0, buckets=len(buckets),
                           series=series)


def _validate(raw_events: list[Any], streams: Mapping[str, StreamSpec], limits: TrendingSettings,
              now_ms: int) -> DecodedEvents:
    """The plain-JSON path: every event judged by `validate_event`, the accepted ones as columns."""
    out = DecodedEvents(len(raw_events))
    groups: dict[str, list[tuple[int, TrendEvent]]] = defaultdict(list)
    for i, raw in enumerate(raw_events):
        checked = validate_event(i, raw, streams, limits, now_ms)
        if isinstance(checked, TrendEvent):
            groups[checked.stream].append((i, checked))
        else:
            out.rejected[i] = checked
    for stream_id, group in groups.items():
        out.columns[stream_id] = ([i for i, _ in group], EventColumns.of_events([e for _, e in group]))
    return out
