"""Many endpoints on a worker whose Redis pool has two connections: the worker's Redis work is
pipelined across endpoints (one read, one routing write, one ack write per loop turn), so it never
waits for a connection; a task per endpoint reading its own queue ran such a pool dry."""

from __future__ import annotations

import asyncio
import logging
import random

import pytest
import redis.asyncio as aioredis
from podium.region.notifications.inbox_redis import RedisInbox

from podium.clock import SystemClock
from podium.notify_delivery import DeliveryWorker
from podium.notify_webhooks import Endpoint
from podium.notify_webhooks_redis import RedisWebhooks
from podium.redis_client import connect
from podium.redis_server import RedisServer

from .receiver import Receiver
from .test_delivery import FAST, SECRET, notes, until

pytestmark = pytest.mark.anyio
ENDPOINTS = 150


async def test_many_endpoints_share_two_redis_connections(redis_single: aioredis.Redis, redis_server: RedisServer,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    ids = [f"e{i}" for i in range(ENDPOINTS)]
    with Receiver(dict.fromkeys(ids, SECRET)) as rx:
        small = connect(redis_server.url, connections_max=2)
        store = RedisWebhooks(small, ENDPOINTS, 10_000, 10_000)
        for ident in ids:
            await store.put_endpoint(Endpoint(ident, rx.url(), SECRET))
        # a generous attempt timeout: a retry after a timed-out attempt the receiver did take would
        # (rightly, at-least-once) deliver twice
        settings = FAST.model_copy(update={"webhook_timeout_ms": 30_000})
        worker = DeliveryWorker(store, settings, SystemClock(), "c1", random.Random(7))
        stop = asyncio.Event()
        with caplog.at_level(logging.WARNING, logger="podium.notifications.delivery"):
            task = asyncio.create_task(worker.run(stop))
            await RedisInbox(redis_single, 50, 1000).publish(notes(3))
            await until(lambda: sum(rx.accepted.values()) == 3 * ENDPOINTS)
            # the receiver counts before its answer reaches the worker: wait for the worker's count and acks
            await until(lambda: worker.counters.delivered == 3 * ENDPOINTS and not worker._acks)
            stop.set()
            await task
        queued = sum([await store.queued(i) for i in ids])
        await small.aclose()      # last use of `small`: a call after it opens a connection never closed
    assert rx.accepted == {n.id: ENDPOINTS for n in notes(3)}       # each event once per endpoint
    assert rx.bad_signatures == 0
    assert worker.counters.delivered == 3 * ENDPOINTS and worker.counters.dead_lettered == 0
    assert [r.getMessage() for r in caplog.records] == []            # never paused for want of a connection
    assert queued == 0
