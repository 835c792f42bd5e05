"""Evaluate rules on one change of a board (pure): previous entries, new entries, `now` and a tick.

The inputs are two views of the same board keyed by player: the fan-out's previous and new top
slice on a tick. A player absent from a view is ranked below it (or unranked). Only `overtaken`
keeps state between calls (`Coalescer`): the per-player window and the passes waiting in it.

Coalescing, exactly: a player gets at most one `overtaken` per rule per `window_ms`. Passes inside
the window are held and delivered, merged (`count` = passes it stands for, `by` = the first
`by_max` overtakers), by the first evaluation at or after the window's end. Nothing is dropped
except by the cap: a pass is notified only if the passed player's previous rank is within the
rule's top-`n`, or within `near_ranks` of the overtaker's new rank; other passes are counted in
`Evaluation.suppressed` and not notified.
"""

from __future__ import annotations

import bisect
import heapq
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from podium.model import RankedEntry
from podium.notify_passes import Passes
from podium.notify_rules import Metric, Notification, Rule, RuleKind

Board = Mapping[str, RankedEntry]
# events of the apply path and of the season clock, evaluated by a region; every other kind is a
# change of the top, which either tier evaluates from its fan-out's diffs
EVENT_KINDS = (RuleKind.QUARANTINED, RuleKind.BOARD_ENDED, RuleKind.BOARD_ENDING, RuleKind.CONTEST_LOCKING)
TOP_KINDS = tuple(k for k in RuleKind if k not in EVENT_KINDS)


@dataclass
class _Held:
    first_ms: int
    by: list[str] = field(default_factory=list)
    count: int = 0
    previous_rank: int | None = None
    due_ms: int | None = None      # the window end already on the rule's `due` heap


class Coalescer:
    """Per (rule, player): when the last `overtaken` went out, and passes held since. Bounded:
    beyond `players_max` the oldest player is forgotten (its held passes are sent at once).
    `due` is each rule's heap of (window end, player) for held passes, so finding what is due costs
    what is due, not every held player (entries made stale by a send are skipped when popped)."""

    def __init__(self, players_max: int, by_max: int) -> None:
        self.players_max = max(1, players_max)
        self.by_max = max(1, by_max)
        self.last_sent_ms: OrderedDict[tuple[str, str], int] = OrderedDict()
        self.held: dict[tuple[str, str], _Held] = {}
        self.due: dict[str, list[tuple[int, str]]] = {}
        self.dirty: set[tuple[str, str]] = set()    # (rule, player) whose held passes changed (for a journal)

    def take_dirty(self) -> dict[tuple[str, str], dict[str, object] | None]:
        """What changed in the held passes since the last call: each (rule, player) with its held
        passes as a document, or None when they were sent."""
        out = {k: self.held_doc(k) for k in self.dirty}
        self.dirty = set()
        return out

    def held_doc(self, key: tuple[str, str]) -> dict[str, object] | None:
        held = self.held.get(key)
        if held is None:
            return None
        return {"first_ms": held.first_ms, "by": held.by, "count": held.count, "previous_rank": held.previous_rank,
                "due_ms": held.due_ms, "last_sent_ms": self.last_sent_ms.get(key)}

    def restore(self, rule_id: str, player: str, doc: dict[str, Any], now_ms: int) -> None:
        """Held passes a journal kept (a previous process's): held again, due at their window's end."""
        key = (rule_id, player)
        if key in self.held:
            return
        self.held[key] = _Held(doc["first_ms"], list(doc["by"]), doc["count"], doc["previous_rank"], doc["due_ms"])
        if doc.get("last_sent_ms") is not None:
            self.last_sent_ms[key] = doc["last_sent_ms"]
        self.hold_until(rule_id, player, doc["due_ms"] if doc["due_ms"] is not None else now_ms)

    def held_count(self) -> int:
        return sum(h.count for h in self.held.values())

    def hold_until(self, rule_id: str, player: str, due_ms: int) -> None:
        heapq.heappush(self.due.setdefault(rule_id, []), (due_ms, player))

    def pop_due(self, rule: Rule, now_ms: int) -> set[str]:
        heap = self.due.get(rule.id)
        out: set[str] = set()
        while heap and heap[0][0] <= now_ms:
            _, player = heapq.heappop(heap)
            key = (rule.id, player)
            if key not in self.held:
                continue
            if now_ms >= self.last_sent_ms.get(key, 0) + rule.window_ms:
                out.add(player)
            else:
                due_ms = self.held[key].due_ms = self.last_sent_ms[key] + rule.window_ms
                self.hold_until(rule.id, player, due_ms)
        if heap is not None and not heap:
            del self.due[rule.id]
        return out


