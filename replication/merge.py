"""Per-operator merge of regional entry states into one global entry: a state-based CRDT.

State of one (board, player) entry: for each region, the region's latest write, as a register
ordered by that region's own counter. Every write carries the version vector the region had seen
for this entry (its own counter included) and its achievement time. `merge` keeps, per region, the
write with the higher counter: a map of last-writer-wins registers, which is a join-semilattice, so
merge is commutative, associative and idempotent and any delivery order, duplicate or replay of
states or writes ends in the same state. The global value is then a pure function of the state:

- `best`: the best score over regions; ties by earlier achievement, then smaller region id.
- `increment` / `decrement`: each region's write holds that region's running total (its whole
  contribution), and the global total is their sum: a counter CRDT. Nothing is ever overwritten
  by another region, so a score is neither lost nor counted twice.
- `latest`: among regional writes, drop any whose vector is dominated by another's (causally
  superseded: the later write saw it, whatever the clocks say). If one remains it wins. If several
  remain they are concurrent and the documented application rule decides: later achievement time,
  then the better score, then the smaller region id. That case yields a `Conflict` record, which
  the caller counts in a metric and keeps in the admin conflict log; the record is derived from the
  state, so replays produce the same record (dedupe by `Conflict.key`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from podium.replication import vectors
from podium.replication.vectors import VersionVector

from podium.invariant import invariant
from podium.model import Operator, SortOrder
from podium.ranking import sort_key


@dataclass(frozen=True, slots=True)
class RegionalWrite:
    """One region's latest value of an entry. For counter boards `score` is the region's total."""

    region: str
    score: int
    achieved_at_ms: int
    vector: Mapping[str, int]

    @property
    def counter(self) -> int:
        return self.vector.get(self.region, 0)

    def check(self) -> None:
        invariant(self.counter > 0, "a regional write counts itself in its own vector")


EntryState = Mapping[str, RegionalWrite]  # region -> that region's latest write


@dataclass(frozen=True, slots=True)
class Resolved:
    score: int
    achieved_at_ms: int
    region: str | None   # the winning region; None for counters (every region contributes)
    vector: dict[str, int]


@dataclass(frozen=True, slots=True)
class Conflict:
    """Concurrent `latest` writes: who won by the application rule and who was set aside."""

    winner: RegionalWrite
    losers: tuple[RegionalWrite, ...]

    @property
    def key(self) -> str:
        """Stable across replays: the vectors of all writes involved."""
        parts = [vectors.encode(w.vector) for w in (self.winner, *self.losers)]
        return ".".join(sorted(parts))


def _newer(a: RegionalWrite, b: RegionalWrite | None) -> bool:
    # By the region's own counter. Equal counters with different values never come from a correct
    # region; comparing the values too keeps merge commutative even then.
    if b is None:
        return True
    return (a.counter, a.score, a.achieved_at_ms, vectors.encode(a.vector)) > (
        b.counter, b.score, b.achieved_at_ms, vectors.encode(b.vector))


def with_write(state: EntryState, write: RegionalWrite) -> dict[str, RegionalWrite]:
    write.check()
    if not _newer(write, state.get(write.region)):
        return dict(state)
    return {**state, write.region: write}


def merge(a: EntryState, b: EntryState) -> dict[str, RegionalWrite]:
    out = dict(a)
    for region, write in b.items():
        if _newer(write, out.get(region)):
            out[region] = write
    return out


def state_vector(state: EntryState) -> dict[str, int]:
    """What the merged state has seen: the join of every write's vector (for SESSION tokens)."""
    out: dict[str, int] = {}
    for w in state.values():
        out = vectors.merge(out, w.vector)
    return out


def _latest_key(w: RegionalWrite, order: SortOrder) -> tuple[int, int, str]:
    # Smaller sorts first = wins: later achievement, then better score, then smaller region id.
    better_first = -w.score if order is SortOrder.DESC else w.score
    return (-w.achieved_at_ms, better_first, w.region)


def frontier(state: EntryState) -> list[RegionalWrite]:
    """The writes not causally superseded by another write in the state."""
    ws = list(state.values())
    return [w for w in ws if not any(
        o is not w and vectors.compare(o.vector, w.vector) is vectors.Ordering.AFTER for o in ws)]


def resolve(op: Operator, order: SortOrder, state: EntryState) -> Resolved | None:
    """The global value of an entry under the board's operator (None for an empty state)."""
    if not state:
        return None
    vv = state_vector(state)
    ws = sorted(state.values(), key=lambda w: w.region)
    if op in (Operator.INCREMENT, Operator.DECREMENT):
        return Resolved(sum(w.score for w in ws), max(w.achieved_at_ms for w in ws), None, vv)
    if op is Operator.BEST:
        w = min(ws, key=lambda w: (sort_key(w.score, w.achieved_at_ms, w.region, order)))
    else:
        w = min(frontier(state), key=lambda w: _latest_key(w, order))
    return Resolved(w.score, w.achieved_at_ms, w.region, vv)


def conflict(op: Operator, order: SortOrder, state: EntryState) -> Conflict | None:
    """For `latest` boards: the concurrent writes the application rule had to decide, if any."""
    if op is not Operator.LATEST:
        return None
    live = sorted(frontier(state), key=lambda w: _latest_key(w, order))
    if len(live) < 2:
        return None
    return Conflict(live[0], tuple(live[1:]))


def dominates(state: EntryState, token: VersionVector) -> bool:
    """SESSION read-your-writes: the state satisfies a token iff its vector dominates it."""
    return vectors.dominates(state_vector(state), token)
