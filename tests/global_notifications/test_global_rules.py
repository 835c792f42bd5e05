"""Rules on GLOBAL ranks, evaluated by the global tier, on real processes: two regions and the
global tier (`podium.devtools.stack`), each on its own Redis server.

An `increment` board fed from both regions: player `p` scores 60 in each, fourth in each region's
board, and first on the merged one. Rules declared on the global tier (REST and GraphQL) send
signed webhooks to a local receiver registered there; what it receives must equal, exactly, what a
brute-force oracle derives from the sequence of merged boards. Each step changes one entry (so no
intermediate board exists), and a `threshold` score >= 1 rule fires once per new player, so the test
knows the global tier evaluated each step before it makes the next."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson

from podium.devtools.stack import Stack
from podium.signing import signed_headers
from tests.notifications.readiness import wait_rules_live, wait_webhooks_active
from tests.notifications.receiver import Receiver

REGIONS = ["us-east", "eu-west"]
BOARD = "kills"
N = 3
HOOK_SECRET = "global-hook-secret-0123456789"
ENV = {"PODIUM_API__RATE_LIMIT_PER_S": "1000000", "PODIUM_API__RATE_LIMIT_BURST": "1000000",
       "PODIUM_NOTIFICATIONS__LIVE_POLL_MS": "100", "PODIUM_NOTIFICATIONS__WEBHOOK_POLL_MS": "50",
       "PODIUM_REPLICATION__SHIP_INTERVAL_MS": "50", "PODIUM_API__TICK_MS": "100"}
RULES = [{"id": "top3", "board": BOARD, "kind": "entered_top_n", "n": N},
         {"id": "out3", "board": BOARD, "kind": "left_top_n", "n": N},
         {"id": "rank2", "board": BOARD, "kind": "threshold", "metric": "rank", "value": 2},
         {"id": "hundred", "board": BOARD, "kind": "threshold", "metric": "score", "value": 100},
         {"id": "any", "board": BOARD, "kind": "threshold", "metric": "score", "value": 1},
         {"id": "passed", "board": BOARD, "kind": "overtaken", "n": N, "near_ranks": 0, "window_ms": 0}]
# (region, player, amount): one entry per step
STEPS = [("us-east", "x", 100), ("eu-west", "y", 90), ("us-east", "z", 80), ("us-east", "u", 75),
         ("eu-west", "w", 70), ("eu-west", "v", 65), ("us-east", "p", 60), ("eu-west", "p", 60)]
DEADLINE_S = 30.0
DECLARE = ("mutation($r: NotificationRuleInput!){ declareNotificationRule(rule: $r){ id kind n } }")
PAGE_Q = "query($b:String!){ leaderboard(board:$b, first:10){ edges { node { rank player score } } } }"

Board = dict[str, tuple[int, int]]       # player -> (rank, score)
Note = tuple[str, str, int | None, int | None, int | None, int, frozenset[str]]


def wait_for(check: Any, what: str) -> Any:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {DEADLINE_S} s: {what}")


def ranked(totals: dict[str, int]) -> Board:
    order = sorted(totals, key=lambda p: (-totals[p], p))     # distinct totals here: no time tie-break needed
    return {p: (i + 1, totals[p]) for i, p in enumerate(order)}


def oracle(before: Board, after: Board) -> Counter[Note]:
    """Every notification the change `before` -> `after` of the merged board causes, from the
    rules' definitions (not from the evaluation code)."""
    out: Counter[Note] = Counter()

    def note(rule: str, p: str, a: tuple[int, int] | None, b: tuple[int, int] | None, count: int = 0,
             by: frozenset[str] = frozenset()) -> None:
        out[(rule, p, a[0] if a else None, b[0] if b else None, a[1] if a else None, count, by)] += 1

    for p, a in after.items():
        b = before.get(p)
        if a[0] <= N and (b is None or b[0] > N):
            note("top3", p, a, b)
        if a[0] <= 2 and (b is None or b[0] > 2):
            note("rank2", p, a, b)
        for rule, value in (("hundred", 100), ("any", 1)):
            if a[1] >= value and (b is None or b[1] < value):
                note(rule, p, a, b)
    for p, b in before.items():
        if b[0] <= N and after[p][0] > N:
            note("out3", p, after[p], b)
        # overtaken (window 0: no coalescing): passed by whoever is now ahead and was behind; the cap
        # keeps every pass of a player who was in the top N, else the overtakers now at most
        # `near_ranks` (0) ranks from the player's previous rank
        by = frozenset(o for o in after if after[o][0] < after[p][0] and (o not in before or before[o][0] > b[0])
                       and (b[0] <= N or abs(after[o][0] - b[0]) <= 0))
        if by:
            note("passed", p, after[p], b, len(by), by)
    return out


def received(rx: Receiver) -> Counter[Note]:
    return Counter((b["rule"], b["player"], b["rank"], b["previous_rank"], b["score"], b["count"], frozenset(b["by"]))
                   for b in rx.bodies())


