"""Event-log mode of trending (`trending.event_log` with `kafka.bootstrap`): validated events go to the region's events topic (same topic family,
broker and `podium worker` as scores) instead of Redis; the worker applies them (`log_apply`).

A batch becomes one record per stream and `kafka.record_entries_max` events (columns encoded with
msgpack), keyed by the stream id so one stream's records keep their order on one partition. The
game server is answered `accepted` once the broker acknowledged every record (acks=all, idempotent
producer). Redelivered records are harmless: the worker counts each event id once per dedup window."""

from __future__ import annotations

import asyncio

import msgspec
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from podium.region.trending.ingest_plan import EventColumns

from podium.config import Settings
from podium.errors import Unavailable
from podium.stream_topics import StreamTopics, ensure_named_topics


class EventRecord(msgspec.Struct, array_like=True, frozen=True):
    """One record of the events topic: a stream's events as columns."""

    stream: str
    ids: list[str]
    items: list[str]
    ats: list[int]
    weights: list[int]
    dims: list[int]
    dim_tuples: list[list[tuple[str, str]]]

    @classmethod
    def of(cls, stream: str, cols: EventColumns) -> EventRecord:
        return cls(stream, cols.ids, cols.items, cols.ats, cols.weights, cols.dims, [list(t) for t in cols.dim_tuples])

    def columns(self) -> EventColumns:
        return EventColumns(self.ids, self.items, self.ats, self.weights, self.dims,
                            [tuple((n, v) for n, v in t) for t in self.dim_tuples])


_ENCODER = msgspec.msgpack.Encoder()
DECODER = msgspec.msgpack.Decoder(EventRecord)


def records_of(stream: str, cols: EventColumns, events_max: int) -> list[bytes]:
    """The stream's events as encoded records of at most `events_max` events, in order."""
    out = []
    for lo in range(0, len(cols), events_max):
        hi = lo + events_max
        part = EventColumns(cols.ids[lo:hi], cols.items[lo:hi], cols.ats[lo:hi], cols.weights[lo:hi], cols.dims[lo:hi],
                            cols.dim_tuples)
        out.append(_ENCODER.encode(EventRecord.of(stream, part)))
    return out


class EventLogSink:
    def __init__(self, settings: Settings) -> None:
        if not settings.kafka.bootstrap:
            raise ValueError("EventLogSink needs kafka.bootstrap (PODIUM_KAFKA__BOOTSTRAP)")
        self.kafka = settings.kafka
        self.bootstrap: str = settings.kafka.bootstrap
        self.topics = StreamTopics.of(settings)
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        await ensure_named_topics(self.bootstrap, [self.topics.events], self.kafka.scores_partitions,
                                  self.kafka.replication_factor)

    async def _ready(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.bootstrap, enable_idempotence=True, acks="all",
                    linger_ms=self.kafka.producer_linger_ms, max_batch_size=self.kafka.producer_batch_bytes_max,
                    request_timeout_ms=self.kafka.produce_timeout_ms)
                try:
                    await producer.start()
                except KafkaError as exc:
                    await producer.stop()
                    raise Unavailable(f"the event log ({self.bootstrap}) is unreachable: {exc}") from exc
                self._producer = producer
            return self._producer

    async def put(self, stream: str, cols: EventColumns) -> None:
        """Returns once the broker acknowledged every record of the stream's events."""
        producer = await self._ready()
        try:
            futures = [await producer.send(self.topics.events, value, key=stream.encode())
                       for value in records_of(stream, cols, self.kafka.record_entries_max)]
            await asyncio.wait_for(asyncio.gather(*futures), self.kafka.produce_timeout_ms / 1000)
        except (TimeoutError, KafkaError) as exc:
            # a new producer next batch: an idempotent one whose broker restarted can stay wedged
            async with self._lock:
                old, self._producer = self._producer, None
            if old is not None:
                asyncio.get_running_loop().create_task(old.stop())
            raise Unavailable("the event log did not acknowledge the batch; retry it") from exc

    async def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()
