"""The scores-topic wire format: version 2 records round-trip any valid entries in order (boards
mixed), version 1 records still decode, and the partition of a player matches Kafka's default
partitioner (the one the version 1 producer used, so a player's old and new records share it)."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st
from podium.region.stream.records import (
    decode_entry,
    decode_record,
    encode_entries,
    encode_entry,
    partition_of,
)

from podium.model import ScoreEntry

text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20)
entries_st = st.lists(st.builds(ScoreEntry, st.sampled_from(["b1", "b2", "ü-board"]), text,
                                st.integers(-(2**53), 2**53), st.integers(0, 2**47), text), min_size=1, max_size=60)


@given(entries_st)
def test_version_2_round_trips_every_entry_grouped_by_board_in_order(entries: list[ScoreEntry]) -> None:
    decoded = decode_record(encode_entries(entries))
    assert decoded is not None
    # grouped by board (first appearance), each board's entries in batch order
    boards = list(dict.fromkeys(e.board for e in entries))
    assert decoded == [e for b in boards for e in entries if e.board == b]


@given(entries_st)
def test_version_1_records_still_decode(entries: list[ScoreEntry]) -> None:
    for e in entries:
        key, value = encode_entry(e)
        assert key == e.player.encode()
        assert decode_record(value) == [e] and decode_entry(value) == e


@given(text, st.integers(1, 64))
def test_partition_of_matches_kafkas_default_partitioner(player: str, partitions: int) -> None:
    assert partition_of(player, partitions) == DefaultPartitioner()(player.encode(), list(range(partitions)), [])