@dataclass
class Evaluation:
    notifications: list[Notification] = field(default_factory=list)
    suppressed: int = 0          # overtaken passes outside the cap (not notified, counted)
    coalesced: int = 0           # overtaken passes held for a later, merged notification


def overtaken_counts(rule: Rule, passes: Passes) -> tuple[list[tuple[str, int, list[str] | None]], int]:
    """Per passed player within the cap, in new-rank order: (player, passes, the overtakers when the
    cap kept only those near, else None: all count, and `passes.head` names them when asked); and
    how many passes the cap left out. Counted, not enumerated (see `passes`)."""
    out: list[tuple[str, int, list[str] | None]] = []
    capped = 0
    for player, total in passes.total.items():
        previous = passes.before[player].rank
        if previous <= rule.n:
            out.append((player, total, None))
            continue
        near = passes.near(passes.after[player], previous, rule.near_ranks)
        capped += total - len(near)
        if near:
            out.append((player, len(near), near))
    return out, capped


def _crossed(rule: Rule, before: RankedEntry | None, after: RankedEntry | None) -> bool:
    if after is None:
        return False
    if rule.metric is Metric.SCORE:
        return after.score >= rule.value and (before is None or before.score < rule.value)
    return after.rank <= rule.value and (before is None or before.rank > rule.value)


def _top(order: list[RankedEntry], n: int) -> list[RankedEntry]:
    """The entries of a rank-ordered view ranked `n` or better."""
    return order[:bisect.bisect_right(order, n, key=lambda e: e.rank)]


def _simple(rule: Rule, before: Board, after: Board, orders: tuple[list[RankedEntry], list[RankedEntry]],
            now_ms: int, tick: int | str) -> Iterable[Notification]:
    """`orders`: both views in rank order, so a top-n rule reads the top n, not the slice."""
    def note(player: str, a: RankedEntry | None, b: RankedEntry | None) -> Notification:
        return Notification(f"{rule.id}:{player}:{tick}", rule.kind, rule.id, rule.board, player, now_ms,
                            a.rank if a else None, b.rank if b else None, a.score if a else None)

    before_order, after_order = orders
    if rule.kind is RuleKind.LEFT_TOP_N:
        for was in _top(before_order, rule.n):
            now = after.get(was.player)
            if now is None or now.rank > rule.n:
                yield note(was.player, now, was)
        return
    if rule.kind is RuleKind.ENTERED_TOP_N:
        for a in _top(after_order, rule.n):
            b = before.get(a.player)
            if b is None or b.rank > rule.n:
                yield note(a.player, a, b)
        return
    if rule.kind is not RuleKind.THRESHOLD:
        return                       # event kinds (quarantined, board_ended, ...) are not top changes
    candidates = after_order if rule.metric is Metric.SCORE else _top(after_order, rule.value)
    for a in candidates:
        b = before.get(a.player)
        if _crossed(rule, b, a):
            yield note(a.player, a, b)


