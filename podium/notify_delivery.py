"""The webhook delivery worker: one loop routes the outbox into per-endpoint queues and reads the
due entries of every endpoint's queue in one pipelined round trip; deliveries run as tasks, at most
`webhook_concurrency_max` per endpoint and `webhook_requests_in_flight_max` HTTP requests overall.

Why one loop: a task per endpoint, each polling its own queue, held a Redis connection per endpoint
and ran the pool dry at 1,000 endpoints. Here Redis work does not grow with the endpoints: one read
(pipelined), one routing write, one ack write per loop turn; per-endpoint state lives in memory.

Isolation: an endpoint's deliveries only take its own slots (one at first and after a failed
attempt, one more per success: slow start, so a few events reuse one warm connection), so
a slow or failing endpoint does not delay others; a request waiting on a slow receiver holds one of
the overall slots at most `webhook_timeout_ms`, and retries wait for their backoff without one. A
failed attempt is retried after a jittered exponential backoff until the event's deadline, then
dead-lettered. Delivery is at-least-once: a queue entry is acked after the receiver answered 2xx
(or after dead-lettering), so a crash in between re-delivers with the same X-Podium-Event-Id; a
restarted worker (same consumer name) reads its pending entries first.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import certifi
import httpx
import orjson

from podium.breaker import CircuitBreaker
from podium.clock import Clock
from podium.config import BreakerSettings, NotificationSettings
from podium.errors import Unavailable
from podium.notify_webhooks import Endpoint, Routes, backoff_ms, delivery_headers
from podium.notify_webhooks_redis import Message, RedisWebhooks
from podium.tasks import cancel_and_wait

log = logging.getLogger("podium.notifications.delivery")
PENDING_FIRST = "0"      # a queue's first read: this consumer's entries left by a previous process
NEW = ">"


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


@dataclass
class _Lane:
    """One endpoint's deliveries in this process: entries read from its queue and not yet started
    (at most `webhook_concurrency_max`), the tasks delivering, and where its next read starts."""
    breaker: CircuitBreaker
    transport: httpx.AsyncHTTPTransport     # this endpoint's own connection pool (see `_endpoint_transport`)
    backlog: deque[Message] = field(default_factory=deque)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    read_from: str = PENDING_FIRST    # the last pending id read, until the pending entries are all read; then ">"
    maybe_more: bool = True           # routed to, or its last read was full: read it when it has a free slot
    # Deliveries it may have in flight: one at first and after a failed attempt, one more per
    # success up to `webhook_concurrency_max` (slow start). A few events reuse one warm keep-alive
    # connection instead of opening `webhook_concurrency_max` at once: a new connection costs the
    # worker more CPU than the request itself, and a failing endpoint gets one attempt at a time.
    window: int = 1
    target: tuple[str, httpx.URL] | None = None     # the endpoint's URL as last parsed (string, parsed)


class DeliveryWorker:
    def __init__(self, store: RedisWebhooks, settings: NotificationSettings, clock: Clock, consumer: str,
                 rng: random.Random | None = None) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.consumer = consumer
        self._tls = ssl.create_default_context(cafile=certifi.where())    # made once: costly per client
        self.rng = rng or random.Random()
        self.counters = DeliveryCounters()
        self.breakers: dict[str, CircuitBreaker] = {}
        self._endpoints: dict[str, Endpoint] = {}
        self._routes = Routes(())
        t_s = settings.webhook_timeout_ms / 1000
        self._timeout = {"timeout": {"connect": t_s, "read": t_s, "write": t_s, "pool": t_s}}   # httpx's request extension
        self._lanes: dict[str, _Lane] = {}
        self._scanned_ms: int | None = None      # when every lane's queue was last read (others enqueue too: replay)
        self._requests = asyncio.Semaphore(max(1, settings.webhook_requests_in_flight_max))
        self._acks: list[tuple[str, str]] = []
        self._wake = asyncio.Event()
        # The lanes a turn looks at: routed to, given entries, or with a delivery just finished (plus
        # every lane once per `webhook_poll_ms`), so a turn's work follows what changed, not the
        # number of endpoints (a turn follows every finished delivery).
        self._touched: set[str] = set()
        self._reread: set[str] = set()     # lanes whose pending entries were just read: their new ones next turn
        self._outbox_from = PENDING_FIRST     # this consumer's unacked outbox entries first, then new ones
        self._endpoints_fingerprint: bytes | None = None    # of the endpoints last read (store.endpoints_fingerprint)
        self._polled_ms: int | None = None    # when the lanes held back (breakers) were last looked at

    async def run(self, stop: asyncio.Event) -> None:
        """Route, read and start deliveries until `stop`; a loop turn follows a finished delivery or
        the poll interval, whichever comes first."""
        poll_s = self.settings.webhook_poll_ms / 1000
        turn_s = self.settings.webhook_turn_min_ms / 1000
        loop = asyncio.get_running_loop()
        try:
            while not stop.is_set():
                # Turns at most every `webhook_turn_min_ms`: each costs up to three Redis round
                # trips (poll, route, ack and read), and a turn per finished delivery (plus one more after each that found work)
                # was most of the worker's CPU per delivery when 1,000 endpoints get an event each
                # now and then; what finishes meanwhile is taken by the next turn together.
                started = loop.time()
                self._wake.clear()
                try:
                    busy = await self.route_once(stop)
                    busy += await self._read_due()
                    self._start_deliveries(stop)
                except Unavailable as exc:
                    log.warning("webhook delivery paused: %s", exc)
                    busy = 0
                if not busy:
                    await _wait_any(stop, self._wake, poll_s)
                rest = started + turn_s - loop.time()
                if rest > 0 and not stop.is_set():
                    await _sleep_unless(stop, rest)
        finally:
            await self._drain(self.settings.webhook_stop_drain_ms / 1000)
            for lane in self._lanes.values():
                for task in list(lane.tasks):
                    await cancel_and_wait(task)
                await lane.transport.aclose()
            self._lanes.clear()
            self._endpoints_fingerprint = None    # a next run() makes its lanes afresh
            try:
                await self._flush_acks()
            except Unavailable as exc:      # the entries stay pending: the next worker re-delivers them
                log.warning("webhook acks not written at stop: %s", exc)

    async def _drain(self, seconds: float) -> None:
        """At stop, let the attempts already sent finish (at most `seconds`), so their answers are
        counted and acked: a cancelled request may still have reached the receiver, and its event
        would be delivered again by the next worker. Deliveries waiting for a retry or a request
        slot end at once (`_deliver` checks `stop`); they stay pending for the next worker."""
        tasks = [t for lane in self._lanes.values() for t in lane.tasks]
        if tasks and seconds > 0:
            await asyncio.wait(tasks, timeout=seconds)

    def active_endpoints(self) -> set[str]:
        """The endpoints this worker is delivering to (registered ones are picked up on its next poll)."""
        return set(self._lanes)

    async def _refresh(self, fingerprint: bytes) -> None:
        """The endpoints as stored now; read and parsed again only when their digest changed (at
        1,000 endpoints a full read per routed batch cost more than routing it)."""
        if fingerprint == self._endpoints_fingerprint:
            return
        self._endpoints = {e.id: e for e in await self.store.endpoints()}
        self._routes = Routes(self._endpoints.values())
        self._endpoints_fingerprint = fingerprint
        for gone in set(self._lanes) - set(self._endpoints):
            lane = self._lanes.pop(gone)
            for task in list(lane.tasks):
                await cancel_and_wait(task)      # its entries stay in its (orphaned) queue
            await lane.transport.aclose()
        for ident in self._endpoints:
            if ident not in self._lanes:
                breaker = self.breakers.setdefault(ident, endpoint_breaker(ident, self.settings))
                self._lanes[ident] = _Lane(breaker, self._endpoint_transport())
                self._touched.add(ident)

    def _endpoint_transport(self) -> httpx.AsyncHTTPTransport:
        """Each endpoint has its own small pool (`webhook_concurrency_max` keep-alive connections):
        httpx's pool scans all its connections for every request it queues or finishes, so one
        shared pool of thousands of connections costs O(connections²) per delivery. Requests go
        straight to the transport: the client's layers (cookies, auth, redirects, event hooks) do
        nothing for a webhook and were a sixth of httpx's CPU per delivery."""
        n = max(1, self.settings.webhook_concurrency_max)
        # keep-alive for `webhook_keepalive_ms` (httpx: 5 s): an endpoint sent an event every few
        # seconds would otherwise pay a new connection for each (httpcore drops one the server closed)
        transport = httpx.AsyncHTTPTransport(verify=self._tls, limits=httpx.Limits(
            max_connections=n, max_keepalive_connections=n, keepalive_expiry=self.settings.webhook_keepalive_ms / 1000))
        return transport

    async def route_once(self, stop: asyncio.Event) -> int:
        """Copy one batch of the outbox into the queues of the endpoints that want it and ack it
        (one round trip to read, one MULTI to write). The endpoints' digest is read with the
        batch, after it, so an endpoint registered before a notification was written always
        receives it; every `webhook_poll_ms` the endpoints woken by replays are taken too."""
        now = self.clock.now_ms()
        poll = self._polled_ms is None or now - self._polled_ms >= self.settings.webhook_poll_ms
        try:
            batch, fingerprint, woken = await self.store.poll(
                self.consumer, self.settings.webhook_poll_batch_max, self._outbox_from,
                max(1, len(self._lanes)) if poll else 0)
        except Unavailable:
            self._outbox_from = PENDING_FIRST      # e.g. a lost stream: read from its start again
            raise
        if not batch and self._outbox_from == PENDING_FIRST:
            self._outbox_from = NEW
        await self._refresh(fingerprint)
        if poll:
            self._polled_ms = now
            self._touched.update(ident for ident, lane in self._lanes.items() if lane.backlog)   # held by a breaker
            for ident in woken:      # replays
                if (lane := self._lanes.get(ident)) is not None:
                    lane.maybe_more = True
                    self._touched.add(ident)
        items: list[tuple[str, bytes]] = []
        # No endpoint registered (a region with rules for inboxes only): the batch is acked unread,
        # not parsed (it was a tenth of a region's samples under ingest with rules)
        for message_id, fields in batch if self._endpoints else ():
            doc = fields.get(b"n", b"")
            try:
                note = orjson.loads(doc)
                kind, board = note["kind"], note["board"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                log.error("outbox entry %s is not a notification; skipped", message_id)   # never written by Podium
                continue
            items += [(ident, doc) for ident in self._routes(kind, board)]
        for ident, _ in items:
            self._lanes[ident].maybe_more = True
            self._touched.add(ident)
        try:
            await self.store.route(items, self.clock.now_ms(), [mid for mid, _ in batch])
            self.counters.routed += len(items)
        except Unavailable:
            self._outbox_from = PENDING_FIRST      # the batch stays pending: routed again (at least once)
            raise
        return len(batch)

    def _limit(self, lane: _Lane) -> int:
        return lane.window

    async def _read_due(self) -> int:
        """Write the acks of finished deliveries and read the queues of the endpoints that can
        start a delivery and have nothing read waiting, all in one round trip: those routed to or
        left with more, those a replay woke (taken by `route_once` every `webhook_poll_ms`), and
        every one once per `webhook_scan_ms` (a safety net: at 1,000 endpoints a read of every
        queue cost a pipeline of 1,000-2,000 commands, most of the worker's Redis time when done
        every 2 s). Returns how many entries were read (plus the lanes to read again next turn)."""
        now = self.clock.now_ms()
        scan = self._scanned_ms is None or now - self._scanned_ms >= self.settings.webhook_scan_ms
        if scan:
            self._scanned_ms = now
        candidates = self._lanes if scan else self._touched
        wanted = [ident for ident in candidates if (lane := self._lanes.get(ident)) is not None
                  and (scan or lane.maybe_more) and not lane.backlog and len(lane.tasks) < self._limit(lane)
                  and lane.breaker.allows_new(now)]
        reads = {ident: self._lanes[ident].read_from for ident in wanted}
        per_queue = max(1, self.settings.webhook_concurrency_max)
        acks, self._acks = self._acks, []
        try:
            got, acks_ok = await self.store.read_queues(reads, self.consumer, per_queue, acks)
        except Unavailable:
            self._acks = acks + self._acks     # tried again next turn
            raise
        if not acks_ok:
            self._acks = acks + self._acks
        for ident in reads.keys() - got.keys():     # no queue (never written to): nothing to read
            self._lanes[ident].maybe_more = False
        count = 0
        for ident, rows in got.items():
            lane = self._lanes[ident]
            lane.maybe_more = len(rows) == per_queue or lane.read_from != NEW
            if lane.read_from != NEW:
                lane.read_from = rows[-1][0] if rows else NEW
                # read again next turn: its pending entries are read, its new ones not yet (left
                # to the next full scan, a new lane's first events waited up to `webhook_scan_ms`)
                self._reread.add(ident)
                count += 1
            for message_id, fields in rows:
                if b"n" in fields and b"t" in fields:
                    lane.backlog.append((message_id, fields))
                    self._touched.add(ident)
                else:                       # deleted while pending (delivered by a previous process)
                    self._acks.append((ident, message_id))
            count += len(rows)
        return count

    def _start_deliveries(self, stop: asyncio.Event) -> None:
        """Start what the touched lanes can; a lane held back by its breaker keeps its backlog and is
        looked at again every `webhook_poll_ms` (or when one of its deliveries finishes)."""
        now = self.clock.now_ms()
        touched, self._touched = self._touched, self._reread
        self._reread = set()
        for ident in touched:
            lane = self._lanes.get(ident)
            if lane is None:
                continue
            while lane.backlog and len(lane.tasks) < self._limit(lane) and lane.breaker.allows_new(now):
                task = asyncio.create_task(self._deliver(ident, lane, lane.backlog.popleft(), stop),
                                           name=f"webhook {ident}")
                lane.tasks.add(task)
                task.add_done_callback(self._finished(ident, lane))
            if lane.maybe_more and not lane.backlog and len(lane.tasks) < self._limit(lane):
                # routed to while full, then a delivery finished during this turn's read: read it
                # next turn (dropped, it waited for the full scan with an entry in its queue)
                self._touched.add(ident)

    def _finished(self, ident: str, lane: _Lane) -> Callable[[asyncio.Task[None]], None]:
        def done(task: asyncio.Task[None]) -> None:
            lane.tasks.discard(task)
            self._touched.add(ident)
            if not task.cancelled() and task.exception() is not None:
                log.error("webhook delivery failed", exc_info=task.exception())
            self._wake.set()
        return done

    async def _flush_acks(self) -> None:
        acks, self._acks = self._acks, []
        try:
            await self.store.done_many(acks)
        except Unavailable:
            self._acks = acks + self._acks     # tried again next turn
            raise

    async def _deliver(self, ident: str, lane: _Lane, message: Message, stop: asyncio.Event) -> None:
        message_id, fields = message
        doc, enqueued_ms = fields[b"n"], int(fields[b"t"])
        event_id = orjson.loads(doc)["id"]
        s = self.settings
        attempt = 0
        while not stop.is_set():
            endpoint = self._endpoints.get(ident)
            if endpoint is None:
                return          # unregistered meanwhile: the entry stays in its (orphaned) queue
            async with self._requests:
                if stop.is_set():
                    return      # stopping: not sent, the entry stays pending for the next worker
                error = await self._attempt(lane, endpoint, event_id, doc)
            lane.breaker.record(error is None, self.clock.now_ms())
            lane.window = 1 if error is not None else min(lane.window + 1, max(1, self.settings.webhook_concurrency_max))
            if error is None:
                self._acks.append((ident, message_id))
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
                self._acks.append((ident, message_id))
                self.counters.dead_lettered += 1
                self.counters.dead_by_endpoint[ident] = self.counters.dead_by_endpoint.get(ident, 0) + 1
                return
            await _sleep_unless(stop, delay_ms / 1000)

    async def _attempt(self, lane: _Lane, endpoint: Endpoint, event_id: str, body: bytes) -> str | None:
        """None when the receiver took it (2xx), else why not."""
        if lane.target is None or lane.target[0] != endpoint.url:
            lane.target = (endpoint.url, httpx.URL(endpoint.url))     # parsed once per endpoint URL
        headers = delivery_headers(endpoint, event_id, body, self.clock.now_ms())
        request = httpx.Request("POST", lane.target[1], content=body, headers=headers, extensions=self._timeout)
        try:
            response = await lane.transport.handle_async_request(request)
            try:
                await response.aread()
            finally:
                await response.aclose()
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


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