def post(stack: Stack, region: str, player: str, amount: int) -> None:
    body = orjson.dumps({"entries": [{"event_id": uuid.uuid4().hex, "board": BOARD, "player": player,
                                      "score": amount, "achieved_at": time.time_ns() // 10**6}]})
    headers = signed_headers(stack.game_key_id, stack.game_secret, "POST", "/v1/scores", time.time_ns() // 10**6, body)
    r = httpx.post(f"{stack.region_node(region).url}/v1/scores", content=body, headers=headers, timeout=30)
    assert r.status_code == 200 and r.json()["results"][0]["status"] == "applied", r.text


def top(url: str) -> list[tuple[int, str, int]]:
    doc = httpx.post(f"{url}/graphql", json={"query": PAGE_Q, "variables": {"b": BOARD}}, timeout=10).json()
    return [(e["node"]["rank"], e["node"]["player"], e["node"]["score"]) for e in doc["data"]["leaderboard"]["edges"]]


def declare(stack: Stack, admin: dict[str, str]) -> None:
    base = stack.global_node.url
    for rule in RULES[:-1]:
        r = httpx.post(f"{base}/v1/admin/notification-rules", json=rule, headers=admin, timeout=30)
        assert r.status_code == 201, r.text
    r = httpx.post(f"{base}/graphql", headers=admin, timeout=30,
                   json={"query": DECLARE, "variables": {"r": {"id": "passed", "board": BOARD, "kind": "overtaken",
                                                               "n": N, "nearRanks": 0, "windowMs": 0}}})
    assert r.json().get("data", {}).get("declareNotificationRule") == {"id": "passed", "kind": "overtaken", "n": N}, r.text


def test_global_rules_notify_from_the_merged_board(tmp_path: Path) -> None:
    with Stack(REGIONS, tmp_path, boards=[{"id": BOARD, "operator": "increment"}], extra_env=ENV) as stack, \
            Receiver({"grx": HOOK_SECRET}) as rx:
        base, admin = stack.global_node.url, {"Authorization": f"Bearer {stack.admin_key}"}
        # event rules are a region's; hostile bodies are coded 4xx
        for bad in ({"id": "q", "board": BOARD, "kind": "quarantined"}, {"id": "r", "board": BOARD, "kind": "threshold",
                    "metric": "rank", "value": 10**6}, [], {"id": 5}, "x"):
            r = httpx.post(f"{base}/v1/admin/notification-rules", json=bad, headers=admin, timeout=30)
            assert r.status_code == 400 and r.json()["error"]["code"] == "BAD_USER_INPUT", r.text
        assert httpx.post(f"{base}/v1/admin/notification-rules", json=RULES[0], timeout=30).status_code == 401
        doc = httpx.post(f"{base}/graphql", json={"query": "{ notificationRules { id } }"}, timeout=30).json()
        assert doc["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", doc
        doc = httpx.post(f"{base}/graphql", headers=admin, timeout=30, json={"query": DECLARE, "variables": {
            "r": {"id": "q", "board": BOARD, "kind": "board_ended"}}}).json()
        assert doc["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", doc
        declare(stack, admin)
        r = httpx.post(f"{base}/v1/admin/webhooks", headers=admin, timeout=30,
                       json={"id": "grx", "url": rx.url(), "secret": HOOK_SECRET, "boards": [BOARD]})
        assert r.status_code == 201, r.text
        # the global tier knows a board once a region's change reached it: a first entry creates it,
        # and is the rules' baseline
        post(stack, "eu-west", "s", 1)
        wait_rules_live(base, admin, BOARD)
        wait_webhooks_active(base, admin, {"grx"})

        totals: dict[str, int] = {"s": 1}
        expected: Counter[Note] = Counter()
        for region, player, amount in STEPS:
            before = ranked(totals)
            totals[player] = totals.get(player, 0) + amount
            expected += oracle(before, ranked(totals))
            post(stack, region, player, amount)
            want = sum(expected.values())
            wait_for(lambda want=want: sum(received(rx).values()) >= want, f"the notifications of {player}")
        assert received(rx) == expected
        assert rx.bad_signatures == 0 and set(rx.accepted.values()) == {1}
        assert all(b["extra"] == {"tier": "global"} and b["board"] == BOARD for b in rx.bodies())

        # p is fourth in each region's board and first on the merged one
        for region in REGIONS:
            assert "p" not in {player for rank, player, _ in top(stack.region_node(region).url) if rank <= N}
        assert top(base)[0] == (1, "p", 120)
        assert {n[0] for n in expected if n[1] == "p"} == {"top3", "rank2", "hundred", "any"}
        assert expected[("passed", "x", 2, 1, 100, 1, frozenset({"p"}))] == 1

        doc = httpx.get(f"{base}/v1/admin/notification-rules", headers=admin, timeout=30).json()
        assert doc["engine"]["published"] == sum(expected.values()) and doc["engine"]["waiting"] == 0
