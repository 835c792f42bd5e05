"""Replication over Kafka: a region in event-log mode ships its changes as signed records on the
global replication topic; the global tier consumes them. Real broker, real Redis, real processes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaProducer
from podium.replication.transport import REPLICATE_PATH

from podium.model import Board
from podium.redis_server import RedisServer
from podium.signing import signed_headers
from tests.region.helpers import create_board, entry, post_scores
from tests.stream.conftest import region_replicating_over_kafka, wait_until

SECRET = "replication-secret-for-tests"


def global_top(url: str, board: str) -> dict[str, int]:
    doc = httpx.post(f"{url}/graphql", json={
        "query": "query($b:String!){ leaderboard(board:$b, first:100){ edges { node { player score } } } }",
        "variables": {"b": board}}, timeout=5).json()
    if doc.get("errors"):
        return {}
    return {e["node"]["player"]: e["node"]["score"] for e in doc["data"]["leaderboard"]["edges"]}


async def produce_forged(bootstrap: str, topic: str, board: Board) -> None:
    """Two records on the region's partition that must be rejected without wedging it: one signed
    with the wrong secret, one whose path header is not even UTF-8."""
    body = orjson.dumps({"region": "eu", "board": board.to_dict(), "changes": [
        [board.id, board.season, "forger", 10**9, 1, 1 << 40]]})
    signed = signed_headers("eu", "not-the-secret", "POST", REPLICATE_PATH, int(time.time() * 1000), body)
    headers = [(k.lower(), v.encode()) for k, v in signed.items()]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for path in (REPLICATE_PATH.encode(), b"\xff/v1/replicate"):
            await producer.send_and_wait(topic, body, key=f"eu:{board.id}".encode(), headers=[("path", path), *headers])
    finally:
        await producer.stop()


def replication_log(url: str) -> dict[str, Any]:
    return httpx.get(f"{url}/v1/regions", timeout=5).json()["replication_log"]  # type: ignore[no-any-return]


def test_changes_reach_the_global_tier_over_kafka_and_forged_records_do_not(
    redis_server: RedisServer, kafka_bootstrap: str, tmp_path: Path
) -> None:
    replication = {"PODIUM_REPLICATION__SECRET": SECRET, "PODIUM_REPLICATION__TRANSPORT": "kafka",
                   "PODIUM_REPLICATION__SHIP_INTERVAL_MS": "50"}
    with (RedisServer(tmp_path / "global-redis", appendonly=False) as global_redis,
          region_replicating_over_kafka(redis_server.url, kafka_bootstrap, global_redis.url,
                                        **replication) as (region, global_node)):
        board = create_board(region.url, operator="best")
        oracle: dict[str, int] = {}

        def write(players: range, base: int) -> None:
            entries = [entry(board, f"p{i}", base + i) for i in players]
            assert post_scores(region.url, {"entries": entries}).status_code == 200
            for e in entries:
                oracle[e["player"]] = max(oracle.get(e["player"], 0), e["score"])

        write(range(20), 100)
        wait_until(lambda: global_top(global_node.url, board) == oracle, 60)

        # the global tier is down while the region keeps writing: the log holds the changes
        global_node.stop()
        write(range(10, 40), 300)
        global_node.start()                                  # on its port, from its env
        wait_until(lambda: global_top(global_node.url, board) == oracle, 60)

        # a record signed with the wrong secret is rejected, not merged; later records still are
        topic = f"{region.env['PODIUM_KAFKA__TOPIC_PREFIX']}.global.replication"
        asyncio.run(produce_forged(kafka_bootstrap, topic, Board.from_dict({"id": board, "operator": "best"})))
        write(range(40, 45), 500)
        wait_until(lambda: global_top(global_node.url, board) == oracle, 60)
        assert "forger" not in global_top(global_node.url, board)
        counts = replication_log(global_node.url)
        assert counts["rejected"] == 2 and counts["applied"] > 0, counts
