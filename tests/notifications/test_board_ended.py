"""`board_ended` rules: the pure evaluation against a brute-force oracle over random final boards,
and end to end on a live region: a season reset announces each final top-n player's rank, once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from podium.region.api.app import create_app
from podium.region.notifications.board_events import board_ended_notifications

from podium.devtools import testing
from podium.devtools.testing import LiveServer
from podium.model import RankedEntry
from podium.notify_rules import Rule, RuleKind
from podium.redis_server import RedisServer
from tests.conftest import ADMIN_KEY, region_settings
from tests.notifications.readiness import wait_rules_live
from tests.region.helpers import create_board, entry, post_scores, unique

JWT_SECRET = "jwt-secret-for-board-ended-tests-0123"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}

scores_st = st.dictionaries(st.sampled_from([f"p{i}" for i in range(12)]), st.integers(-1000, 1000), max_size=12)
rules_st = st.lists(st.builds(Rule, id=st.sampled_from(["r0", "r1", "r2"]), board=st.sampled_from(["b0", "b1"]),
                              kind=st.sampled_from(list(RuleKind)), n=st.integers(1, 15)),
                    max_size=6, unique_by=lambda r: (r.board, r.id))


@settings(max_examples=300, deadline=None)
@given(scores_st, rules_st, st.integers(0, 50))
def test_board_ended_notifications_equal_the_oracle(scores: dict[str, int], rules: list[Rule], season: int) -> None:
    order = sorted(scores, key=lambda p: (-scores[p], p))          # the tie rule: a total order
    final = [RankedEntry(i + 1, p, scores[p], 0) for i, p in enumerate(order)]
    notes = board_ended_notifications(rules, "b0", season, final, 77)
    oracle = {(r.id, p, order.index(p) + 1, scores[p]) for r in rules for p in scores
              if r.kind is RuleKind.BOARD_ENDED and r.board == "b0" and order.index(p) + 1 <= r.n}
    assert {(n.rule, n.player, n.rank, n.score) for n in notes} == oracle
    assert len(notes) == len(oracle) == len({n.id for n in notes})
    assert all(n.kind is RuleKind.BOARD_ENDED and n.extra == {"season": season} and n.board == "b0" for n in notes)
    again = board_ended_notifications(rules, "b0", season, final, 99)
    assert [n.id for n in again] == [n.id for n in notes]                  # one id per season and player
    assert {n.id for n in board_ended_notifications(rules, "b0", season + 1, final, 77)}.isdisjoint(
        {n.id for n in notes})


@pytest.fixture(scope="module")
def region(redis_server: RedisServer) -> Iterator[LiveServer]:
    testing.START_TIMEOUT_S = 60.0
    s = region_settings(redis_server.url, jwt_secret=JWT_SECRET, notifications={"live_poll_ms": 100})
    with LiveServer(create_app, s) as server:
        yield server


def inbox(base: str, player: str) -> list[dict[str, Any]]:
    token = jwt.encode({"sub": player, "exp": int(time.time()) + 600}, JWT_SECRET, algorithm="HS256")
    doc = httpx.post(f"{base}/graphql", headers={"Authorization": f"Bearer {token}"}, json={
        "query": "{ notifications(first: 20) { edges { node { kind board rank } } } }"}).json()
    assert "errors" not in doc, doc
    return [e["node"] for e in doc["data"]["notifications"]["edges"]]


def test_a_season_reset_announces_the_final_top_n(region: LiveServer) -> None:
    base = region.url
    board = create_board(base)
    httpx.post(f"{base}/v1/admin/notification-rules", headers=ADMIN,
               json={"id": "final", "board": board, "kind": "board_ended", "n": 2}).raise_for_status()
    players = [unique("p") for _ in range(3)]
    post_scores(base, {"entries": [entry(board, p, s) for p, s in zip(players, (30, 20, 10), strict=True)]})
    wait_rules_live(base, ADMIN, board)              # the engine has seen the live season
    reset = httpx.post(f"{base}/graphql", headers=ADMIN, json={
        "query": "mutation($b:String!){ resetBoard(board:$b){ season } }", "variables": {"b": board}}).json()
    assert reset["data"]["resetBoard"]["season"] == 1, reset
    deadline = time.monotonic() + 30
    while not (inbox(base, players[0]) and inbox(base, players[1])) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert inbox(base, players[0]) == [{"kind": "board_ended", "board": board, "rank": 1}]
    assert inbox(base, players[1]) == [{"kind": "board_ended", "board": board, "rank": 2}]
    time.sleep(0.5)                                   # later refreshes announce nothing more
    assert inbox(base, players[2]) == [] and len(inbox(base, players[0])) == 1
