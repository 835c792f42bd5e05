"""The rule evaluator against a brute-force oracle over random score histories."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from podium.model import RankedEntry
from podium.notify_evaluate import Coalescer, as_board, evaluate
from podium.notify_rules import Metric, Rule, RuleKind

PLAYERS = [f"p{i}" for i in range(8)]


def board_of(scores: dict[str, int]) -> dict[str, RankedEntry]:
    """The board a brute force sees: higher score first, ties by player id (a total order)."""
    order = sorted(scores, key=lambda p: (-scores[p], p))
    return as_board(RankedEntry(i + 1, p, scores[p], 0) for i, p in enumerate(order))


def boards_of(history: list[tuple[int, int]]) -> list[dict[str, RankedEntry]]:
    scores: dict[str, int] = {}
    out = [board_of(scores)]
    for player, score in history:
        scores[PLAYERS[player]] = max(scores.get(PLAYERS[player], 0), score)
        out.append(board_of(scores))
    return out


def oracle_pairs(rule: Rule, before: dict[str, RankedEntry], after: dict[str, RankedEntry]) -> list[tuple[str, str]]:
    """Every (passed, overtaker) in plain words: both ranked before and after... or the overtaker new;
    before the passed one was ahead, after the overtaker is ahead; kept if near the top or near."""
    out = []
    for p, a in after.items():
        if p not in before:
            continue
        for q, aq in after.items():
            ahead_before = q in before and before[q].rank < before[p].rank
            near = before[p].rank <= rule.n or abs(before[p].rank - aq.rank) <= rule.near_ranks
            if aq.rank < a.rank and not ahead_before and near:
                out.append((p, q))
    return out


def oracle_simple(rule: Rule, before: dict[str, RankedEntry], after: dict[str, RankedEntry]) -> set[str]:
    players = set(before) | set(after)
    def rank(b: dict[str, RankedEntry], p: str) -> float:
        return b[p].rank if p in b else float("inf")
    def score(b: dict[str, RankedEntry], p: str) -> float:
        return b[p].score if p in b else float("-inf")
    if rule.kind is RuleKind.ENTERED_TOP_N:
        return {p for p in players if rank(after, p) <= rule.n < rank(before, p)}
    if rule.kind is RuleKind.LEFT_TOP_N:
        return {p for p in players if rank(before, p) <= rule.n < rank(after, p)}
    if rule.metric is Metric.SCORE:
        return {p for p in players if score(before, p) < rule.value <= score(after, p)}
    return {p for p in players if rank(after, p) <= rule.value < rank(before, p)}


histories = st.lists(st.tuples(st.integers(0, len(PLAYERS) - 1), st.integers(1, 40)), max_size=25)
steps_ms = st.lists(st.integers(0, 3000), min_size=25, max_size=25)


@settings(max_examples=150, deadline=None)
@given(history=histories, gaps=steps_ms, n=st.integers(1, 5), near=st.integers(0, 3),
       window_ms=st.sampled_from([0, 1000, 5000]), value=st.integers(1, 40), rank_value=st.integers(1, 6))
def test_notifications_match_the_oracle(history: list[tuple[int, int]], gaps: list[int], n: int, near: int,
                                        window_ms: int, value: int, rank_value: int) -> None:
    rules = [
        Rule("o", "b", RuleKind.OVERTAKEN, n=n, near_ranks=near, window_ms=window_ms),
        Rule("e", "b", RuleKind.ENTERED_TOP_N, n=n), Rule("l", "b", RuleKind.LEFT_TOP_N, n=n),
        Rule("ts", "b", RuleKind.THRESHOLD, metric=Metric.SCORE, value=value),
        Rule("tr", "b", RuleKind.THRESHOLD, metric=Metric.RANK, value=rank_value),
        # event kinds share the board's rule list but never fire on a top change
        Rule("q", "b", RuleKind.QUARANTINED), Rule("end", "b", RuleKind.BOARD_ENDED, n=n),
        Rule("lock", "b", RuleKind.CONTEST_LOCKING, n=n),
    ]
    boards = boards_of(history)
    co = Coalescer(players_max=1000, by_max=100)
    now = 1_000_000
    raw: Counter[tuple[str, str]] = Counter()
    sent: Counter[tuple[str, str]] = Counter()
    sent_at: dict[str, list[int]] = {}
    for tick, (before, after) in enumerate(pairwise(boards)):
        now += gaps[tick]
        result = evaluate(rules, before, after, now, tick, co)
        for rule in rules[1:5]:
            got = {x.player for x in result.notifications if x.rule == rule.id}
            assert got == oracle_simple(rule, before, after), rule
        assert not [x for x in result.notifications if x.rule in {"q", "end", "lock"}]
        pairs = oracle_pairs(rules[0], before, after)
        raw.update(pairs)
        overtaken = [x for x in result.notifications if x.kind is RuleKind.OVERTAKEN]
        assert len({x.id for x in result.notifications}) == len(result.notifications)
        for x in overtaken:
            sent_at.setdefault(x.player, []).append(now)
            assert x.count >= len(x.by) >= 1
            sent.update((x.player, by) for by in x.by)
        if window_ms == 0:
            # no coalescing: exactly one notification per passed player, carrying every pass
            assert Counter((x.player, by) for x in overtaken for by in x.by) == Counter(pairs)
    # coalescing conserves passes: sent + still held == all passes the oracle saw
    held = sum(co.held[k].count for k in co.held)
    sent_count = sum(1 for _ in sent.elements())
    assert sent_count + held == sum(raw.values())
    assert not (set(sent) - set(raw))
    for times in sent_at.values():
        assert all(b - a >= window_ms for a, b in pairwise(times))
    # a quiet board releases what is held once the windows have ended: then everything was sent
    release = evaluate([rules[0]], boards[-1], boards[-1], now + window_ms, "held", co)
    assert not co.held
    assert sent_count + sum(x.count for x in release.notifications) == sum(raw.values())


def test_cap_counts_what_it_suppresses() -> None:
    """One player jumps from last to first past 100: only the top-3 and near ranks are notified."""
    before = board_of({f"x{i:03d}": 1000 - i for i in range(100)} | {"jumper": 1})
    after = board_of({f"x{i:03d}": 1000 - i for i in range(100)} | {"jumper": 5000})
    rule = Rule("o", "b", RuleKind.OVERTAKEN, n=3, near_ranks=2, window_ms=0)
    result = evaluate([rule], before, after, 0, 1, Coalescer(1000, 10))
    assert sorted(x.player for x in result.notifications) == ["x000", "x001", "x002"]
    assert result.suppressed == 97
