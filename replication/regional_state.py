"""The state of one entry across regions, and how it resolves into the global value.

State: {region: (score, achieved_at_ms, seq)}: each region's latest value of the entry, ordered by
the region's own sequence. Merging keeps, per region, the higher seq: a per-region last-writer-wins
register, so merge is commutative, associative and idempotent whatever the delivery order.
"""

from __future__ import annotations

from podium.model import Operator, SortOrder
from podium.ranking import is_better

RegionalState = dict[str, tuple[int, int, int]]
# A region that removed the entry (delete, ban) keeps a tombstone (0, TOMBSTONE_TS, seq): its seq
# still orders later writes, and `resolve` leaves the region out. Real achievement times are >= 0.
TOMBSTONE_TS = -1


def live(state: RegionalState) -> RegionalState:
    """The regions that hold the entry (tombstones left out). Without a tombstone that is `state`
    itself, not a copy (the global merge resolves every changed entry twice: no dict for nothing);
    callers only read it."""
    for value in state.values():
        if value[1] == TOMBSTONE_TS:
            return {r: v for r, v in state.items() if v[1] != TOMBSTONE_TS}
    return state


def _newer(value: tuple[int, int, int], current: tuple[int, int, int] | None) -> bool:
    # By sequence; equal sequences (never produced by one region) fall back to the value itself,
    # so the merge stays commutative even on corrupted input.
    return current is None or (value[2], value[0], value[1]) > (current[2], current[0], current[1])


def with_change(state: RegionalState, region: str, score: int, achieved_at_ms: int, seq: int) -> RegionalState:
    value = (score, achieved_at_ms, seq)
    if not _newer(value, state.get(region)):
        return state
    return {**state, region: value}


def merge_states(a: RegionalState, b: RegionalState) -> RegionalState:
    out = dict(a)
    for region, value in b.items():
        if _newer(value, out.get(region)):
            out[region] = value
    return out


def resolve(op: Operator, order: SortOrder, state: RegionalState) -> tuple[int, int] | None:
    """The global (score, achieved_at_ms) of an entry, per the board's operator (None: no region holds it)."""
    state = live(state)
    if not state:
        return None
    if len(state) == 1:   # most entries are held in one region: its value, whatever the operator
        (only,) = state.values()
        return only[0], only[1]
    if op in (Operator.INCREMENT, Operator.DECREMENT):
        # counter CRDT: each region's running total is its contribution; they add up
        return sum(v[0] for v in state.values()), max(v[1] for v in state.values())
    items = sorted(state.items())  # region id order for deterministic ties
    best = items[0][1]
    for _region, value in items[1:]:
        if op is Operator.BEST:
            better = is_better(value[0], best[0], order) or (value[0] == best[0] and value[1] < best[1])
        else:  # LATEST: last writer by achievement time; then higher score; then region id
            better = value[1] > best[1] or (value[1] == best[1] and value[0] > best[0])
        if better:
            best = value
    return best[0], best[1]


def winner(op: Operator, order: SortOrder, state: RegionalState) -> str | None:
    """The region whose value is the global one (None for counters: every region contributes)."""
    state = live(state)
    if not state or op in (Operator.INCREMENT, Operator.DECREMENT):
        return None
    value = resolve(op, order, state)
    return min(r for r, v in state.items() if value == (v[0], v[1]))
