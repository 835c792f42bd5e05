"""The ScoreSink contract, run against both adapters: a result for every valid entry and only for
those; DirectSink's are final, KafkaSink's are `accepted` with a partition and an offset."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from podium.region.rank_store_redis import RedisRankStore
from podium.region.stream.sink import DirectSink, ScoreSink
from podium.region.stream.sink_kafka import KafkaSink

from podium.config import Settings
from podium.errors import Unavailable
from podium.model import Board, EntryStatus, Operator, ScoreEntry
from podium.redis_server import RedisServer, free_port

pytestmark = pytest.mark.anyio
T0 = 1_700_000_000_000


@pytest.fixture(params=["direct", "kafka"])
async def sink(request: pytest.FixtureRequest, redis_server: RedisServer) -> AsyncIterator[tuple[str, ScoreSink]]:
    redis = aioredis.Redis.from_url(redis_server.url)
    store = RedisRankStore(redis)
    adapter: ScoreSink
    if request.param == "direct":
        adapter = DirectSink(store, "eu")
    else:
        bootstrap = request.getfixturevalue("kafka_bootstrap")
        adapter = KafkaSink(Settings(region="eu", kafka={"bootstrap": bootstrap, "topic_prefix": f"c{free_port()}"}), store)
    await adapter.start()
    yield request.param, adapter
    await adapter.close()
    await redis.aclose()


async def test_a_result_per_valid_entry(sink: tuple[str, ScoreSink]) -> None:
    kind, adapter = sink
    board = Board(f"contract-{kind}-{free_port()}", operator=Operator.INCREMENT)
    entries = [(i * 2, ScoreEntry(board.id, f"p{i}", 10 + i, T0, f"e{i}")) for i in range(5)]
    results = await adapter.put({board.id: board}, entries, T0)
    assert sorted(results) == [i for i, _ in entries]
    for i, _ in entries:
        r: Any = results[i]
        assert r.index == i
        if kind == "direct":
            assert r.status is EntryStatus.APPLIED and r.rank is not None
        else:
            assert r.status is EntryStatus.ACCEPTED and r.extra["offset"] >= 0 and r.extra["partition"] >= 0
    assert await adapter.put({board.id: board}, [], T0) == {}


async def test_kafka_sink_refuses_to_start_without_a_broker(redis_server: RedisServer) -> None:
    redis = aioredis.Redis.from_url(redis_server.url)
    sink = KafkaSink(Settings(kafka={"bootstrap": f"127.0.0.1:{free_port()}"}), RedisRankStore(redis))
    with pytest.raises(Unavailable):
        await sink.start()
    await redis.aclose()
