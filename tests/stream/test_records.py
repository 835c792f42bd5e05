"""The scores-topic wire format: version 2 records round-trip any valid entries in order (boards
mixed), version 1 records still decode, and the partition of a player matches Kafka's default
partitioner (the one the version 1 producer used, so a player's old and new records share it)."""

from __future__ import annotations

import json

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import example, given
from hypothesis import strategies as st
from podium.region.stream.records import (
    decode_entries,
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


def _fields(entries: list[ScoreEntry] | None) -> list[tuple[object, ...]] | None:
    if entries is None:
        return None
    return [(type(e.score), e.board, e.player, e.score, e.achieved_at_ms, e.event_id) for e in entries]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False) | text,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(text, inner, max_size=4), max_leaves=12)
# near-records: the right shape with any value in any place, a row of the wrong length, another version
rows = st.lists(st.one_of(
    st.tuples(text, st.integers(-(2**53), 2**53), st.integers(0, 2**47), text).map(list),
    st.lists(json_values, min_size=3, max_size=5)), max_size=6)
docs = st.fixed_dictionaries(
    {"v": st.one_of(st.just(2), st.just(2.0), json_values),
     "g": st.one_of(st.lists(st.tuples(st.one_of(text, json_values), rows).map(list), max_size=3), json_values)},
    optional={"x": json_values})


@given(st.one_of(docs.map(json.dumps), docs.map(lambda d: json.dumps(d, ensure_ascii=False)), json_values.map(json.dumps),
                 text.map(lambda t: '{"v": 2, "g": [["b", [["' + t + '", 1, 2, "e"]]]]}')).map(str.encode)
       | st.binary(max_size=40))
@example(b'{"v":2,"g":[["b",[["\\ud800",1,2,"e"]]]]}')   # an escaped lone surrogate
@example(b'{"v":2,"v":3,"g":[]}')                             # duplicate keys
@example(b'{"v":2,"g":[["b",[["p",1e3,2,"e"]]]]}')            # a float score
@example(b'{"v":2,"g":[["b",[["p",true,2,"e"]]]]}')           # a bool score
@example(b'{"v":2,"g":[["b",[["p",1,2,"e",5]]]]}')            # a row too long
@example(b'\xef\xbb\xbf{"v":2,"g":[]}')                         # a BOM
def test_the_workers_decoder_agrees_with_the_general_one(value: bytes) -> None:
    """Same entries (values and types) or the same drop, for any bytes and any near-record."""
    assert _fields(decode_entries(value)) == _fields(decode_record(value))


@given(entries_st)
def test_the_workers_decoder_reads_what_the_sink_writes(entries: list[ScoreEntry]) -> None:
    value = encode_entries(entries)
    assert _fields(decode_entries(value)) == _fields(decode_record(value)) and decode_record(value) is not None
