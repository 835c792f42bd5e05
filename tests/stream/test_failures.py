"""Failures over a real broker and real processes: a rebalance when a worker dies, a worker killed
mid-stream and restarted (0 lost, 0 double-counted on an increment board), a broker restart."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from podium.region.stream.records import decode_entry

from podium.devtools.kafka_server import KafkaServer
from podium.redis_server import RedisServer
from tests.region.helpers import create_board, entry, post_scores, top
from tests.stream.conftest import EXTERNAL_KAFKA, StreamRegion, stream_env, wait_until


class Poster:
    """Posts increment batches until stopped, retrying each until acknowledged; keeps the oracle of
    acknowledged entries only."""

    def __init__(self, base: str, board: str, players: int, batch: int, pause_s: float = 0.05) -> None:
        self.base, self.board, self.players, self.batch, self.pause_s = base, board, players, batch, pause_s
        self.oracle: dict[str, int] = {}
        self.acked_events: set[str] = set()
        self.batches_acked = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._n = 0
        self.error: BaseException | None = None
        self.last_failure = ""

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.post_one()
                time.sleep(self.pause_s)   # paced: the test waits on the worker catching up, not on load
        except BaseException as exc:  # noqa: BLE001 - surfaced to the test by acked()
            self.error = exc

    def acked(self, at_least: int) -> bool:
        """True once `at_least` batches are acknowledged; raises what stopped the poster thread."""
        if self.error is not None:
            raise AssertionError(f"the poster stopped: {self.error!r}")
        return self.batches_acked >= at_least

    def post_one(self) -> None:
        entries = []
        for _ in range(self.batch):
            self._n += 1
            entries.append(entry(self.board, f"p{self._n % self.players}", self._n % 7 + 1))
        while True:
            try:
                r = post_scores(self.base, {"entries": entries})
            except httpx.HTTPError as exc:
                r, self.last_failure = None, repr(exc)
            if r is not None and r.status_code == 200:
                assert {x["status"] for x in r.json()["results"]} == {"accepted"}, r.text
                break
            if r is not None:
                self.last_failure = f"{r.status_code} {r.text[:300]}"
            self.failures += 1
            time.sleep(0.1)
        for e in entries:
            self.oracle[e["player"]] = self.oracle.get(e["player"], 0) + e["score"]
            self.acked_events.add(e["event_id"])
        self.batches_acked += 1

    def start(self) -> Poster:
        self._thread.start()
        return self

    def stop(self) -> dict[str, int]:
        self._stop.set()
        self._thread.join(timeout=60)
        return dict(self.oracle)


def board_scores(base: str, board: str) -> dict[str, int]:
    return {x["player"]: x["score"] for x in top(base, board, 1000)}


def wait_equal(base: str, board: str, oracle: dict[str, int], timeout_s: float = 60) -> None:
    try:
        wait_until(lambda: board_scores(base, board) == oracle, timeout_s, 0.25)
    except AssertionError:
        got = board_scores(base, board)
        diff = {p: (got.get(p), v) for p, v in oracle.items() if got.get(p) != v}
        raise AssertionError(f"{len(diff)} players differ from the oracle (got, want): {dict(list(diff.items())[:10])}")


# noida-db 0.2.3's group coordinator never completes a rebalance once a second member joins (reproduced
# with two plain aiokafka consumers: both wait forever after the first member's partitions are revoked),
# so this runs only against a real Apache Kafka cluster (PODIUM_TEST_KAFKA).
@pytest.mark.skipif(not EXTERNAL_KAFKA, reason="needs PODIUM_TEST_KAFKA: the local broker cannot rebalance a group")
def test_two_workers_share_partitions_and_survive_one_killed(stream_region: Any) -> None:
    region = stream_region(workers=2)
    board = create_board(region.url, operator="increment")
    poster = Poster(region.url, board, players=200, batch=100).start()
    wait_until(lambda: poster.batches_acked >= 10, 30)
    wait_until(lambda: len(board_scores(region.url, board)) > 0, 30)
    region.workers[0].kill()                   # SIGKILL: the group notices after the session timeout
    wait_until(lambda: poster.batches_acked >= 30, 60)
    oracle = poster.stop()
    wait_equal(region.url, board, oracle, 60)
    assert region.workers[1].alive(), region.workers[1].output()


def test_worker_killed_mid_stream_and_restarted_equals_the_oracle(stream_region: Any) -> None:
    # a dedup window shorter than the restart: event ids cannot hide a double count, only offsets can
    region = stream_region(workers=1, PODIUM_INGEST__DEDUP_WINDOW_MS="300")
    board = create_board(region.url, operator="increment")
    poster = Poster(region.url, board, players=300, batch=300).start()
    for restart in range(2):
        wait_until(lambda: len(board_scores(region.url, board)) > 0, 30)
        time.sleep(0.7)
        region.workers[-1].kill()              # mid-stream, while micro-batches are being applied
        time.sleep(1.0)                        # the dedup window passes; acknowledged batches pile up
        if not EXTERNAL_KAFKA:
            # The local broker cannot hand a dead member's partitions to a new one (see the rebalance
            # test), so the restarted worker joins a fresh group: it replays the log from offset 0,
            # a stricter test, as every record already applied must be skipped by its stored offset.
            region.env["PODIUM_KAFKA__GROUP_ID"] = f"{region.env['PODIUM_KAFKA__TOPIC_PREFIX']}-g{restart}"
        region.add_worker()
    oracle = poster.stop()
    assert poster.batches_acked >= 5
    wait_equal(region.url, board, oracle, 90)


def log_contents(bootstrap: str, topic: str, board: str) -> tuple[dict[str, int], set[str]]:
    """Increment totals per player and the event ids of `board`'s records in the scores topic, each event once."""

    async def read() -> list[Any]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            tps = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or await _partitions(consumer, topic))]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends, records = await consumer.end_offsets(tps), []
            async def behind() -> bool:
                return any([await consumer.position(tp) < ends[tp] for tp in tps])

            while await behind():
                for batch in (await consumer.getmany(timeout_ms=1000)).values():
                    records.extend(batch)
            return records
        finally:
            await consumer.stop()

    totals: dict[str, int] = {}
    events: set[str] = set()
    for record in asyncio.run(read()):
        e = decode_entry(record.value)
        if e is None or e.board != board or e.event_id in events:
            continue
        events.add(e.event_id)
        totals[e.player] = totals.get(e.player, 0) + e.score
    return totals, events


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()
    return consumer.partitions_for_topic(topic) or set()


