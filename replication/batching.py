"""Cutting a board's unshipped change-stream entries into one request body below a byte budget
and a change count.

Pure. An entry of the change stream is one apply call (up to `ingest.batch_entries_max` changes);
whole entries are packed while they fit, so the acknowledged position can advance past them. An
entry too large on its own is sent in parts (`skip` = how many of its changes earlier parts
carried); the position advances only once its last part is acknowledged. A part always holds at
least one change, so every cut makes progress; one change over the budget is the caller's alarm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson
from podium.replication.changes import Change

from podium.invariant import invariant

SEPARATOR_BYTES = 1   # the comma between two encoded changes


@dataclass(frozen=True, slots=True)
class Cut:
    changes: list[Change]
    entries_done: int    # whole stream entries this body completes (acknowledge up to the last of them)
    skip_next: int       # changes of the next entry this body carries (0: none; a partial entry)
    size_bytes: int      # estimated encoded body size


def change_bytes(change: Change) -> int:
    return len(orjson.dumps(change.to_wire())) + SEPARATOR_BYTES


def cut(entries: Sequence[Sequence[Change]], skip: int, budget_bytes: int, overhead_bytes: int,
        changes_max: int | None = None) -> Cut:
    """Pack `entries` (in stream order; the first has `skip` changes shipped already) into a body
    of at most `budget_bytes` (the envelope costs `overhead_bytes`) and `changes_max` changes, or
    one change if even that does not fit. The count bounds how long the receiver works on one body
    (and so the lag of every change in it), but never splits an entry: the rest of the first entry
    always goes whole when its bytes fit (the receiver records an entry as merged once it has any
    of its changes, so a split entry would be reported merged early). The bytes bound what the
    receiver accepts at all: they alone cut inside an entry."""
    invariant(bool(entries), "cut needs at least one entry")
    invariant(0 <= skip < len(entries[0]), "skip lies within the first entry")
    invariant(changes_max is None or changes_max >= 1, "a body carries at least one change")
    count_max = len(entries[0]) + sum(len(e) for e in entries[1:]) if changes_max is None else changes_max
    size = overhead_bytes
    out: list[Change] = []
    for index, entry in enumerate(entries):
        rest = entry[skip:] if index == 0 else entry
        rest_bytes = sum(change_bytes(c) for c in rest)
        if size + rest_bytes <= budget_bytes and (not out or len(out) + len(rest) <= count_max):
            out += rest
            size += rest_bytes
            continue
        if out:
            return Cut(out, index, 0, size)
        # the first entry alone is over the byte budget: as many of its changes as fit, at least one
        taken = skip
        for change in rest:
            if out and size + change_bytes(change) > budget_bytes:
                break
            out.append(change)
            size += change_bytes(change)
            taken += 1
        if taken == len(entry):
            return Cut(out, 1, 0, size)
        return Cut(out, 0, taken, size)
    return Cut(out, len(entries), 0, size)


def coalesce(changes: Sequence[Change]) -> list[Change]:
    """The last change of each player, in stream order. A change is the entry's new *state* (for
    counters the region's running total), so an earlier change of the same player in the same
    body is superseded on arrival anyway (the global tier keeps the higher seq per region):
    dropping it changes no merged value and spares the receiver its work. During a backlog, when
    the same players are written again and again, this is most of the body."""
    last: dict[str, Change] = {}
    for change in changes:
        last.pop(change.player, None)   # re-insert: the dict keeps the order of last occurrences
        last[change.player] = change
    return list(last.values())
