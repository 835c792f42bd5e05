"""`quarantined` rules: the pure evaluation against a brute-force oracle over random rules and
quarantine rows, and end to end on a live region: the set of `quarantined` notifications (inbox and
signed webhook) equals exactly the entries the ingest answered `quarantined`, once each."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from podium.region.api.app import create_app
from podium.region.notifications.board_events import QuarantineRow, quarantine_notifications

from podium.devtools import testing
from podium.devtools.testing import LiveServer
from podium.notify_rules import Rule, RuleKind
from podium.redis_server import RedisServer
from tests.conftest import ADMIN_KEY, region_settings
from tests.notifications.readiness import wait_rules_live
from tests.region.helpers import create_board, entry, post_scores, unique

from .receiver import Receiver

BOARDS = ["b0", "b1", "b2"]
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
HOOK_SECRET = "quarantine-hook-secret-0123456789"

rules_st = st.lists(st.builds(Rule, id=st.sampled_from(["r0", "r1", "r2"]), board=st.sampled_from(BOARDS),
                              kind=st.sampled_from(list(RuleKind))), max_size=8,
                    unique_by=lambda r: (r.board, r.id))
rows_st = st.lists(st.builds(QuarantineRow, id=st.integers(1, 10**6).map(lambda n: f"{n}-0"), board=st.sampled_from(BOARDS),
                             player=st.sampled_from(["ann", "bob", "cyd"]), score=st.integers(-10**9, 10**9),
                             reason=st.just("max_delta")), max_size=30, unique_by=lambda r: (r.board, r.id))


@settings(max_examples=300, deadline=None)
@given(rules_st, rows_st)
def test_quarantined_notifications_equal_the_oracle(rules: list[Rule], rows: list[QuarantineRow]) -> None:
    notes = quarantine_notifications(rules, rows, 1234)
    oracle = Counter((rule.id, row.board, row.player, row.score, row.id) for row in rows for rule in rules
                     if rule.kind is RuleKind.QUARANTINED and rule.board == row.board)
    got = Counter((n.rule, n.board, n.player, n.score, n.extra["quarantine_id"]) for n in notes)
    assert got == oracle
    assert all(n.kind is RuleKind.QUARANTINED and n.at_ms == 1234 for n in notes)
    assert len({n.id for n in notes}) == len(notes)                          # one event, one id
    assert [n.id for n in quarantine_notifications(rules, rows, 99)] == [n.id for n in notes]   # stable on replay


@pytest.fixture(scope="module")
def region(redis_server: RedisServer) -> Iterator[LiveServer]:
    testing.START_TIMEOUT_S = 60.0
    settings_ = region_settings(redis_server.url, notifications={"live_poll_ms": 100, "webhook_poll_ms": 50})
    with LiveServer(create_app, settings_) as server:
        yield server


def test_live_quarantined_notifications_match_the_ingest_answers(region: LiveServer) -> None:
    base = region.url
    board = create_board(base, max_delta_per_minute=100)
    other = create_board(base, max_delta_per_minute=100)      # no rule there: nothing is notified
    httpx.post(f"{base}/v1/admin/notification-rules", headers=ADMIN,
               json={"id": "held", "board": board, "kind": "quarantined"}).raise_for_status()
    hook = unique("ops")
    rng = random.Random(18)
    with Receiver({hook: HOOK_SECRET}) as rx:
        httpx.post(f"{base}/v1/admin/webhooks", headers=ADMIN, json={
            "id": hook, "url": rx.url(), "secret": HOOK_SECRET, "events": ["quarantined"]}).raise_for_status()
        wait_rules_live(base, ADMIN, board)
        players = [unique("p") for _ in range(4)]
        expected: set[tuple[str, int]] = set()
        now = int(time.time() * 1000)
        for i in range(30):
            player, jump = rng.choice(players), rng.choice([5, 40, 500, 5000])
            target = rng.choice([board, other])
            r = post_scores(base, {"entries": [entry(target, player, 10 * i + jump, ts=now - 60_000 + i)]})
            assert r.status_code == 200, r.text
            if r.json()["results"][0]["status"] == "quarantined" and target == board:
                expected.add((player, 10 * i + jump))
        assert expected, "the sequence quarantines something"

        def received() -> set[tuple[str, int]]:
            return {(n["player"], n["score"]) for n in rx.bodies() if n["kind"] == "quarantined"}

        deadline = time.monotonic() + 30
        while received() != expected and time.monotonic() < deadline:
            time.sleep(0.1)
        assert received() == expected
        assert rx.bad_signatures == 0 and set(rx.accepted.values()) == {1}
        assert all(n["board"] == board and n["extra"]["reason"] for n in rx.bodies())