@pytest.mark.skipif(bool(EXTERNAL_KAFKA), reason="restarts its own local broker")
@pytest.mark.parametrize("down_s", [0.0, 3.0], ids=["restart", "outage-longer-than-produce-timeout"])
def test_broker_restart_applies_every_logged_score_once(
    redis_server: RedisServer, tmp_path: Path, down_s: float, capsys: pytest.CaptureFixture[str]
) -> None:
    """The producer and the running worker ride out a broker restart, and the board equals the log
    exactly (every record once). The local broker (noida-db) is a single node that persists its log
    on shutdown: under load it was seen to lose an acknowledged batch across a restart (all of its
    log applied, the batch absent from it). So this test's oracle is the log itself, and acknowledged
    events missing from the log are reported, not asserted; on a replicated cluster acks=all makes
    them the same (see the worker-crash test, which checks acknowledged batches against the board)."""
    broker = KafkaServer(tmp_path / "kafka").start()
    # a short produce timeout: during the outage batches fail (503, retried by the poster) and the
    # producer is replaced; the running worker rides the outage out
    env = stream_env(redis_server.url, broker.bootstrap, PODIUM_KAFKA__PRODUCE_TIMEOUT_MS="1500")
    region = StreamRegion(env)
    try:
        region.server.start()
        region.add_worker()
        board = create_board(region.url, operator="increment")
        poster = Poster(region.url, board, players=100, batch=200).start()
        wait_until(lambda: poster.acked(5), 30)
        wait_until(lambda: len(board_scores(region.url, board)) > 0, 60)   # the worker is applying
        broker.restart(down_s=down_s)
        acked_before = poster.batches_acked
        try:
            wait_until(lambda: poster.acked(acked_before + 5), 60)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last failure: {poster.last_failure}") from exc
        poster.stop()
        logged, events = log_contents(broker.bootstrap, f"{env['PODIUM_KAFKA__TOPIC_PREFIX']}.eu.scores", board)
        assert poster.acked_events - events != poster.acked_events, "the log holds none of the acknowledged events"
        try:
            wait_equal(region.url, board, logged, 90)
        except AssertionError as exc:
            logs = "\n".join(w.output() for w in region.workers)
            raise AssertionError(f"{exc}\nworker log:\n{logs}") from exc
        with capsys.disabled():
            lost = len(poster.acked_events - events)
            print(f"\n[broker restart, down {down_s}s] acknowledged events absent from the local broker's log: {lost}")
    finally:
        region.close()
        broker.stop()
