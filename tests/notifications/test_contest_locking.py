"""`contest_locking` rules: the pure evaluation against a brute-force oracle (random deadlines,
offsets, entrants and times), and end to end: a contest's entrants are told once that it locks."""

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
from podium.region.notifications.board_events import contest_locking_notifications

from podium.devtools import testing
from podium.devtools.testing import LiveServer
from podium.notify_rules import Rule, RuleKind
from podium.redis_server import RedisServer
from tests.conftest import ADMIN_KEY, region_settings
from tests.region.helpers import unique

JWT_SECRET = "jwt-secret-for-contest-locking-0123"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
SAVE = "mutation($t: TeamInput!, $o: String) { saveTeam(team: $t, owner: $o) { version } }"
JOIN = "mutation($c: String!, $t: String!, $o: String) { joinContest(contest: $c, team: $t, owner: $o) { joined } }"

rules_st = st.lists(st.builds(Rule, id=st.sampled_from(["r0", "r1", "r2"]), board=st.sampled_from(["c0", "c1"]),
                              kind=st.sampled_from(list(RuleKind)), n=st.integers(1, 6),
                              window_ms=st.integers(0, 10_000)), max_size=6, unique_by=lambda r: (r.board, r.id))


@settings(max_examples=300, deadline=None)
@given(rules_st, st.lists(st.sampled_from([f"o{i}" for i in range(9)]), max_size=15),
       st.integers(0, 20_000), st.integers(0, 20_000))
def test_contest_locking_notifications_equal_the_oracle(rules: list[Rule], owners: list[str], deadline: int,
                                                        now: int) -> None:
    notes, suppressed = contest_locking_notifications(rules, "c0", deadline, owners, now)
    due = [r for r in rules if r.kind is RuleKind.CONTEST_LOCKING and r.board == "c0"
           and deadline - r.window_ms <= now < deadline]
    distinct = sorted(set(owners))
    oracle = {(r.id, o) for r in due for o in distinct[:r.n]}
    assert {(n.rule, n.player) for n in notes} == oracle and len(notes) == len(oracle)
    assert suppressed == sum(max(0, len(distinct) - r.n) for r in due)
    assert all(n.extra["deadline_ms"] == deadline and n.extra["locks_in_ms"] == deadline - now for n in notes)
    assert len({n.id for n in notes}) == len(notes)


@pytest.fixture(scope="module")
def region(redis_server: RedisServer) -> Iterator[LiveServer]:
    testing.START_TIMEOUT_S = 60.0
    s = region_settings(redis_server.url, jwt_secret=JWT_SECRET, notifications={"live_poll_ms": 100})
    with LiveServer(create_app, s) as server:
        yield server


def inbox(base: str, player: str) -> list[dict[str, Any]]:
    token = jwt.encode({"sub": player, "exp": int(time.time()) + 600}, JWT_SECRET, algorithm="HS256")
    doc = httpx.post(f"{base}/graphql", headers={"Authorization": f"Bearer {token}"}, json={
        "query": "{ notifications(first: 20) { edges { node { kind board } } } }"}).json()
    assert "errors" not in doc, doc
    return [e["node"] for e in doc["data"]["notifications"]["edges"]]


def test_entrants_are_told_once_that_the_contest_locks(region: LiveServer) -> None:
    base = region.url
    match, contest = unique("m"), unique("c")
    players = [{"id": f"p{i:02d}", "role": ("bat", "bowl", "wk", "ar")[i % 4], "credits": 8} for i in range(22)]
    deadline = int(time.time() * 1000) + 120_000
    httpx.post(f"{base}/v1/admin/contests/matches", headers=ADMIN, json={
        "id": match, "deadline_ms": deadline, "players": players,
        "scoring": {"version": 1, "points": {"run": 1}}}).raise_for_status()
    httpx.post(f"{base}/v1/admin/contests", headers=ADMIN, json={
        "id": contest, "match": match, "capacity": 10, "entry_fee": 0, "prizes": [],
        "rules": {"team_size": 11, "credit_cap": 100, "role_min": {"wk": 1}}}).raise_for_status()
    owners = [unique("fan") for _ in range(3)]
    for owner in owners:
        picked = [f"p{i:02d}" for i in range(11)]
        team = {"id": "t1", "match": match, "players": picked, "captain": "p00", "vice": "p01"}
        for query, variables in ((SAVE, {"t": team, "o": owner}), (JOIN, {"c": contest, "t": "t1", "o": owner})):
            doc = httpx.post(f"{base}/graphql", headers=ADMIN, json={"query": query, "variables": variables}).json()
            assert "errors" not in doc, doc
    # 2 minutes before the deadline with a 10-minute notice: due now; n=2 caps the three entrants
    httpx.post(f"{base}/v1/admin/notification-rules", headers=ADMIN, json={
        "id": "lock", "board": contest, "kind": "contest_locking", "window_ms": 600_000, "n": 2}).raise_for_status()
    told = sorted(owners)[:2]
    end = time.monotonic() + 30
    while not all(inbox(base, o) for o in told) and time.monotonic() < end:
        time.sleep(0.1)
    for owner in told:
        assert inbox(base, owner) == [{"kind": "contest_locking", "board": contest}]
    time.sleep(0.5)                     # later refreshes announce nothing more
    assert inbox(base, sorted(owners)[2]) == [] and all(len(inbox(base, o)) == 1 for o in told)
    assert region.app.state.notifications.engine.suppressed >= 1
