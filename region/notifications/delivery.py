"""The webhook delivery worker: drains the outbox into per-endpoint queues, and delivers each
endpoint's queue in its own task with at most `webhook_concurrency_max` requests in flight.

Isolation: a slow or failing endpoint only holds its own task; others keep their pace. A failed
attempt is retried after a jittered exponential backoff until the event's deadline, then
dead-lettered. Delivery is at-least-once: a queue entry is acked after the receiver answered 2xx
(or after dead-lettering), so a crash in between re-delivers with the same X-Podium-Event-Id.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field

import httpx
import orjson
from podium.region.notifications.webhooks import Endpoint, backoff_ms, delivery_headers
from podium.region.notifications.webhooks_redis import Message, RedisWebhooks

from podium.breaker import CircuitBreaker
from podium.clock import Clock
from podium.config import BreakerSettings, NotificationSettings
from podium.errors import Unavailable
from podium.tasks import cancel_and_wait

log = logging.getLogger("podium.notifications.delivery")


@dataclass
class DeliveryCounters:
    routed: int = 0
    delivered: int = 0
    failed_attempts: int = 0
    dead_lettered: int = 0
    by_endpoint: dict[str, int] = field(default_factory=dict)   # successful deliveries
    failed_by_endpoint: dict[str, int] = field(default_factory=dict)   # failed attempts
    dead_by_endpoint: dict[str, int] = field(default_factory=dict)     # dead-lettered events
    last_error: dict[str, str] = field(default_factory=dict)           # the latest failed attempt's error


class DeliveryWorker:
    def __init__(self, store: RedisWebhooks, settings: NotificationSettings, clock: Clock, consumer: str,
                 client: httpx.AsyncClient, rng: random.Random | None = None) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.consumer = consumer
        self.client = client
        self.rng = rng or random.Random()
        self.counters = DeliveryCounters()
        self._endpoints: dict[str, Endpoint] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.breakers: dict[str, CircuitBreaker] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Route the outbox and keep one delivery task per registered endpoint, until `stop`."""
        poll_s = self.settings.webhook_poll_ms / 1000
        try:
            while not stop.is_set():
                try:
                    routed = await self.route_once(stop)
                except Unavailable as exc:
                    log.warning("webhook routing paused: %s", exc)
                    routed = 0
                if not routed:
                    await _sleep_unless(stop, poll_s)
        finally:
            for task in list(self._tasks.values()):
                await cancel_and_wait(task)
            self._tasks.clear()

    def active_endpoints(self) -> set[str]:
        """The endpoints this worker is delivering to (registered ones are picked up on its next poll)."""
        return {ident for ident, task in self._tasks.items() if not task.done()}

    async def _refresh(self, stop: asyncio.Event) -> None:
        endpoints = {e.id: e for e in await self.store.endpoints()}
        for gone in set(self._tasks) - set(endpoints):
            await cancel_and_wait(self._tasks.pop(gone))
        self._endpoints = endpoints
        for ident in endpoints:
            task = self._tasks.get(ident)
            if task is not None and task.done() and not task.cancelled() and task.exception() is not None:
                log.error("webhook %s delivery task failed; restarted", ident, exc_info=task.exception())
            if task is None or task.done():
                self._tasks[ident] = asyncio.create_task(self._endpoint_loop(ident, stop), name=f"webhook {ident}")

    async def route_once(self, stop: asyncio.Event) -> int:
        """Copy one batch of the outbox into the queues of the endpoints that want it, then ack it.
        The endpoints are read after the batch, so an endpoint registered before a notification was
        written always receives it."""
        batch = await self.store.read_outbox(self.consumer, self.settings.webhook_poll_batch_max)
        await self._refresh(stop)
        now = self.clock.now_ms()
        for message_id, fields in batch:
            doc = fields.get(b"n", b"")
            try:
                note = orjson.loads(doc)
                kind, board = note["kind"], note["board"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                log.error("outbox entry %s is not a notification; skipped", message_id)   # never written by Podium
                continue
            for endpoint in self._endpoints.values():
                if endpoint.wants(kind, board):
                    await self.store.enqueue(endpoint.id, doc, now)
                    self.counters.routed += 1
        await self.store.ack_outbox([mid for mid, _ in batch])
        return len(batch)

    async def _endpoint_loop(self, ident: str, stop: asyncio.Event) -> None:
        poll_s = self.settings.webhook_poll_ms / 1000
        breaker = self.breakers.setdefault(ident, endpoint_breaker(ident, self.settings))
        while not stop.is_set():
            if not breaker.allows_new(self.clock.now_ms()):
                await _sleep_unless(stop, poll_s)
                continue
            try:
                batch = await self.store.read_queue(ident, self.consumer, self.settings.webhook_concurrency_max)
                if batch:
                    await asyncio.gather(*(self._deliver(ident, m, stop) for m in batch))
                    continue
            except Unavailable as exc:
                log.warning("webhook %s paused: %s", ident, exc)
            await _sleep_unless(stop, poll_s)

    async def _deliver(self, ident: str, message: Message, stop: asyncio.Event) -> None:
        message_id, fields = message
        doc, enqueued_ms = fields[b"n"], int(fields[b"t"])
        event_id = orjson.loads(doc)["id"]
        s = self.settings
        attempt = 0
        while not stop.is_set():
            endpoint = self._endpoints.get(ident)
            if endpoint is None:
                return          # unregistered meanwhile: the entry stays in its (orphaned) queue
            error = await self._attempt(endpoint, event_id, doc)
            breaker = self.breakers.get(ident)
            if breaker is not None:
                breaker.record(error is None, self.clock.now_ms())
            if error is None:
                await self.store.done(ident, message_id)
                self.counters.delivered += 1
                self.counters.by_endpoint[ident] = self.counters.by_endpoint.get(ident, 0) + 1
                return
            self.counters.failed_attempts += 1
            self.counters.failed_by_endpoint[ident] = self.counters.failed_by_endpoint.get(ident, 0) + 1
            self.counters.last_error[ident] = error
            delay_ms = backoff_ms(attempt, s.webhook_retry_base_ms, s.webhook_retry_ms_max, self.rng)
            attempt += 1
            if self.clock.now_ms() + delay_ms > enqueued_ms + s.webhook_deadline_ms:
                await self.store.dead_letter(ident, doc, error, self.clock.now_ms())
                await self.store.done(ident, message_id)
                self.counters.dead_lettered += 1
                self.counters.dead_by_endpoint[ident] = self.counters.dead_by_endpoint.get(ident, 0) + 1
                return
            await _sleep_unless(stop, delay_ms / 1000)

    async def _attempt(self, endpoint: Endpoint, event_id: str, body: bytes) -> str | None:
        """None when the receiver took it (2xx), else why not."""
        headers = delivery_headers(endpoint, event_id, body, self.clock.now_ms())
        try:
            response = await self.client.post(endpoint.url, content=body, headers=headers,
                                              timeout=self.settings.webhook_timeout_ms / 1000)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"


def endpoint_status(worker: DeliveryWorker, endpoint: Endpoint, queued: int, now_ms: int) -> dict[str, object]:
    """What the console shows of one endpoint's deliveries (counted by this process since it started)."""
    c = worker.counters
    breaker = worker.breakers.get(endpoint.id)
    return {**endpoint.public(), "queued": queued, "delivered": c.by_endpoint.get(endpoint.id, 0),
            "failed_attempts": c.failed_by_endpoint.get(endpoint.id, 0),
            "dead_lettered": c.dead_by_endpoint.get(endpoint.id, 0),
            "active": endpoint.id in worker.active_endpoints(),
            "last_error": c.last_error.get(endpoint.id),
            "breaker": str(breaker.state(now_ms)) if breaker is not None else "closed"}


def endpoint_breaker(ident: str, s: NotificationSettings) -> CircuitBreaker:
    """An endpoint's breaker (the kernel's, podium/breaker.py): `webhook_breaker_failures` failed
    attempts in a row open it — a window of that many calls, all failed — for `webhook_breaker_open_ms`;
    its worker then takes no new events (retries in flight keep their own backoff) until a half-open
    attempt succeeds."""
    n = max(1, s.webhook_breaker_failures)
    return CircuitBreaker(f"webhook:{ident}", BreakerSettings(
        failure_ratio=1.0, calls_min=n, window_calls_max=n, window_ms=s.webhook_deadline_ms,
        open_ms=s.webhook_breaker_open_ms, call_timeout_ms=s.webhook_timeout_ms))


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass
