"""Nothing evaluated is lost while the inbox store fails: the engine keeps the notifications it
could not store, retries them (backing off), and stops evaluating while `evaluate_queue_max` wait;
once the store answers, every notification is stored once and reaches the outbox."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from podium.region.notifications.engine import NotificationEngine
from podium.region.notifications.inbox_sqlite import SqliteInbox
from podium.region.notifications.outbox_redis import OUTBOX_KEY, RedisOutbox
from podium.region.notifications.publisher import InboxPublisher
from podium.region.wiring import build_region

from podium.notify_rules import Notification, RuleKind
from podium.notify_rules_redis import RedisRules
from podium.redis_server import RedisServer
from tests.conftest import region_settings

pytestmark = pytest.mark.anyio
WITHIN_S = 30.0


def note(i: int) -> Notification:
    return Notification(f"r:p{i % 4}:{i}", RuleKind.THRESHOLD, "r", "b", f"p{i % 4}", 1_000 + i, score=i)


async def until(check: object, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WITHIN_S
    while not check():  # type: ignore[operator]
        assert loop.time() < deadline, what
        await asyncio.sleep(0.01)


async def test_a_failing_inbox_is_retried_and_nothing_is_dropped(redis_server: RedisServer, tmp_path: Path) -> None:
    settings = region_settings(redis_server.url, notifications={"evaluate_queue_max": 5, "inbox_write_batch_max": 3,
                                                               "inbox_retry_ms_max": 50})
    redis = aioredis.Redis.from_url(redis_server.url)
    await redis.delete(OUTBOX_KEY)
    svc = build_region(settings)
    await svc.open()
    store = SqliteInbox(tmp_path / "inbox.sqlite3", 100)      # not open: every write is refused (Unavailable)
    assert svc.fanout is not None
    engine = NotificationEngine(RedisRules(redis, 10), InboxPublisher(store, RedisOutbox(redis, 10_000)),
                                svc.fanout, settings.notifications, svc.clock)
    try:
        engine._queue([note(i) for i in range(12)])
        waiting = asyncio.create_task(engine._flush_with_backpressure())
        await until(lambda: engine.publish_failures >= 3, "the engine retries the failing store")
        assert not waiting.done() and len(engine.unpublished) == 12      # evaluation waits; nothing dropped
        await store.open()
        await asyncio.wait_for(waiting, WITHIN_S)
        assert engine.published == 12 and not engine.unpublished

        await store.close()                                  # the store goes away again, below the bound
        engine._queue([note(i) for i in range(12, 14)])
        await asyncio.wait_for(engine._flush_with_backpressure(), WITHIN_S)   # evaluation goes on ...
        assert len(engine.unpublished) == 2                  # ... and the two wait for the store
        await store.open()
        assert await engine._flush() and engine.published == 14

        stored = {i.notification.id for p in range(4) for i in (await store.page(f"p{p}", 100, None, False)).items}
        assert stored == {note(i).id for i in range(14)}
        assert await redis.xlen(OUTBOX_KEY) == 14            # each once: a refused write reached no outbox
    finally:
        await store.close()
        await svc.close()
        await redis.aclose()
