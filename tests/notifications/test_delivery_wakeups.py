"""No endpoint waits for the full scan: with `webhook_scan_ms` far beyond the test, every event
routed to an endpoint whose one delivery slot is busy (`webhook_concurrency_max=1`), while events
keep arriving and deliveries keep finishing during the loop's queue reads, is still delivered. A
lane dropped from the turn's lanes (a finished delivery touched it while the turn was reading)
waited for the full scan with an entry in its queue."""

from __future__ import annotations

import asyncio
import random

import pytest
import redis.asyncio as aioredis
from podium.region.notifications.inbox_redis import RedisInbox

from podium.clock import SystemClock
from podium.notify_delivery import DeliveryWorker
from podium.notify_webhooks import Endpoint
from podium.notify_webhooks_redis import RedisWebhooks

from .receiver import Receiver
from .test_delivery import FAST, SECRET, notes, until

pytestmark = pytest.mark.anyio
ENDPOINTS = 40
WAVES = 30


async def test_events_routed_to_busy_endpoints_are_delivered_without_the_full_scan(
    redis_single: aioredis.Redis,
) -> None:
    ids = [f"w{i}" for i in range(ENDPOINTS)]
    with Receiver(dict.fromkeys(ids, SECRET)) as rx:
        store = RedisWebhooks(redis_single, ENDPOINTS, 10_000, 10_000)
        for ident in ids:
            await store.put_endpoint(Endpoint(ident, rx.url(), SECRET))
        settings = FAST.model_copy(
            update={
                "webhook_scan_ms": 3_600_000,
                "webhook_concurrency_max": 1,
                "webhook_turn_min_ms": 0,
                "webhook_timeout_ms": 30_000,
            }
        )
        worker = DeliveryWorker(store, settings, SystemClock(), "c1", random.Random(7))
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        inbox = RedisInbox(redis_single, 50, 1000)
        for wave in range(WAVES):
            await inbox.publish(notes(wave + 1)[wave:])  # one new event per wave, for every endpoint
            await asyncio.sleep(random.Random(wave).uniform(0.0, 0.03))
        await until(lambda: worker.counters.delivered == WAVES * ENDPOINTS, seconds=30)
        stop.set()
        await task
    assert rx.accepted == {n.id: ENDPOINTS for n in notes(WAVES)}
