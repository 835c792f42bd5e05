"""Notifications of board events that are not top changes (pure): `quarantined`, one per
quarantined entry per rule of its board; `board_ended`, one per player of a season's final
top-`n` per rule; `contest_locking`, one per entrant (at most `n`) once `window_ms` before the
contest's deadline.

An entry held back by the anti-cheat is an event of the apply path (it lands in the board's
quarantine stream in the same Lua call); the engine follows that stream and asks this module what
to send. The id is the quarantine entry's stream id, unique per board: evaluating the same rows
again gives the same ids, so a replay after a crash is deduplicated by the inbox and by webhook
receivers (X-Podium-Event-Id)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from podium.model import RankedEntry
from podium.notify_rules import Notification, Rule, RuleKind


@dataclass(frozen=True, slots=True)
class QuarantineRow:
    id: str            # the quarantine stream id ("<ms>-<seq>")
    board: str
    player: str
    score: int
    reason: str


def quarantine_notifications(rules: Iterable[Rule], rows: Sequence[QuarantineRow], now_ms: int) -> list[Notification]:
    """For each row, in order, a notification per `quarantined` rule declared on the row's board."""
    by_board: dict[str, list[Rule]] = {}
    for rule in rules:
        if rule.kind is RuleKind.QUARANTINED:
            by_board.setdefault(rule.board, []).append(rule)
    out = []
    for row in rows:
        for rule in by_board.get(row.board, ()):
            out.append(Notification(f"{rule.id}:{row.player}:q{row.id}", RuleKind.QUARANTINED, rule.id, row.board,
                                    row.player, now_ms, score=row.score,
                                    extra={"reason": row.reason, "quarantine_id": row.id}))
    return out


def board_ended_notifications(rules: Iterable[Rule], board: str, season: int, final: Sequence[RankedEntry],
                              now_ms: int) -> list[Notification]:
    """`final`: the ended season's standings from rank 1 (at least the largest `n` of the rules).
    Ids name the season, so a season is announced once whatever re-evaluates it."""
    out = []
    for rule in rules:
        if rule.kind is not RuleKind.BOARD_ENDED or rule.board != board:
            continue
        for e in final:
            if e.rank > rule.n:
                break
            out.append(Notification(f"{rule.id}:{e.player}:end{season}", RuleKind.BOARD_ENDED, rule.id, board,
                                    e.player, now_ms, rank=e.rank, score=e.score, extra={"season": season}))
    return out


def board_ending_notifications(rules: Iterable[Rule], board: str, season: int, ends_at_ms: int,
                               top: Sequence[RankedEntry], now_ms: int) -> list[Notification]:
    """Due from `ends_at - window_ms` until the end (none before, none after): each player of the
    top-`n` (`top` from rank 1), with their rank now. Ids name the season and its end: one
    announcement per rule per scheduled end, whatever re-evaluates it."""
    out = []
    for rule in rules:
        if rule.kind is not RuleKind.BOARD_ENDING or rule.board != board:
            continue
        if not ends_at_ms - rule.window_ms <= now_ms < ends_at_ms:
            continue
        for e in top:
            if e.rank > rule.n:
                break
            out.append(Notification(f"{rule.id}:{e.player}:ending{season}.{ends_at_ms}", RuleKind.BOARD_ENDING,
                                    rule.id, board, e.player, now_ms, rank=e.rank, score=e.score,
                                    extra={"season": season, "ends_at_ms": ends_at_ms, "ends_in_ms": ends_at_ms - now_ms}))
    return out


def contest_locking_notifications(rules: Iterable[Rule], contest: str, deadline_ms: int, owners: Sequence[str],
                                  now_ms: int) -> tuple[list[Notification], int]:
    """The notifications due at `now_ms` (none before `deadline - window_ms` or after the deadline),
    and how many entrants were past a rule's cap `n` (counted, not notified). Ids name the contest
    and its deadline: one announcement per deadline."""
    out, suppressed = [], 0
    for rule in rules:
        if rule.kind is not RuleKind.CONTEST_LOCKING or rule.board != contest:
            continue
        if not deadline_ms - rule.window_ms <= now_ms < deadline_ms:
            continue
        unique = sorted(set(owners))
        suppressed += max(0, len(unique) - rule.n)
        for owner in unique[:rule.n]:
            out.append(Notification(f"{rule.id}:{owner}:lock{deadline_ms}", RuleKind.CONTEST_LOCKING, rule.id, contest,
                                    owner, now_ms, extra={"deadline_ms": deadline_ms, "locks_in_ms": deadline_ms - now_ms}))
    return out, suppressed
