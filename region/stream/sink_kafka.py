"""ScoreSink adapter producing to the region's scores topic (idempotent producer, acks=all).

A batch becomes one record per partition it touches (`records.encode_entries`; a player's entries
always go to the partition Kafka's default partitioner gives the player id), split only past
`kafka.record_entries_max` entries or `kafka.record_bytes_max` bytes. It is acknowledged to the game
server only after the broker acknowledged every record of it; each entry's result is then `accepted`
with its record's partition and offset (entries of one record share them). With `wait`, the sink also
waits (bounded by `kafka.wait_timeout_ms_max`) until the worker applied those offsets and reports
the resulting rank."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import Any, cast

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from podium.region.rank_store_redis import RedisRankStore
from podium.region.stream.records import encode_entries, partition_of
from podium.region.stream.sink import ScoreSink
from podium.region.stream.tracing import current_headers

from podium.breaker import Breakers
from podium.config import Settings
from podium.errors import Unavailable
from podium.model import Board, EntryResult, EntryStatus, ScoreEntry
from podium.stream_topics import StreamTopics, ensure_topics, partition_key

EVENT_LOG_BREAKER = "event-log"


async def _acknowledged(futures: list[asyncio.Future[Any]], timeout_s: float) -> list[Any]:
    """The broker's acknowledgements of every record, or TimeoutError / the first record's
    KafkaError. Futures left behind (a timeout, or this call cancelled) have their outcome taken
    when it comes, so a failed record never reports an unretrieved exception."""
    for fut in futures:
        fut.add_done_callback(lambda f: f.cancelled() or f.exception())
    done, pending = await asyncio.wait(futures, timeout=timeout_s, return_when=asyncio.FIRST_EXCEPTION)
    for fut in done:
        if not fut.cancelled() and fut.exception() is not None:
            raise cast(BaseException, fut.exception())
    if pending:
        raise TimeoutError
    return [fut.result() for fut in futures]


class KafkaSink:
    def __init__(self, settings: Settings, store: RedisRankStore, breakers: Breakers | None = None) -> None:
        if not settings.kafka.bootstrap:
            raise ValueError("KafkaSink needs kafka.bootstrap (PODIUM_KAFKA__BOOTSTRAP)")
        self.settings = settings
        self.kafka = settings.kafka
        self.bootstrap: str = settings.kafka.bootstrap
        self.topics = StreamTopics.of(settings)
        self.store = store
        # the event log's breaker ("event-log"): while the broker does not acknowledge, batches fail
        # at once with 503 + Retry-After instead of each waiting out produce_timeout_ms
        self.breakers = breakers
        self._producer: AIOKafkaProducer | None = None
        # After a failed send the producer is replaced before the next batch: an idempotent producer
        # whose broker restarted can stay wedged (lost producer id / sequence state) for good.
        self._replace_producer = False
        self._replace_lock = asyncio.Lock()
        # producers given up on while the broker did not answer (their stop or start timed out or was
        # cut by the breaker): stopped for good at close(), so none is left holding its sockets
        self._abandoned: list[AIOKafkaProducer] = []
        self._stopping: list[asyncio.Future[None]] = []

    async def start(self) -> None:
        await ensure_topics(self.bootstrap, self.topics, self.kafka.scores_partitions, self.kafka.replication_factor)
        self._producer = await self._new_producer()

    async def _new_producer(self) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, enable_idempotence=True, acks="all",
            linger_ms=self.kafka.producer_linger_ms, max_batch_size=self.kafka.producer_batch_bytes_max,
            request_timeout_ms=self.kafka.produce_timeout_ms,
        )
        try:
            await producer.start()
        except KafkaError as exc:
            await producer.stop()
            raise Unavailable(f"the event log ({self.bootstrap}) is unreachable: {exc}") from exc
        except BaseException:
            self._abandoned.append(producer)   # cut short (the breaker's call timeout): closed at close()
            raise
        return producer

    async def _fresh_producer(self) -> AIOKafkaProducer:
        async with self._replace_lock:
            if self._replace_producer:
                old, self._producer = self._producer, None
                if old is not None:
                    # never cancelled half-way (a producer whose stop was cut keeps its sockets): a
                    # stop still waiting on the broker finishes on its own; close() waits for it
                    stop = asyncio.ensure_future(old.stop())
                    stop.add_done_callback(lambda f: f.cancelled() or f.exception())
                    self._stopping.append(stop)
                    await asyncio.wait({stop}, timeout=self.kafka.produce_timeout_ms / 1000)
                self._producer = await self._new_producer()  # raises Unavailable: retried next batch
                self._replace_producer = False
            if self._producer is None:
                raise Unavailable("the event log producer is not started")
            return self._producer

    async def close(self) -> None:
        producer, self._producer = self._producer, None
        abandoned, self._abandoned = self._abandoned, []
        stopping, self._stopping = [f for f in self._stopping if not f.done()], []
        if stopping:
            await asyncio.wait(stopping, timeout=self.kafka.produce_timeout_ms / 1000)
        for old in abandoned:
            with contextlib.suppress(TimeoutError, KafkaError):
                await asyncio.wait_for(old.stop(), self.kafka.produce_timeout_ms / 1000)
        if producer is not None:
            await producer.stop()

    async def put(
        self, boards: dict[str, Board], entries: Sequence[tuple[int, ScoreEntry]], now_ms: int, *, wait: bool = False
    ) -> dict[int, EntryResult]:
        results: dict[int, EntryResult] = {}
        if not entries:
            return results
        if self.breakers is None:
            sent, acks = await self._produce(entries)
        else:
            sent, acks = await self.breakers.call(EVENT_LOG_BREAKER, lambda: self._produce(entries),
                                                  timeout_ms=self.kafka.produce_timeout_ms, on_timeout=self._timed_out)
        for chunk, md in zip(sent, acks, strict=True):
            for i, _ in chunk:
                results[i] = EntryResult(i, EntryStatus.ACCEPTED, extra={"partition": md.partition, "offset": md.offset})
        if wait:
            await self._wait_ranked(boards, entries, results)
        return results

    def _timed_out(self) -> Unavailable:
        self._replace_producer = True
        return Unavailable("the event log did not acknowledge the batch in time; retry it")

    async def _produce(self, entries: Sequence[tuple[int, ScoreEntry]]) -> tuple[list[list[tuple[int, ScoreEntry]]], list[Any]]:
        """Every record of the batch, acknowledged by the broker: (the entries of each record, its metadata)."""
        producer = await self._fresh_producer()
        try:
            partitions = sorted(await producer.partitions_for(self.topics.scores))
            groups: dict[int, list[tuple[int, ScoreEntry]]] = {}
            for item in entries:
                groups.setdefault(partitions[partition_of(item[1].player, len(partitions))], []).append(item)
            futures, sent = [], []
            headers = current_headers() or None   # a traced request's context, for the worker's apply span
            for p, group in groups.items():
                for chunk, value in self._records(group):
                    futures.append(await producer.send(self.topics.scores, value, partition=p, headers=headers))
                    sent.append(chunk)
            acks = await _acknowledged(futures, self.kafka.produce_timeout_ms / 1000)
        except (TimeoutError, KafkaError) as exc:
            self._replace_producer = True
            # Some records may be on the log already: a retry is deduplicated by event id.
            raise Unavailable("the event log did not acknowledge the batch; retry it") from exc
        return sent, acks

    def _records(self, group: list[tuple[int, ScoreEntry]]) -> list[tuple[list[tuple[int, ScoreEntry]], bytes]]:
        """One partition's entries as records: cut every `record_entries_max` entries, and halved
        until each encoding fits `record_bytes_max` (a single entry always makes a record)."""
        n = self.kafka.record_entries_max
        pending = [group[i:i + n] for i in range(0, len(group), n)]
        out = []
        while pending:
            chunk = pending.pop(0)
            value = encode_entries([e for _, e in chunk])
            if len(value) > self.kafka.record_bytes_max and len(chunk) > 1:
                half = len(chunk) // 2
                pending[:0] = [chunk[:half], chunk[half:]]
                continue
            out.append((chunk, value))
        return out

    async def _wait_ranked(
        self, boards: dict[str, Board], entries: Sequence[tuple[int, ScoreEntry]], results: dict[int, EntryResult]
    ) -> None:
        """Waits until every (board, partition) stored an offset at or past this batch's, then reads ranks."""
        needed: dict[tuple[str, int], int] = {}
        for i, entry in entries:
            p, off = int(results[i].extra["partition"]), int(results[i].extra["offset"])  # type: ignore[call-overload]
            needed[(entry.board, p)] = max(off, needed.get((entry.board, p), -1))
        deadline = time.monotonic() + self.kafka.wait_timeout_ms_max / 1000
        while needed and time.monotonic() < deadline:
            for (board_id, p), off in list(needed.items()):
                stored = await self.store.applied_offset(boards[board_id], partition_key(self.topics.scores, p))
                if stored is not None and stored >= off:
                    del needed[(board_id, p)]
            if needed:
                await asyncio.sleep(self.kafka.wait_poll_ms / 1000)
        by_board: dict[str, list[tuple[int, ScoreEntry]]] = {}
        for i, entry in entries:
            by_board.setdefault(entry.board, []).append((i, entry))
        for board_id, group in by_board.items():
            ranked = await self.store.players(boards[board_id], [e.player for _, e in group])
            for (i, entry), row in zip(group, ranked, strict=True):
                done = (entry.board, results[i].extra["partition"]) not in needed
                results[i].extra["ranked"] = done
                if done and row is not None:
                    results[i].rank, results[i].score = row.rank, row.score


_: type[ScoreSink] = KafkaSink
