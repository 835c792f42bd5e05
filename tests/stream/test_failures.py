"""Failures over a real Apache Kafka broker and real processes: a rebalance when a worker dies, a worker
killed mid-stream and restarted in the same group, a broker restart. The oracle is always what the
game server was told (the acknowledgements): an increment board shows every loss and every double count."""

from __future__ import annotations

import time
from typing import Any

import pytest

from podium.devtools.kafka_broker import KafkaCluster
from tests.region.helpers import create_board
from tests.stream.conftest import EXTERNAL_KAFKA, say, wait_until
from tests.stream.poster import Poster, board_scores, tally, wait_equal


def test_two_workers_share_partitions_and_survive_one_killed(stream_region: Any, pytestconfig: pytest.Config) -> None:
    region = stream_region(workers=2)
    board = create_board(region.url, operator="increment")
    poster = Poster(region.url, board, players=200, batch=100).start()
    poster.wait_acked(10)
    wait_until(lambda: len(board_scores(region.url, board)) > 0, 60)
    region.workers[0].kill()                   # SIGKILL mid-batch: the group notices after the session timeout
    killed_at = time.monotonic()
    acked_at_kill = poster.batches_acked
    poster.wait_acked(acked_at_kill + 20)
    oracle = poster.stop()
    wait_equal(region.url, board, oracle, 90)
    caught_up_s = time.monotonic() - killed_at
    assert region.workers[1].alive(), region.workers[1].output()
    say(pytestconfig, f"[rebalance] {poster.batches_acked} batches acknowledged, {tally(board_scores(region.url, board), oracle)}; "
                      f"survivor caught up {caught_up_s:.1f}s after the kill")


def test_worker_killed_mid_stream_and_restarted_in_its_group_resumes(stream_region: Any, pytestconfig: pytest.Config) -> None:
    # a dedup window shorter than the restart: event ids cannot hide a double count, only offsets can
    region = stream_region(workers=1, PODIUM_INGEST__DEDUP_WINDOW_MS="300")
    board = create_board(region.url, operator="increment")
    poster = Poster(region.url, board, players=300, batch=100, pause_s=0.25).start()   # a backlog the worker clears
    session_s = int(region.env["PODIUM_KAFKA__SESSION_TIMEOUT_MS"]) / 1000
    resumed: list[float] = []
    for _ in range(2):
        wait_until(lambda: len(board_scores(region.url, board)) > 0, 60)
        time.sleep(0.7)
        region.workers[-1].kill()              # mid-stream, while micro-batches are being applied
        time.sleep(1.0)                        # the dedup window passes; acknowledged batches pile up
        before = dict(poster.oracle)           # acknowledged while no worker ran
        restarted_at = time.monotonic()
        region.add_worker()                    # the same consumer group: it takes over the dead member's partitions
        try:
            wait_until(lambda before=before: covers(board_scores(region.url, board), before), 120, 0.2)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nrestarted worker's log:\n{region.workers[-1].output()}") from exc
        resumed.append(time.monotonic() - restarted_at)
    oracle = poster.stop()
    assert poster.batches_acked >= 5
    wait_equal(region.url, board, oracle, 90)
    say(pytestconfig, f"[worker kill -9 + restart, same group] {poster.batches_acked} batches acknowledged, "
                      f"{tally(board_scores(region.url, board), oracle)}; caught up {', '.join(f'{s:.1f}s' for s in resumed)} "
                      f"after each restart (session timeout {session_s:.0f}s)")


def covers(got: dict[str, int], acknowledged: dict[str, int]) -> bool:
    """Every acknowledged increment is on the board (later ones may be too)."""
    return all(got.get(p, 0) >= v for p, v in acknowledged.items())


@pytest.mark.skipif(bool(EXTERNAL_KAFKA), reason="restarts the local broker")
@pytest.mark.parametrize(("kill", "down_s"), [(False, 0.0), (True, 3.0)], ids=["sigterm", "sigkill-down-3s"])
def test_broker_restart_loses_no_acknowledged_batch(
    stream_region: Any, kafka_broker: KafkaCluster, kill: bool, down_s: float, pytestconfig: pytest.Config
) -> None:
    """The session's broker is restarted (same ports, same log) under load. The producer and the running
    worker ride it out; the board must equal every batch the game server saw acknowledged, once."""
    # a short produce timeout: during the outage batches fail (503, retried by the poster)
    region = stream_region(workers=1, PODIUM_KAFKA__PRODUCE_TIMEOUT_MS="1500")
    board = create_board(region.url, operator="increment")
    poster = Poster(region.url, board, players=100, batch=200).start()
    poster.wait_acked(5)
    wait_until(lambda: len(board_scores(region.url, board)) > 0, 60)   # the worker is applying
    acked_before = poster.batches_acked
    stopped_at = time.monotonic()
    kafka_broker.restart(kill=kill, down_s=down_s)
    poster.wait_acked(acked_before + 5, 90)
    oracle = poster.stop()
    try:
        wait_equal(region.url, board, oracle, 90)
    except AssertionError as exc:
        logs = "\n".join(w.output() for w in region.workers)
        raise AssertionError(f"{exc}\nworker log:\n{logs}") from exc
    say(pytestconfig, f"[broker restart, {'SIGKILL' if kill else 'SIGTERM'}, down {down_s:.0f}s] "
                      f"{poster.batches_acked} batches acknowledged, {tally(board_scores(region.url, board), oracle)}; "
                      f"no acknowledgement for {poster.longest_ack_gap_s(stopped_at):.1f}s "
                      f"(broker back in {kafka_broker.startup_s:.1f}s)")
