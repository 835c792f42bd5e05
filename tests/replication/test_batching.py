"""Cutting a backlog into bodies below a byte budget and a change count: against the whole backlog,
the parts carry every change once, in order; each body fits the budget unless it is a single
change, and the count unless it is the rest of a single entry; the position to acknowledge only
advances past entries fully shipped."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from podium.replication.batching import coalesce, cut
from podium.replication.changes import Change
from podium.replication.regional_state import TOMBSTONE_TS, RegionalState, with_change
from podium.replication.transport import encode_batch

from podium.model import Board

BOARD = Board("arena")
FEEDS = {"arena": [2**60, 2**60, 2**60]}
OVERHEAD = len(encode_batch("us-east", BOARD, [], FEEDS)) + 256


def entries_of(sizes: list[list[int]]) -> list[list[Change]]:
    out, n = [], 0
    for entry_no, entry in enumerate(sizes):
        row = []
        for name_len in entry:
            row.append(Change("us-east", "arena", 0, f"{n:x}".rjust(name_len, "p"), n * 7, 1_700_000_000_000, entry_no))
            n += 1
        out.append(row)
    return out


@given(sizes=st.lists(st.lists(st.integers(1, 120), min_size=1, max_size=12), min_size=1, max_size=15),
       budget=st.integers(OVERHEAD, OVERHEAD + 3000), changes_max=st.none() | st.integers(1, 20))
def test_cuts_cover_the_backlog_in_order_within_budget(sizes: list[list[int]], budget: int,
                                                       changes_max: int | None) -> None:
    entries = entries_of(sizes)
    sent: list[Change] = []
    position, skip, rounds = 0, 0, 0
    while position < len(entries):
        rounds += 1
        assert rounds <= sum(len(e) for e in entries), "every cut makes progress"
        part = cut(entries[position:], skip, budget, OVERHEAD, changes_max)
        body = encode_batch("us-east", BOARD, part.changes, FEEDS)
        assert len(body) <= part.size_bytes
        assert part.size_bytes <= budget or len(part.changes) == 1
        # over the count only with the rest of a single entry, never cut by the count
        assert changes_max is None or len(part.changes) <= changes_max or (
            part.entries_done <= 1 and len(part.changes) <= len(entries[position]) - skip)
        sent += part.changes
        position += part.entries_done
        skip = part.skip_next
        assert part.entries_done == 0 or skip == 0
    assert sent == [c for e in entries for c in e]


@given(rows=st.lists(st.tuples(st.integers(0, 6), st.integers(-50, 50), st.booleans()), max_size=60))
def test_coalescing_a_body_changes_no_merged_state(rows: list[tuple[int, int, bool]]) -> None:
    """Merging the coalesced body gives the same per-region state as merging every change: only
    each player's last change is kept, nothing else is dropped, and the order is stream order."""
    changes = [Change("us-east", "arena", 0, f"p{player}", 0 if removed else score, 1000 + seq, seq, removed=removed)
               for seq, (player, score, removed) in enumerate(rows, start=1)]
    kept = coalesce(changes)
    full: dict[str, RegionalState] = {}
    for c in changes:
        full[c.player] = with_change(full.get(c.player, {}), c.region, c.score, TOMBSTONE_TS if c.removed else
                                     c.achieved_at_ms, c.seq)
    short: dict[str, RegionalState] = {}
    for c in kept:
        short[c.player] = with_change(short.get(c.player, {}), c.region, c.score, TOMBSTONE_TS if c.removed else
                                      c.achieved_at_ms, c.seq)
    assert short == full
    assert len(kept) == len({c.player for c in changes})
    assert [c.seq for c in kept] == sorted(c.seq for c in kept)
