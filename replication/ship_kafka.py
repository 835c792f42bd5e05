"""ShipTransport adapter over Kafka: each batch and heartbeat is one record on the global
replication topic, signed like the HTTP requests (HMAC over method, path, timestamp and body, the
region as key id) so the global tier rejects records no region wrote.

A send returns once the broker acknowledged the record (idempotent producer, acks=all): that is
the shipper's acknowledgement, after which its outbox position advances, exactly as with HTTP.
Records are keyed by region and board, so one board's batches stay in order on one partition."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, KafkaTimeoutError, MessageSizeTooLargeError
from podium.replication.changes import Change
from podium.replication.transport import (
    REPLICATE_PATH,
    FeedReports,
    ShipTransport,
    encode_batch,
    encode_heartbeat,
)

from podium.clock import Clock
from podium.config import Settings
from podium.errors import PayloadTooLarge, Unavailable
from podium.model import Board
from podium.signing import signed_headers
from podium.stream_topics import ensure_named_topics
from podium.trace_context import current_headers

log = logging.getLogger("podium.replication.ship_kafka")


def replication_topic(settings: Settings) -> str:
    return f"{settings.kafka.topic_prefix}.global.replication"


class KafkaShipTransport:
    def __init__(self, settings: Settings, secret: str, clock: Clock) -> None:
        if not settings.kafka.bootstrap:
            raise ValueError("replication.transport=kafka needs kafka.bootstrap (PODIUM_KAFKA__BOOTSTRAP)")
        self.settings = settings
        self.bootstrap: str = settings.kafka.bootstrap
        self.topic = replication_topic(settings)
        self.secret = secret
        self.clock = clock
        self.timeout_s = settings.replication.request_timeout_ms / 1000
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _ready(self) -> AIOKafkaProducer:
        """The producer, created on first use (and again after a failure) so a broker that is down
        at start is retried with the shipper's backoff instead of failing the region."""
        async with self._lock:
            if self._producer is None:
                k = self.settings.kafka
                await ensure_named_topics(self.bootstrap, [self.topic], k.scores_partitions, k.replication_factor)
                producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, enable_idempotence=True, acks="all",
                                            request_timeout_ms=self.settings.replication.request_timeout_ms)
                try:
                    await producer.start()
                except KafkaError as exc:
                    await producer.stop()
                    raise Unavailable(f"the replication log ({self.bootstrap}) is unreachable: {exc}") from exc
                self._producer = producer
            return self._producer

    async def send(self, region: str, board: Board, changes: Sequence[Change], feeds: FeedReports) -> None:
        await self._produce(REPLICATE_PATH, region, f"{region}:{board.id}",
                            encode_batch(region, board, changes, feeds))

    async def heartbeat(self, region: str, feeds: FeedReports) -> None:
        await self._produce(REPLICATE_PATH, region, region, encode_heartbeat(region, feeds))

    async def _produce(self, path: str, region: str, key: str, body: bytes) -> None:
        producer = await self._ready()
        signed = signed_headers(region, self.secret, "POST", path, self.clock.now_ms(), body)
        # a batch of traced writes carries its `replication.ship` span's W3C context (ship_trace.py)
        headers = [("path", path.encode())] + [(k.lower(), v.encode()) for k, v in signed.items()] + current_headers()
        try:
            sent = await producer.send(self.topic, body, key=key.encode(), headers=headers)
            await asyncio.wait_for(asyncio.shield(sent), self.timeout_s)
        except MessageSizeTooLargeError as exc:
            # the producer's max_request_size (or the broker's message.max.bytes): split, never retry as is
            raise PayloadTooLarge(f"the replication log refused a {len(body)}-byte record as too large") from exc
        except (TimeoutError, KafkaTimeoutError) as exc:
            # The broker is unreachable. Keep the producer: it retries its pending records and sends
            # them when the broker is back (the shipper resends this batch too: at-least-once). A
            # producer stopped now would wait for those records, i.e. hang until the broker returns.
            raise Unavailable("the replication log did not acknowledge the record in time; retrying") from exc
        except KafkaError as exc:
            # Any other error fails the producer's pending records (e.g. a fenced or out-of-sequence
            # idempotent producer stays wedged): start a fresh one on the next send.
            async with self._lock:
                old, self._producer = self._producer, None
            await self._stop(old)
            raise Unavailable(f"the replication log rejected the record ({exc.__class__.__name__}); retrying") from exc

    async def _stop(self, producer: AIOKafkaProducer | None) -> None:
        """Stop a producer, bounded: stop() flushes pending records, which never ends while the
        broker is down. Past the bound its records are abandoned (the outbox still holds them)."""
        if producer is None:
            return
        try:
            await asyncio.wait_for(producer.stop(), self.timeout_s)
        except TimeoutError:
            log.warning("the replication log producer did not flush within %.1f s; abandoning its records",
                        self.timeout_s)

    async def aclose(self) -> None:
        producer, self._producer = self._producer, None
        await self._stop(producer)


_: type[ShipTransport] = KafkaShipTransport
