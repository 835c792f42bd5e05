"""Event-log mode of the contest feed (`contests.event_log` with `kafka.bootstrap`): each scored
feed event becomes one record `{match, event id, player, delta}` on the region's contest-feed topic,
keyed by the match id (one match's events stay on one partition, in order); the feed answers
`accepted` once the broker acknowledged every record (acks=all, idempotent producer), and
`podium worker` applies the fan-out (`log_apply`). The producer's lifecycle is trending's event-log
sink's (one reconnect rule for both)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import msgspec
from aiokafka.errors import KafkaError
from podium.region.trending.sink_kafka import EventLogSink

from podium.errors import Unavailable
from podium.stream_topics import ensure_named_topics


class FeedRecord(msgspec.Struct, array_like=True, frozen=True):
    """One scored feed event: `delta` is the player's point change in hundredths (negative for a void)."""

    match: str
    event: str
    player: str
    delta: int


_ENCODER = msgspec.msgpack.Encoder()
FEED_DECODER = msgspec.msgpack.Decoder(FeedRecord)


def encode(record: FeedRecord) -> bytes:
    return _ENCODER.encode(record)


class ContestFeedSink(EventLogSink):
    async def start(self) -> None:
        await ensure_named_topics(self.bootstrap, [self.topics.contest_feed], self.kafka.scores_partitions,
                                  self.kafka.replication_factor)

    async def put_records(self, records: Sequence[FeedRecord]) -> None:
        """Returns once the broker acknowledged every record; Unavailable (503, retry the batch) if not."""
        producer = await self._ready()
        try:
            futures = [await producer.send(self.topics.contest_feed, encode(r), key=r.match.encode()) for r in records]
            await asyncio.wait_for(asyncio.gather(*futures), self.kafka.produce_timeout_ms / 1000)
        except (TimeoutError, KafkaError) as exc:
            await self._drop_producer()
            raise Unavailable("the event log did not acknowledge the feed events; retry them") from exc

    async def _drop_producer(self) -> None:
        # a new producer next batch: an idempotent one whose broker restarted can stay wedged
        async with self._lock:
            old, self._producer = self._producer, None
        if old is not None:
            asyncio.get_running_loop().create_task(old.stop())
