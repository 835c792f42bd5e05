"""Splits one coalesced change of a board's top into the changes it stands for, in the order they
happened, so the rules see who passed whom.

The fan-out sends the engine one diff per tick: scores applied within one tick reach the rules as a
single change. Two entries that land in the same tick but one after the other (a, b, c score, then x
passes them) would otherwise be evaluated as one change from a top without them to a top with all
four: x passes nobody that was there "before", and the pass is lost. Every entry carries the time of
its last change (`achieved_at_ms`), so the change is replayed group by group in that order: the
changed entries of the earliest time applied to `before` first, the board re-ranked, and so on;
the last step ends exactly at `after`. Pure and deterministic (a re-derivation after a kill -9 gives
the same steps, hence the same notification ids).

What a replay cannot see: a player who changed twice within the tick shows only the last change (a
pass undone inside the tick is not notified, as before)."""

from __future__ import annotations

from collections.abc import Sequence

from podium.model import RankedEntry, SortOrder
from podium.notify_evaluate import Coalescer, Evaluation, as_board, evaluate
from podium.notify_rules import Rule
from podium.ranking import sort_key


def replay_steps(before: Sequence[RankedEntry], after: Sequence[RankedEntry], n: int, order: SortOrder | None,
                 steps_max: int) -> list[list[RankedEntry]]:
    """The tops from `before` to `after` (the last one is `after` itself), one per time at which
    entries changed. Just `[after]` when there is one such time, the board's order is unknown, or
    there are more than `steps_max` (then the change is evaluated coalesced, as the fan-out sent it)."""
    was = {e.player: e for e in before}
    changed = [e for e in after if (w := was.get(e.player)) is None
               or (w.score, w.achieved_at_ms) != (e.score, e.achieved_at_ms)]
    times = sorted({e.achieved_at_ms for e in changed})
    if order is None or len(times) <= 1 or len(times) > steps_max:
        return [list(after)]
    steps: list[list[RankedEntry]] = []
    current = dict(was)
    for at in times[:-1]:
        current.update({e.player: e for e in changed if e.achieved_at_ms == at})
        ranked = sorted(current.values(), key=lambda e: sort_key(e.score, e.achieved_at_ms, e.player, order))[:n]
        steps.append([RankedEntry(i + 1, e.player, e.score, e.achieved_at_ms) for i, e in enumerate(ranked)])
    steps.append(list(after))
    return steps


def evaluate_replayed(rules: list[Rule], before: list[RankedEntry], after: list[RankedEntry], n: int,
                      order: SortOrder | None, steps_max: int, now_ms: int, tick: str,
                      coalescer: Coalescer) -> Evaluation:
    """The rules on `before` -> `after` as the changes it stands for (`replay_steps`), one evaluation
    each. The last step keeps `tick` (the ids of a change that is not split are as before); the
    others are `<tick>.s<i>`."""
    tops = replay_steps(before, after, n, order, steps_max) if rules else [after]
    result = Evaluation()
    previous = before
    for i, top in enumerate(tops):
        step = evaluate(rules, as_board(previous), as_board(top), now_ms,
                        tick if i == len(tops) - 1 else f"{tick}.s{i}", coalescer)
        result.notifications.extend(step.notifications)
        result.suppressed += step.suppressed
        result.coalesced += step.coalesced
        previous = top
    return result
