"""The event log's topics of one region, named from settings, and their creation at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from podium.config import Settings
from podium.errors import Unavailable

ADMIN_TIMEOUT_MS = 15_000


@dataclass(frozen=True, slots=True)
class StreamTopics:
    scores: str          # validated entries, keyed (so partitioned) by player id
    rank_changes: str    # applied entries with their new rank, for the subscription fan-out
    quarantine: str      # entries held back by anti-cheat
    replication: str     # applied changes for the global tier (the Redis change stream is the outbox)
    events: str = ""     # validated trending events, keyed by stream id (region/trending/sink_kafka.py)
    contest_feed: str = ""   # scored contest feed events, keyed by match id (region/contests/sink_kafka.py)

    @classmethod
    def of(cls, settings: Settings) -> StreamTopics:
        base = f"{settings.kafka.topic_prefix}.{settings.region}"
        return cls(f"{base}.scores", f"{base}.rank-changes", f"{base}.quarantine", f"{base}.replication",
                   f"{base}.events", f"{base}.contest-feed")

    def all(self) -> list[str]:
        """The scores pipeline's topics (the events topic is made by trending's sink when it is on)."""
        return [self.scores, self.rank_changes, self.quarantine, self.replication]


def partition_key(topic: str, partition: int) -> str:
    """How a partition is named in a board's offsets hash (`pb:{B}:off`)."""
    return f"{topic}:{partition}"


async def ensure_topics(bootstrap: str, topics: StreamTopics, partitions: int, replication_factor: int = 1) -> None:
    """Create every topic with `partitions` partitions unless it exists (its partition count is kept)."""
    await ensure_named_topics(bootstrap, topics.all(), partitions, replication_factor)


async def ensure_named_topics(bootstrap: str, names: list[str], partitions: int, replication_factor: int = 1) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=ADMIN_TIMEOUT_MS)
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [NewTopic(name, partitions, replication_factor) for name in names if name not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another process created them first
    except KafkaError as exc:
        raise Unavailable(f"cannot create the event-log topics on {bootstrap}: {exc}") from exc
    finally:
        await admin.close()