def _overtaken(rule: Rule, passes: Passes, after: Board, now_ms: int, tick: int | str, co: Coalescer,
               result: Evaluation) -> None:
    fresh, capped = overtaken_counts(rule, passes)
    result.suppressed += capped
    due = co.pop_due(rule, now_ms)
    for player, count, near in fresh:
        due.discard(player)
        key = (rule.id, player)
        held = co.held.get(key)
        if held is None:
            held = co.held[key] = _Held(now_ms, previous_rank=passes.before[player].rank)
        held.count += count
        co.dirty.add(key)
        room = co.by_max - len(held.by)
        if room > 0:          # names are looked up only while the notification has room for them
            held.by.extend((near if near is not None else passes.head(passes.after[player], co.by_max))[:room])
        last = co.last_sent_ms.get(key)
        if last is not None and now_ms < last + rule.window_ms:
            result.coalesced += count
            if held.due_ms != last + rule.window_ms:
                held.due_ms = last + rule.window_ms
                co.hold_until(rule.id, player, held.due_ms)
            continue
        _send(rule, player, after.get(player), now_ms, tick, co, result)
    for player in sorted(due):            # windows that ended with no new pass
        _send(rule, player, after.get(player), now_ms, tick, co, result)
    while len(co.last_sent_ms) > co.players_max:
        (rid, player), _ = co.last_sent_ms.popitem(last=False)
        if (rid, player) in co.held:
            if rid == rule.id:
                _send(rule, player, after.get(player), now_ms, tick, co, result)
                co.last_sent_ms.pop((rid, player), None)
            else:
                co.hold_until(rid, player, now_ms)     # forgotten window: due at that rule's next evaluation


def _send(rule: Rule, player: str, a: RankedEntry | None, now_ms: int, tick: int | str, co: Coalescer,
          result: Evaluation) -> None:
    key = (rule.id, player)
    held = co.held.pop(key)
    co.dirty.add(key)
    result.notifications.append(Notification(
        f"{rule.id}:{player}:{tick}", RuleKind.OVERTAKEN, rule.id, rule.board, player, now_ms,
        a.rank if a else None, held.previous_rank, a.score if a else None, tuple(held.by), held.count))
    co.last_sent_ms[key] = now_ms
    co.last_sent_ms.move_to_end(key)


def release_held(rules: Iterable[Rule], after: Board, now_ms: int, tick: int | str, co: Coalescer) -> list[Notification]:
    """Every pass still held for `rules`, sent now whatever its window: a stopping process would
    otherwise lose them (they live in memory). The window is cut short, not the passes."""
    result = Evaluation()
    for rule in rules:
        for _, player in [k for k in co.held if k[0] == rule.id]:
            _send(rule, player, after.get(player), now_ms, tick, co, result)
    return result.notifications


def evaluate(rules: Iterable[Rule], before: Board, after: Board, now_ms: int, tick: int | str,
             coalescer: Coalescer) -> Evaluation:
    """Every notification the change `before` -> `after` of one board causes at `now_ms`.
    `tick` makes ids unique per change: the same (rule, player, tick) is one event."""
    result = Evaluation()
    passes: Passes | None = None
    orders: tuple[list[RankedEntry], list[RankedEntry]] | None = None
    for rule in rules:
        if rule.kind is RuleKind.OVERTAKEN:
            passes = passes or Passes(before, after)      # once per change, shared by every overtaken rule
            _overtaken(rule, passes, after, now_ms, tick, coalescer, result)
        else:
            orders = orders or (sorted(before.values(), key=_rank), sorted(after.values(), key=_rank))
            result.notifications.extend(_simple(rule, before, after, orders, now_ms, tick))
    return result


def _rank(e: RankedEntry) -> int:
    return e.rank


def as_board(entries: Iterable[RankedEntry]) -> dict[str, RankedEntry]:
    return {e.player: e for e in entries}


def slice_for(rules: list[Rule], n_max: int) -> int:
    """How much of the top the board's rules need to see."""
    need = 1
    for r in rules:
        if r.kind in EVENT_KINDS:
            continue                 # follow the quarantine stream and the season, not the top
        if r.kind is RuleKind.OVERTAKEN:
            need = max(need, r.n + r.near_ranks + 1)
        elif r.kind is RuleKind.THRESHOLD:
            need = max(need, r.value if r.metric is Metric.RANK else n_max)
        else:
            need = max(need, r.n + 1)
    return max(1, min(need, n_max))
