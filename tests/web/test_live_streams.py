"""The live page's contest and trending panels on a region: a contest's top entries and a trending
stream's top items, each updated live after a signed feed event or a signed batch of events; the
URL keeps the choice; no request leaves the host; accessible."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import orjson
from playwright.sync_api import Page, expect

from podium.devtools.stack import Stack
from podium.signing import signed_headers
from tests.web.conftest import BrowserLog, run_axe

SAVE = "mutation($t: TeamInput!, $o: String) { saveTeam(team: $t, owner: $o) { version } }"
JOIN = "mutation($c: String!, $t: String!, $o: String) { joinContest(contest: $c, team: $t, owner: $o) { joined } }"
ROLES = ("bat", "bowl", "wk", "ar")
UPDATE_WITHIN_MS = 5000


def signed_post(stack: Stack, base: str, path: str, doc: dict[str, Any]) -> dict[str, Any]:
    body = orjson.dumps(doc)
    headers = signed_headers(stack.game_key_id, stack.game_secret, "POST", path, time.time_ns() // 10**6, body)
    r = httpx.post(f"{base}{path}", content=body, headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def contest_with_three_teams(stack: Stack, base: str, lock_in_ms: int) -> tuple[str, str]:
    """(contest id, match id) of a contest that three teams joined and that has locked. On a loaded
    machine the joins may outlast the deadline: then a new contest with twice the time is made."""
    admin = {"Authorization": f"Bearer {stack.admin_key}"}
    players = [{"id": f"p{i:02d}", "role": ROLES[i % 4], "credits": 8} for i in range(22)]
    for attempt in range(4):
        contest, match = f"cup{attempt}", f"cup{attempt}-final"
        deadline = time.time_ns() // 10**6 + lock_in_ms * 2**attempt
        httpx.post(f"{base}/v1/admin/contests/matches", headers=admin, timeout=10, json={
            "id": match, "deadline_ms": deadline, "players": players,
            "scoring": {"version": 1, "points": {"run": 1, "six": 6}}}).raise_for_status()
        httpx.post(f"{base}/v1/admin/contests", headers=admin, timeout=10, json={
            "id": contest, "match": match, "capacity": 100, "entry_fee": 0, "prizes": [],
            "rules": {"team_size": 11, "credit_cap": 100, "role_min": {"wk": 1}}}).raise_for_status()
        late = False
        for n, first in enumerate((0, 2, 4)):      # three teams with different captains
            picked = [f"p{(first + i) % 22:02d}" for i in range(11)]
            team = {"id": "t1", "match": match, "players": picked, "captain": picked[0], "vice": picked[1]}
            for query, variables in ((SAVE, {"t": team, "o": f"fan-{n}"}), (JOIN, {"c": contest, "t": "t1", "o": f"fan-{n}"})):
                doc = httpx.post(f"{base}/graphql", headers=admin, json={"query": query, "variables": variables}).json()
                late = late or any(e["extensions"]["code"] == "CONTEST_LOCKED" for e in doc.get("errors", ()))
                assert late or "errors" not in doc, doc
        if not late:
            time.sleep(max(0.0, (deadline - time.time_ns() // 10**6) / 1000) + 0.2)
            return contest, match
    raise AssertionError("could not join a contest before its deadline")


def test_live_page_shows_a_contest_and_a_trending_stream_live(stack: Stack, page: Page, log: BrowserLog) -> None:
    base = stack.region_node("eu-west").url
    contest, match = contest_with_three_teams(stack, base, lock_in_ms=4000)
    # p04 scores a six: fan-2 (captain p04, 2×) leads with 12 points, fan-1 (p04 in the team) has 6
    signed_post(stack, base, "/v1/contests/feed", {"events": [{"id": "ev-1", "match": match, "player": "p04", "kind": "six"}]})
    admin = {"Authorization": f"Bearer {stack.admin_key}"}
    httpx.post(f"{base}/v1/admin/streams", headers=admin, json={"id": "maps"}, timeout=10).raise_for_status()
    now = time.time_ns() // 10**6

    def plays(item: str, n: int) -> list[dict[str, Any]]:
        return [{"stream": "maps", "item": item, "at": now - 1000, "event_id": uuid.uuid4().hex} for _ in range(n)]

    signed_post(stack, base, "/v1/events", {"events": plays("dust2", 5) + plays("nuke", 3)})

    page.goto(f"{base}/?contest={contest}&stream=maps")
    contest_rows = page.locator("#contest-top tbody tr[data-id]")
    expect(contest_rows.first).to_have_attribute("data-id", "fan-2/t1")
    expect(contest_rows.first).to_contain_text("12")
    expect(page.locator("#contest-status")).to_have_attribute("data-state", "live")
    trending_rows = page.locator("#trending-top tbody tr[data-id]")
    expect(trending_rows).to_have_count(2)
    expect(trending_rows.first).to_have_attribute("data-id", "dust2")
    expect(trending_rows.first).to_contain_text("5")

    # p00 hits two sixes: fan-0 (captain p00, and p04's six) now leads with 6 + 2×12 = 30; nuke overtakes dust2
    signed_post(stack, base, "/v1/contests/feed", {"events": [
        {"id": "ev-2", "match": match, "player": "p00", "kind": "six"},
        {"id": "ev-3", "match": match, "player": "p00", "kind": "six"}]})
    signed_post(stack, base, "/v1/events", {"events": plays("nuke", 4)})
    expect(contest_rows.first).to_have_attribute("data-id", "fan-0/t1", timeout=UPDATE_WITHIN_MS)
    expect(contest_rows.first).to_contain_text("30")
    expect(trending_rows.first).to_have_attribute("data-id", "nuke", timeout=UPDATE_WITHIN_MS)
    expect(trending_rows.first).to_contain_text("7")

    # the board panel changes the URL without losing the contest and stream
    page.fill("#player", "nobody")
    page.click("#find-form button")
    expect(page.locator("#me-status")).to_have_attribute("data-state", "missing")
    assert f"contest={contest}" in page.url and "stream=maps" in page.url and "player=nobody" in page.url

    assert run_axe(page) == []
    assert log.foreign_requests(base) == []
    assert log.errors == []
