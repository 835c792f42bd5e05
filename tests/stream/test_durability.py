"""Durability on a 3-broker Apache Kafka cluster (replication factor 3, min.insync.replicas 2, the
region's producer idempotent with acks=all): SIGKILL the leader of a scores partition while batches are
being acknowledged; no acknowledged batch may be lost and none counted twice on an increment board."""

from __future__ import annotations

import time
from typing import Any

import pytest

from podium.devtools.kafka_broker import KafkaCluster
from tests.region.helpers import create_board
from tests.stream.conftest import say, wait_until
from tests.stream.poster import Poster, board_scores, tally, wait_equal


def test_leader_killed_while_acknowledging_loses_and_doubles_nothing(
    stream_region: Any, kafka_cluster: KafkaCluster, pytestconfig: pytest.Config
) -> None:
    region = stream_region(workers=1, bootstrap=kafka_cluster.bootstrap, PODIUM_KAFKA__REPLICATION_FACTOR="3")
    board = create_board(region.url, operator="increment")
    poster = Poster(region.url, board, players=200, batch=100, pause_s=0.02).start()
    poster.wait_acked(10)
    wait_until(lambda: len(board_scores(region.url, board)) > 0, 60)   # the worker is applying
    scores_topic = f"{region.env['PODIUM_KAFKA__TOPIC_PREFIX']}.eu.scores"
    leader = kafka_cluster.leader_of(scores_topic, 0)
    assert leader in {n.node_id for n in kafka_cluster.nodes}, leader
    acked_at_kill = poster.batches_acked
    killed_at = time.monotonic()
    kafka_cluster.stop_node(leader, kill=True)             # every batch spans every partition: all wait on it
    poster.wait_acked(acked_at_kill + 20, 120)
    recovered_s = poster.longest_ack_gap_s(killed_at)
    new_leader = kafka_cluster.leader_of(scores_topic, 0)
    assert new_leader not in (leader, -1), new_leader
    kafka_cluster.start_node(leader)                       # whole again for the next test; it rejoins as a follower
    poster.wait_acked(poster.batches_acked + 5, 60)
    oracle = poster.stop()
    try:
        wait_equal(region.url, board, oracle, 120)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nworker log:\n{region.workers[0].output()}") from exc
    counted = tally(board_scores(region.url, board), oracle)
    assert (counted.lost, counted.doubled) == (0, 0)
    say(pytestconfig, f"[leader kill -9, 3 brokers] {poster.batches_acked} batches acknowledged "
                      f"({acked_at_kill} before the kill), {counted}; node {leader} -> {new_leader} leads partition 0; "
                      f"no acknowledgement for {recovered_s:.1f}s; {poster.failures} posts retried")
