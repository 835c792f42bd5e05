"""KafkaShipTransport against a real local broker of its own (so the test can stop it): a send
returns once the record is acknowledged, the record carries the HTTP wire body signed with the
replication secret, and a broker that is down is `Unavailable` (the shipper's backoff) until it is
back, when the same transport delivers again."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from podium.replication.changes import Change
from podium.replication.ship_kafka import KafkaShipTransport, replication_topic
from podium.replication.transport import REPLICATE_PATH, encode_batch

from podium.clock import SystemClock
from podium.config import Settings
from podium.devtools.kafka_broker import KafkaCluster
from podium.errors import PayloadTooLarge, Unavailable
from podium.model import Board
from podium.signing import verify

SECRET = "replication-secret-for-tests"


def settings_for(bootstrap: str) -> Settings:
    return Settings(region="eu", kafka={"bootstrap": bootstrap, "topic_prefix": f"ship{time.monotonic_ns() % 10**8}"},
                    replication={"secret": SECRET, "transport": "kafka", "request_timeout_ms": 1500})


async def read_all(bootstrap: str, topic: str, count: int) -> list[tuple[bytes, bytes, dict[str, str]]]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    try:
        records = []
        deadline = time.monotonic() + 10
        while len(records) < count and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records += [(r.key, r.value, {k: v.decode() for k, v in r.headers}) for r in batch]
        return records
    finally:
        await consumer.stop()


FEEDS = {"b1": [3 << 20, 1 << 20, 0]}


@pytest.mark.anyio
async def test_send_is_acknowledged_signed_and_unavailable_while_the_broker_is_down(tmp_path: Path) -> None:
    with KafkaCluster(tmp_path / "kafka") as broker:
        settings = settings_for(broker.bootstrap)
        clock = SystemClock()
        transport = KafkaShipTransport(settings, SECRET, clock)
        board = Board("b1")
        first = [Change("eu", "b1", 0, "p1", 10, 1, 1 << 20)]
        try:
            await transport.send("eu", board, first, FEEDS)
            await transport.heartbeat("eu", FEEDS)
            # over the producer's max_request_size (1 MiB): refused as too large, for the shipper to split
            huge = [Change("eu", "b1", 0, f"p{i:06d}", i, 1, 1 << 20) for i in range(60_000)]
            with pytest.raises(PayloadTooLarge):
                await transport.send("eu", board, huge, FEEDS)

            broker.stop()
            started = time.monotonic()
            with pytest.raises(Unavailable):
                await transport.send("eu", board, [Change("eu", "b1", 0, "p2", 20, 1, 2 << 20)], FEEDS)
            assert time.monotonic() - started < 10   # bounded by request_timeout_ms, not hung

            broker.start()
            second = [Change("eu", "b1", 0, "p3", 30, 1, 3 << 20)]
            await transport.send("eu", board, second, FEEDS)   # the shipper's retry, on a fresh producer
        finally:
            await transport.aclose()

        records = await read_all(broker.bootstrap, replication_topic(settings), 3)
    batches = [(key, value, headers) for key, value, headers in records if key == b"eu:b1"]
    # the batch that failed was never acknowledged; the shipper resends it (at-least-once)
    assert next(value for _, value, _ in batches) == encode_batch("eu", board, first, FEEDS)
    assert batches[-1][1] == encode_batch("eu", board, second, FEEDS)
    assert any(key == b"eu" for key, _, _ in records)   # the heartbeat, keyed by region alone
    for _, value, headers in batches:
        assert headers["path"] == REPLICATE_PATH
        assert verify(headers, "POST", REPLICATE_PATH, value, {"eu": SECRET}, clock.now_ms(), 60_000).key_id == "eu"


def test_kafka_transport_without_a_bootstrap_fails_fast() -> None:
    with pytest.raises(ValueError, match="kafka.bootstrap"):
        KafkaShipTransport(Settings(replication={"transport": "kafka"}), SECRET, SystemClock())
