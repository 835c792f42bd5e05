"""`board_ending` rules: the pure evaluation against a brute-force oracle over random boards, times
and windows, and end to end on a live region: a board declared with a season end tells its top-n
once the end is within the rule's window, once, and a rule whose window has not begun stays quiet."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from podium.region.api.app import create_app
from podium.region.notifications.board_events import board_ending_notifications

from podium.devtools import testing
from podium.devtools.testing import LiveServer
from podium.model import Board, RankedEntry
from podium.notify_rules import Rule, RuleKind
from podium.redis_server import RedisServer
from tests.conftest import region_settings
from tests.region.helpers import create_board, entry, post_scores, unique

from .test_board_ended import ADMIN, JWT_SECRET, inbox

scores_st = st.dictionaries(st.sampled_from([f"p{i}" for i in range(12)]), st.integers(-1000, 1000), max_size=12)
rules_st = st.lists(st.builds(Rule, id=st.sampled_from(["r0", "r1", "r2"]), board=st.sampled_from(["b0", "b1"]),
                              kind=st.sampled_from(list(RuleKind)), n=st.integers(1, 15),
                              window_ms=st.integers(0, 5000)),
                    max_size=6, unique_by=lambda r: (r.board, r.id))


@settings(max_examples=300, deadline=None)
@given(scores_st, rules_st, st.integers(0, 50), st.integers(0, 10_000), st.integers(0, 10_000))
def test_board_ending_notifications_equal_the_oracle(scores: dict[str, int], rules: list[Rule], season: int,
                                                     ends_at: int, now: int) -> None:
    order = sorted(scores, key=lambda p: (-scores[p], p))
    top = [RankedEntry(i + 1, p, scores[p], 0) for i, p in enumerate(order)]

    def oracle(at: int) -> set[tuple[str, str, int]]:
        return {(r.id, p, order.index(p) + 1) for r in rules for p in scores
                if r.kind is RuleKind.BOARD_ENDING and r.board == "b0" and order.index(p) + 1 <= r.n
                and ends_at - r.window_ms <= at < ends_at}

    notes = board_ending_notifications(rules, "b0", season, ends_at, top, now)
    assert {(n.rule, n.player, n.rank) for n in notes} == oracle(now)
    assert len(notes) == len({n.id for n in notes})
    assert all(n.extra == {"season": season, "ends_at_ms": ends_at, "ends_in_ms": ends_at - now} for n in notes)
    # a moment later: what the oracle says then (a window may just have opened or closed), and a
    # notification of the same rule, season, end and player keeps its id
    later = board_ending_notifications(rules, "b0", season, ends_at, top, now + 1)
    assert {(n.rule, n.player, n.rank) for n in later} == oracle(now + 1)
    ids = {(n.rule, n.player): n.id for n in notes}
    assert all(ids.get((n.rule, n.player), n.id) == n.id for n in later)


def test_a_board_declares_its_season_end() -> None:
    board = Board.from_dict({"id": "b", "season_ends_at_ms": 1_900_000_000_000})
    assert Board.from_dict(board.to_dict()) == board
    for bad in ("soon", -1, True, 2**60):
        with pytest.raises(Exception, match="season_ends_at_ms|integer"):
            Board.from_dict({"id": "b", "season_ends_at_ms": bad})


@pytest.fixture(scope="module")
def region(redis_server: RedisServer) -> Iterator[LiveServer]:
    testing.START_TIMEOUT_S = 60.0
    s = region_settings(redis_server.url, jwt_secret=JWT_SECRET, notifications={"live_poll_ms": 100})
    with LiveServer(create_app, s) as server:
        yield server


def test_the_top_n_hear_the_season_is_ending_once(region: LiveServer) -> None:
    base = region.url
    ends_at = int(time.time() * 1000) + 600_000
    board = create_board(base, season_ends_at_ms=ends_at)
    players = [unique("p") for _ in range(3)]
    post_scores(base, {"entries": [entry(board, p, s) for p, s in zip(players, (30, 20, 10), strict=True)]})
    # the top-n when a rule's window opens is told (the board has players: the window is open at once)
    for rule in ({"id": "hour", "board": board, "kind": "board_ending", "n": 2, "window_ms": 3_600_000},
                 {"id": "minute", "board": board, "kind": "board_ending", "n": 2, "window_ms": 60_000}):
        httpx.post(f"{base}/v1/admin/notification-rules", headers=ADMIN, json=rule).raise_for_status()
    deadline = time.monotonic() + 30
    while not (inbox(base, players[0]) and inbox(base, players[1])) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert inbox(base, players[0]) == [{"kind": "board_ending", "board": board, "rank": 1}]
    assert inbox(base, players[1]) == [{"kind": "board_ending", "board": board, "rank": 2}]
    engine = region.app.state.notifications.engine
    seen = engine.refreshes
    deadline = time.monotonic() + 30
    while engine.refreshes < seen + 3 and time.monotonic() < deadline:
        time.sleep(0.05)                              # later refreshes announce nothing more
    assert engine.refreshes >= seen + 3
    assert inbox(base, players[2]) == [] and len(inbox(base, players[0])) == 1
