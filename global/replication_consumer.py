"""The global tier's side of the Kafka replication transport: consumes the global replication
topic, verifies each record's signature with the replication secret (the record's region is the
key id) and feeds the same function as `POST /v1/replicate`.

Offsets are committed after a poll's records are applied, so delivery is at-least-once; merges are
idempotent and commutative, so a redelivered batch changes nothing. A record that fails
verification or is malformed (including undecodable headers) is counted and skipped: it can never
succeed, and retrying it would wedge its partition. A failure to apply (e.g. the global Redis is
down) rewinds to the last commit and retries with backoff. The signature
timestamp is not checked for freshness here: the log is replayed after outages by design, and only
writers to the topic could replay a record."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from podium.global_.merge_trace import merge_span
from podium.global_.service import GlobalService
from podium.replication.ship_kafka import replication_topic
from podium.replication.transport import REPLICATE_PATH

from podium.errors import BadUserInput, PodiumError, Unauthenticated
from podium.signing import verify
from podium.stream_topics import ensure_named_topics
from podium.tasks import Supervisor, cancel_and_wait

log = logging.getLogger("podium.global.replication")
FRESHNESS_UNCHECKED_MS = 10**15
BACKOFF_S_MAX = 5.0

ApplyBatch = Callable[[GlobalService, dict[str, Any]], Awaitable[int]]


class ReplicationConsumer:
    def __init__(self, service: GlobalService, apply_batch: ApplyBatch) -> None:
        settings = service.settings
        if not settings.kafka.bootstrap or not settings.replication.secret:
            raise ValueError("replication.transport=kafka on the global tier needs kafka.bootstrap and replication.secret")
        self.service = service
        self.settings = settings
        self.topic = replication_topic(settings)
        self.apply_batch = apply_batch
        self.group_id = settings.replication.consumer_group or f"{settings.kafka.topic_prefix}-global-replication"
        self.applied = 0
        self.rejected = 0
        self.restarts = 0   # consume loops restarted after a broker or store failure
        self.lag: dict[int, int] = {}   # partition -> records behind its high watermark after the last poll
        self._task: asyncio.Task[None] | None = None

    def start(self, supervisor: Supervisor | None = None) -> None:
        """Starts consuming (under `supervisor` when given: its state shows in /readyz)."""
        if supervisor is not None:
            self._task = supervisor.supervise("replication-consumer", self._run)
        else:
            self._task = asyncio.create_task(self._run(), name="replication-consumer")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    def stats(self) -> dict[str, int | str]:
        return {"topic": self.topic, "group": self.group_id, "applied": self.applied,
                "rejected": self.rejected, "restarts": self.restarts}

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            applied_before = self.applied
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.restarts += 1
                if self.applied > applied_before:
                    backoff = 0.1   # it made progress since the last failure: a new outage, not the same one
                log.exception("replication consumer failed; retrying in %.1f s", backoff)
                await asyncio.sleep(backoff)
                backoff = min(BACKOFF_S_MAX, backoff * 2)

    async def _consume(self) -> None:
        k = self.settings.kafka
        await ensure_named_topics(k.bootstrap or "", [self.topic], k.scores_partitions, k.replication_factor)
        consumer = AIOKafkaConsumer(
            self.topic, bootstrap_servers=k.bootstrap, group_id=self.group_id,
            enable_auto_commit=False, auto_offset_reset="earliest",
            session_timeout_ms=k.session_timeout_ms, heartbeat_interval_ms=k.heartbeat_interval_ms)
        await consumer.start()
        try:
            while True:
                polled = await consumer.getmany(timeout_ms=500, max_records=self.settings.replication.consume_records_max)
                for tp, records in polled.items():
                    for record in records:
                        await self._apply(record)
                    highwater = consumer.highwater(tp)
                    if highwater is not None and records:
                        self.lag[tp.partition] = max(0, highwater - records[-1].offset - 1)
                if polled:
                    await consumer.commit()
        finally:
            await consumer.stop()

    async def _apply(self, record: Any) -> None:
        body: bytes = record.value or b""
        secret = self.settings.replication.secret or ""
        try:
            headers = {k: (v or b"").decode() for k, v in (record.headers or ())}
            path = headers.get("path", "")
            region = headers.get("x-podium-key", "")
            verify(headers, "POST", path, body, {region: secret} if region else {},
                   self.service.clock.now_ms(), FRESHNESS_UNCHECKED_MS)
            doc = orjson.loads(body)
            if not isinstance(doc, dict) or doc.get("region") != region:
                raise BadUserInput("record body's 'region' does not match its signing key id")
            if path == REPLICATE_PATH:
                with merge_span(self.service.telemetry.tracer, record.headers, doc):
                    await self.apply_batch(self.service, doc)
            else:
                raise BadUserInput(f"unknown replication record path {path[:64]!r}")
        except (Unauthenticated, BadUserInput, orjson.JSONDecodeError, UnicodeDecodeError) as exc:
            self.rejected += 1
            log.error("replication record rejected (partition %s offset %s): %s", record.partition, record.offset,
                      exc.message if isinstance(exc, PodiumError) else exc)
            return
        self.applied += 1
