"""The worker's side of trending's event-log mode: records of the events topic (`sink_kafka`)
applied to the Redis trending store in order, each stream's through the same dedup and caps as
the request path. At-least-once delivery plus the event-id dedup counts each event once."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
from podium.region.trending.sink_kafka import DECODER
from podium.region.trending.store_redis import RedisTrendingStore, StreamRegistry

from podium.clock import Clock
from podium.errors import NotFound


class EventLogApplier:
    def __init__(self, store: RedisTrendingStore, streams: StreamRegistry, clock: Clock) -> None:
        self.store = store
        self.streams = streams
        self.clock = clock
        self.dropped = 0      # events of streams deleted since they were accepted

    async def apply(self, values: Sequence[bytes]) -> int:
        """Applies the records in order; the number of fresh events. A record that cannot be decoded
        was not written by Podium and is skipped (counted as dropped)."""
        fresh = 0
        for value in values:
            try:
                record = DECODER.decode(value)
            except msgspec.MsgspecError:      # foreign bytes: skipped, never stalling the partition
                self.dropped += 1
                continue
            try:
                spec = await self.streams.require(record.stream)
            except NotFound:
                self.dropped += len(record.ids)
                continue
            fresh += sum(await self.store.apply_columns(spec, record.columns(), self.clock.now_ms()))
        return fresh
