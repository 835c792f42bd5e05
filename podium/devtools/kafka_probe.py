"""Metadata questions a test harness asks a Kafka cluster (which brokers serve, who leads a
partition), asked with aiokafka's admin client from synchronous code."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from typing import Any, TypeVar

from aiokafka.admin import AIOKafkaAdminClient

PROBE_TIMEOUT_MS = 3000

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a thread of its own: callers may be inside an event loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def describe_cluster(bootstrap: str) -> tuple[set[int], int]:
    """The node ids of the brokers the metadata names, and the active controller's id (-1: none)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=PROBE_TIMEOUT_MS)
    try:
        await asyncio.wait_for(admin.start(), PROBE_TIMEOUT_MS / 1000)
        doc = await asyncio.wait_for(admin.describe_cluster(), PROBE_TIMEOUT_MS / 1000)
    finally:
        await admin.close()
    return {int(b["node_id"]) for b in doc["brokers"]}, int(doc["controller_id"])


async def partition_leader(bootstrap: str, topic: str, partition: int) -> int:
    """The node id leading `topic`'s `partition` (-1: none)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=PROBE_TIMEOUT_MS)
    try:
        await admin.start()
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    for p in described["partitions"]:
        if p["partition"] == partition:
            return int(p["leader"])
    return -1
