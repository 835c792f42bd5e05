"""Webhook delivery against a real local HTTP receiver and the real redis-server."""

from __future__ import annotations

import asyncio
import contextlib
import random

import pytest
import redis.asyncio as aioredis
from podium.region.notifications.inbox_redis import RedisInbox

from podium.clock import SystemClock
from podium.config import NotificationSettings
from podium.notify_delivery import DeliveryWorker
from podium.notify_rules import Notification, RuleKind
from podium.notify_webhooks import Endpoint
from podium.notify_webhooks_redis import RedisWebhooks

from .receiver import Receiver

pytestmark = pytest.mark.anyio
SECRET = "s" * 32
FAST = NotificationSettings(webhook_poll_ms=20, webhook_retry_base_ms=20, webhook_retry_ms_max=100,
                            webhook_deadline_ms=30_000, webhook_timeout_ms=2000, webhook_breaker_open_ms=200)


def notes(count: int, board: str = "b") -> list[Notification]:
    return [Notification(f"r:p{i}:{i}", RuleKind.ENTERED_TOP_N, "r", board, f"p{i}", 1, rank=1) for i in range(count)]


async def until(check: object, seconds: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def start(redis: aioredis.Redis, settings: NotificationSettings,
                consumer: str = "c1") -> tuple[DeliveryWorker, asyncio.Event, asyncio.Task[None]]:
    store = RedisWebhooks(redis, 100, 10_000, 10_000)
    worker = DeliveryWorker(store, settings, SystemClock(), consumer, random.Random(7))
    stop = asyncio.Event()
    return worker, stop, asyncio.create_task(worker.run(stop))


async def test_flaky_receiver_gets_exactly_one_success_per_event_and_signatures_verify(
        redis_single: aioredis.Redis) -> None:
    with Receiver({"flaky": SECRET, "wrongsecret": SECRET}, fail_first=2) as rx:
        store = RedisWebhooks(redis_single, 100, 10_000, 10_000)
        await store.put_endpoint(Endpoint("flaky", rx.url(), SECRET))
        await store.put_endpoint(Endpoint("other-board", rx.url(), SECRET, boards=("zzz",)))
        await RedisInbox(redis_single, 50, 1000).publish(notes(5))
        worker, stop, task = await start(redis_single, FAST)
        await until(lambda: len(rx.accepted) == 5)
        await asyncio.sleep(0.3)       # time for any wrong extra delivery to show up
        stop.set()
        await task
        assert rx.accepted == {n.id: 1 for n in notes(5)}
        assert all(rx.attempts[n.id] == 3 for n in notes(5))
        assert rx.bad_signatures == 0
        assert worker.counters.delivered == 5 and worker.counters.dead_lettered == 0
        assert await store.queued("flaky") == 0


async def test_a_tampered_signature_is_refused_by_the_receiver_check(redis_single: aioredis.Redis) -> None:
    """The receiver's verification can fail: an endpoint signing with another secret is refused."""
    with Receiver({"liar": "x" * 32}) as rx:
        store = RedisWebhooks(redis_single, 100, 10_000, 10_000)
        await store.put_endpoint(Endpoint("liar", rx.url(), SECRET))
        await RedisInbox(redis_single, 50, 1000).publish(notes(1))
        _, stop, task = await start(redis_single, FAST)
        await until(lambda: rx.bad_signatures >= 1)
        stop.set()
        await task
        assert not rx.accepted


async def test_dead_endpoint_dead_letters_and_replay_delivers(redis_single: aioredis.Redis) -> None:
    settings = FAST.model_copy(update={"webhook_deadline_ms": 300})
    with Receiver({"dead": SECRET}) as rx, Receiver({"healthy": SECRET}) as ok:
        rx.dead = True
        store = RedisWebhooks(redis_single, 100, 10_000, 10_000)
        await store.put_endpoint(Endpoint("dead", rx.url(), SECRET))
        await store.put_endpoint(Endpoint("healthy", ok.url(), SECRET))
        await RedisInbox(redis_single, 50, 1000).publish(notes(3))
        worker, stop, task = await start(redis_single, settings)
        await until(lambda: worker.counters.dead_lettered == 3 and len(ok.accepted) == 3)
        dead = await store.dead_letters(100)
        assert sorted(d["notification"]["id"] for d in dead) == sorted(n.id for n in notes(3))  # type: ignore[index]
        assert {d["endpoint"] for d in dead} == {"dead"}
        rx.dead = False
        for d in dead:
            await store.replay(str(d["id"]), SystemClock().now_ms())
        await until(lambda: len(rx.accepted) == 3)
        stop.set()
        await task
        assert await store.dead_letters(100) == []
        assert rx.accepted == {n.id: 1 for n in notes(3)}


async def test_worker_restart_loses_nothing(redis_single: aioredis.Redis) -> None:
    """Stop the worker while the receiver is down (events routed, none delivered); a new worker
    process (same consumer name) delivers every one of them."""
    with Receiver({"e": SECRET}) as rx:
        rx.dead = True
        store = RedisWebhooks(redis_single, 100, 10_000, 10_000)
        await store.put_endpoint(Endpoint("e", rx.url(), SECRET))
        await RedisInbox(redis_single, 50, 1000).publish(notes(4))
        worker, stop, task = await start(redis_single, FAST)
        await until(lambda: worker.counters.routed == 4 and sum(rx.attempts.values()) >= 4)
        stop.set()
        await task
        await RedisInbox(redis_single, 50, 1000).publish(notes(6)[4:])   # written while no worker runs
        rx.dead = False
        worker2, stop2, task2 = await start(redis_single, FAST)
        await until(lambda: len(rx.accepted) == 6)
        stop2.set()
        await task2
        assert rx.accepted == {n.id: 1 for n in notes(6)}
        assert worker.counters.delivered == 0 and worker2.counters.delivered == 6


async def test_a_stopping_worker_finishes_the_attempts_it_has_sent(redis_single: aioredis.Redis) -> None:
    """Stopped while the receiver holds its request, the worker waits for the answer, counts and
    acks it: a cancelled request may have reached the receiver, and the next worker would send the
    event again."""
    with Receiver({"e": SECRET}, hang_s=1.0) as rx:
        store = RedisWebhooks(redis_single, 100, 10_000, 10_000)
        await store.put_endpoint(Endpoint("e", rx.url(), SECRET))
        await RedisInbox(redis_single, 50, 1000).publish(notes(1))
        worker, stop, task = await start(redis_single, FAST.model_copy(update={"webhook_stop_drain_ms": 30_000}))
        await until(lambda: sum(rx.received.values()) == 1)
        stop.set()
        await task
        assert rx.accepted == {notes(1)[0].id: 1}
        assert worker.counters.delivered == 1
        assert await store.queued("e") == 0


async def test_a_hanging_endpoint_does_not_delay_a_healthy_one(redis_single: aioredis.Redis) -> None:
    settings = FAST.model_copy(update={"webhook_timeout_ms": 20_000})
    with Receiver({"slow": SECRET}, hang_s=15.0) as slow, Receiver({"fast": SECRET}) as fast:
        store = RedisWebhooks(redis_single, 100, 10_000, 10_000)
        await store.put_endpoint(Endpoint("slow", slow.url(), SECRET))
        await store.put_endpoint(Endpoint("fast", fast.url(), SECRET))
        await RedisInbox(redis_single, 50, 1000).publish(notes(20))
        worker, stop, task = await start(redis_single, settings)
        await until(lambda: len(fast.accepted) == 20)
        # every event reached the healthy endpoint while the slow one has not answered once
        assert not slow.accepted and worker.counters.by_endpoint.get("slow", 0) == 0
        stop.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_worker_recovers_when_redis_loses_its_streams(redis_single: aioredis.Redis) -> None:
    """FLUSHALL removes the outbox and its consumer group under a running worker: it makes them again."""
    with Receiver({"e": SECRET}) as rx:
        store = RedisWebhooks(redis_single, 100, 10_000, 10_000)
        await store.put_endpoint(Endpoint("e", rx.url(), SECRET))
        _, stop, task = await start(redis_single, FAST)
        await RedisInbox(redis_single, 50, 1000).publish(notes(1))
        await until(lambda: len(rx.accepted) == 1)
        await redis_single.flushall()
        await asyncio.sleep(0.5)                     # several polls: an idle worker writes nothing
        assert await redis_single.dbsize() == 0
        await store.put_endpoint(Endpoint("e", rx.url(), SECRET))
        await RedisInbox(redis_single, 50, 1000).publish(notes(3)[1:])
        await until(lambda: len(rx.accepted) == 3)
        stop.set()
        await task
