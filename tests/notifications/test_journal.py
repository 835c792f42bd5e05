"""The evaluation journal on a single Redis node and on a 3-node cluster (its keys share the outbox's
slot, so both MULTIs are legal there): a step's notifications are pending and its top is the board's
cursor until the outbox adds them, which clears exactly those from pending."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import orjson
import pytest
import redis.asyncio as aioredis
from hypothesis import given
from hypothesis import strategies as st
from podium.region.notifications.engine import NotificationEngine
from podium.region.notifications.inbox_sqlite import SqliteInbox
from podium.region.notifications.journal_redis import PENDING_KEY, Baseline, RedisJournal
from podium.region.notifications.outbox_redis import OUTBOX_KEY, RedisOutbox
from podium.region.notifications.publisher import InboxPublisher
from podium.region.wiring import build_region
from redis.asyncio.cluster import RedisCluster

from podium.model import RankedEntry
from podium.notify_rules import Notification, RuleKind
from podium.notify_rules_redis import RedisRules
from podium.redis_server import RedisServer
from tests.conftest import region_settings

pytestmark = pytest.mark.anyio


def note(i: int, board: str = "b") -> Notification:
    return Notification(f"top:p{i}:7.{i}", RuleKind.ENTERED_TOP_N, "top", board, f"p{i}", 1_000 + i, rank=i + 1,
                        by=("q",), count=i, extra={"season": 3})


async def test_a_step_is_pending_until_the_outbox_adds_it(any_redis: aioredis.Redis | RedisCluster) -> None:
    journal, outbox = RedisJournal(any_redis, 2), RedisOutbox(any_redis, 1_000)
    assert await journal.baseline("b") is None and await journal.pending() == []
    top = [RankedEntry(1, "p1", 90, 5), RankedEntry(2, "p0", 80, 6)]
    await journal.record("b", Baseline(10, frozenset({"top"}), top), [note(0), note(1), note(2)])
    await journal.record("c", Baseline(3, frozenset(), []), [note(0, "c")])   # same id, another board
    assert await journal.baseline("b") == Baseline(10, frozenset({"top"}), top)
    assert await journal.pending() == [note(0), note(0, "c"), note(1), note(2)]   # by (at_ms, id), HSCAN pages of 2

    await outbox.add([note(0), note(2)])
    assert await journal.pending() == [note(0, "c"), note(1)]
    assert await any_redis.xlen(OUTBOX_KEY) == 2
    assert [Notification.from_dict(orjson.loads(fields[b"n"])) for _, fields in await any_redis.xrange(OUTBOX_KEY)] \
        == [note(0), note(2)]                                                       # in the batch's order
    await journal.record("b", Baseline(10, frozenset({"top"}), top[:1]), [])        # a step with no notification
    assert (await journal.baseline("b") or Baseline(0, frozenset(), [])).entries == top[:1]
    assert await any_redis.hlen(PENDING_KEY) == 2


ids = st.text(min_size=1, max_size=8)
maybe_int = st.none() | st.integers(-(2**62), 2**62)


@given(ids, st.sampled_from(list(RuleKind)), ids, ids, ids, st.integers(0, 2**62), maybe_int, maybe_int, maybe_int,
       st.lists(ids, max_size=3), st.integers(0, 1000), st.dictionaries(ids, st.integers() | ids, max_size=3))
def test_to_dict_is_the_dataclass_and_round_trips(id_: str, kind: RuleKind, rule: str, board: str, player: str,
                                                   at_ms: int, rank: int | None, previous: int | None,
                                                   score: int | None, by: list[str], count: int,
                                                   extra: dict[str, object]) -> None:
    n = Notification(id_, kind, rule, board, player, at_ms, rank, previous, score, tuple(by), count, extra)
    d = n.to_dict()
    assert d == {**asdict(n), "kind": str(kind), "by": by}
    assert Notification.from_dict(d) == n


async def test_the_engine_adopts_pending_notifications_no_queue_holds(redis_server: RedisServer, tmp_path: Path) -> None:
    """A step journaled by a process that died (or a cancelled watch) is published once; not while
    a step is in flight or notifications wait (they would be queued twice)."""
    settings = region_settings(redis_server.url)
    redis = aioredis.Redis.from_url(redis_server.url)
    await redis.delete(OUTBOX_KEY, PENDING_KEY)
    svc = build_region(settings)
    await svc.open()
    store = SqliteInbox(tmp_path / "inbox.sqlite3", 100)
    await store.open()
    journal = RedisJournal(redis, 10)
    assert svc.fanout is not None
    engine = NotificationEngine(RedisRules(redis, 10), InboxPublisher(store, RedisOutbox(redis, 10_000)),
                                svc.fanout, settings.notifications, svc.clock, journal=journal)
    try:
        await journal.record("b", Baseline(5, frozenset(), []), [note(i) for i in range(3)])
        engine._recording = 1                               # a step between its MULTI and its queue
        await engine._adopt_pending()
        assert not engine.unpublished
        engine._recording = 0
        engine._queue([note(9)])                            # something waits: it may be pending too
        await engine._adopt_pending()
        assert list(engine.unpublished) == [note(9)]
        assert await engine._flush()
        await engine._adopt_pending()                       # nothing waits, nothing in flight: orphans
        assert await engine._flush() and engine.published == 4
        await engine._adopt_pending()
        assert not engine.unpublished and await journal.pending() == []
        stored = [i.notification.id for p in range(3) for i in (await store.page(f"p{p}", 10, None, False)).items]
        assert sorted(stored) == sorted(note(i).id for i in range(3))
        assert await redis.xlen(OUTBOX_KEY) == 4
    finally:
        await store.close()
        await svc.close()
        await redis.aclose()
