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

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from podium.region.notifications.rules import Metric, Notification, Rule, RuleKind

from podium.model import RankedEntry

Board = Mapping[str, RankedEntry]


@dataclass
class _Held:
    first_ms: int
    by: list[str] = field(default_factory=list)
    count: int = 0
    previous_rank: int | None = None


class Coalescer:
    """Per (rule, player): when the last `overtaken` went out, and passes held since. Bounded:
    beyond `players_max` the oldest player is forgotten (its held passes are sent at once)."""

    def __init__(self, players_max: int, by_max: int) -> None:
        self.players_max = max(1, players_max)
        self.by_max = max(1, by_max)
        self.last_sent_ms: OrderedDict[tuple[str, str], int] = OrderedDict()
        self.held: dict[tuple[str, str], _Held] = {}

    def held_count(self) -> int:
        return sum(h.count for h in self.held.values())


@dataclass
class Evaluation:
    notifications: list[Notification] = field(default_factory=list)
    suppressed: int = 0          # overtaken passes outside the cap (not notified, counted)
    coalesced: int = 0           # overtaken passes held for a later, merged notification


def overtaken_pairs(rule: Rule, before: Board, after: Board) -> tuple[list[tuple[str, str]], int]:
    """(passed player, overtaker) pairs within the cap, newest rank first, and how many were capped."""
    out: list[tuple[str, str]] = []
    capped = 0
    ranked_after = sorted(after.values(), key=lambda e: e.rank)
    for p in ranked_after:
        prev_p = before.get(p.player)
        if prev_p is None:
            continue
        for q in ranked_after:
            if q.rank >= p.rank:
                break
            prev_q = before.get(q.player)
            if prev_q is not None and prev_q.rank < prev_p.rank:
                continue          # q was already ahead
            if prev_p.rank <= rule.n or abs(prev_p.rank - q.rank) <= rule.near_ranks:
                out.append((p.player, q.player))
            else:
                capped += 1
    return out, capped


def _crossed(rule: Rule, before: RankedEntry | None, after: RankedEntry | None) -> bool:
    if after is None:
        return False
    if rule.metric is Metric.SCORE:
        return after.score >= rule.value and (before is None or before.score < rule.value)
    return after.rank <= rule.value and (before is None or before.rank > rule.value)


def _simple(rule: Rule, before: Board, after: Board, now_ms: int, tick: int | str) -> Iterable[Notification]:
    def note(player: str, a: RankedEntry | None, b: RankedEntry | None) -> Notification:
        return Notification(f"{rule.id}:{player}:{tick}", rule.kind, rule.id, rule.board, player, now_ms,
                            a.rank if a else None, b.rank if b else None, a.score if a else None)

    if rule.kind is RuleKind.LEFT_TOP_N:
        for player, was in before.items():
            now = after.get(player)
            if was.rank <= rule.n and (now is None or now.rank > rule.n):
                yield note(player, now, was)
        return
    for player, a in after.items():
        b = before.get(player)
        if rule.kind is RuleKind.ENTERED_TOP_N:
            if a.rank <= rule.n and (b is None or b.rank > rule.n):
                yield note(player, a, b)
        elif rule.kind is RuleKind.THRESHOLD and _crossed(rule, b, a):
            yield note(player, a, b)


def _overtaken(rule: Rule, before: Board, after: Board, now_ms: int, tick: int | str, co: Coalescer,
               result: Evaluation) -> None:
    pairs, capped = overtaken_pairs(rule, before, after)
    result.suppressed += capped
    fresh: dict[str, list[str]] = {}
    for player, by in pairs:
        fresh.setdefault(player, []).append(by)
    due = {k[1] for k, h in co.held.items() if k[0] == rule.id and now_ms >= co.last_sent_ms.get(k, 0) + rule.window_ms}
    for player in sorted(set(fresh) | due):
        key = (rule.id, player)
        held = co.held.setdefault(key, _Held(now_ms))
        if held.previous_rank is None and player in before:
            held.previous_rank = before[player].rank
        for by in fresh.get(player, []):
            held.count += 1
            if len(held.by) < co.by_max:
                held.by.append(by)
        last = co.last_sent_ms.get(key)
        if last is not None and now_ms < last + rule.window_ms:
            result.coalesced += len(fresh.get(player, []))
            continue
        _send(rule, player, after.get(player), now_ms, tick, co, result)
    while len(co.last_sent_ms) > co.players_max:
        (rid, player), _ = co.last_sent_ms.popitem(last=False)
        if (rid, player) in co.held and rid == rule.id:
            _send(rule, player, after.get(player), now_ms, tick, co, result)
            co.last_sent_ms.pop((rid, player), None)


def _send(rule: Rule, player: str, a: RankedEntry | None, now_ms: int, tick: int | str, co: Coalescer,
          result: Evaluation) -> None:
    key = (rule.id, player)
    held = co.held.pop(key)
    result.notifications.append(Notification(
        f"{rule.id}:{player}:{tick}", RuleKind.OVERTAKEN, rule.id, rule.board, player, now_ms,
        a.rank if a else None, held.previous_rank, a.score if a else None, tuple(held.by), held.count))
    co.last_sent_ms[key] = now_ms
    co.last_sent_ms.move_to_end(key)


def evaluate(rules: Iterable[Rule], before: Board, after: Board, now_ms: int, tick: int | str,
             coalescer: Coalescer) -> Evaluation:
    """Every notification the change `before` -> `after` of one board causes at `now_ms`.
    `tick` makes ids unique per change: the same (rule, player, tick) is one event."""
    result = Evaluation()
    for rule in rules:
        if rule.kind is RuleKind.OVERTAKEN:
            _overtaken(rule, before, after, now_ms, tick, coalescer, result)
        else:
            result.notifications.extend(_simple(rule, before, after, now_ms, tick))
    return result


def as_board(entries: Iterable[RankedEntry]) -> dict[str, RankedEntry]:
    return {e.player: e for e in entries}
