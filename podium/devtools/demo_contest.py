"""A running fantasy contest for `podium up --demo`: a match of 22 players locking a minute after
start, 200 teams built and joined (an admin acting for each demo player), then a live feed of
real-world events every 2 s, so `contestChanged` ticks and the standings move."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import httpx
import orjson
from rich.console import Console

from podium.signing import signed_headers

DEMO_MATCH, DEMO_CONTEST = "demo-final", "demo-cup"
DEMO_TEAMS = 200
DEMO_LOCK_AFTER_S = 60
DEMO_FEED_INTERVAL_S = 2.0
ROLES = ("bat", "bowl", "wk", "ar")
POINTS = {"run": 1, "four": 2, "six": 3, "wicket": 25, "catch": 8}
SAVE = "mutation($t: TeamInput!, $o: String) { saveTeam(team: $t, owner: $o) { version } }"
JOIN = "mutation($c: String!, $t: String!, $o: String) { joinContest(contest: $c, team: $t, owner: $o) { joined } }"


async def _declare(http: httpx.AsyncClient, admin: dict[str, str], deadline_ms: int) -> None:
    players = [{"id": f"p{i:02d}", "role": ROLES[i % 4], "credits": 8} for i in range(22)]
    await http.post("/v1/admin/contests/matches", headers=admin, json={
        "id": DEMO_MATCH, "deadline_ms": deadline_ms, "players": players,
        "scoring": {"version": 1, "points": POINTS}})
    await http.post("/v1/admin/contests", headers=admin, json={
        "id": DEMO_CONTEST, "match": DEMO_MATCH, "capacity": 10_000, "entry_fee": 100,
        "prizes": [{"rank_from": 1, "rank_to": 1, "amount": 5000}, {"rank_from": 2, "rank_to": 10, "amount": 1000}],
        "rules": {"team_size": 11, "credit_cap": 100, "role_min": {"wk": 1}}})


async def _teams(http: httpx.AsyncClient, admin: dict[str, str], rng: random.Random) -> int:
    joined = 0
    for n in range(DEMO_TEAMS):
        picked = rng.sample([f"p{i:02d}" for i in range(22)], 11)
        if not any(int(p[1:]) % 4 == 2 for p in picked):
            picked[0] = "p02"
        team = {"id": "t1", "match": DEMO_MATCH, "players": picked, "captain": picked[0], "vice": picked[1]}
        owner = f"player-{n}"
        await http.post("/graphql", headers=admin, json={"query": SAVE, "variables": {"t": team, "o": owner}})
        r = await http.post("/graphql", headers=admin,
                            json={"query": JOIN, "variables": {"c": DEMO_CONTEST, "t": "t1", "o": owner}})
        joined += bool((r.json().get("data") or {}).get("joinContest"))
    return joined


async def run_contest_demo(base_url: str, key_id: str, secret: str, admin_key: str, stop: asyncio.Event,
                           console: Console, *, seed: int = 11) -> None:
    rng = random.Random(seed)
    admin = {"Authorization": f"Bearer {admin_key}"}
    deadline_ms = int(time.time() * 1000) + DEMO_LOCK_AFTER_S * 1000
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        await asyncio.sleep(1.0)  # let the server bind first
        try:
            await _declare(http, admin, deadline_ms)
            joined = await _teams(http, admin, rng)
            console.print(f"[dim]demo contest {DEMO_CONTEST!r}: {joined} teams joined; it locks in about "
                          f"{max(0, deadline_ms // 1000 - int(time.time()))} s, then events arrive every "
                          f"{DEMO_FEED_INTERVAL_S:.0f} s[/]")
        except (httpx.HTTPError, ValueError) as exc:
            console.print(f"[yellow]demo contest: {exc}[/]")
            return
        n = 0
        while not stop.is_set():
            if time.time() * 1000 >= deadline_ms:
                n += 1
                event: dict[str, Any] = {"id": f"demo-{seed}-{n}", "match": DEMO_MATCH,
                                         "player": f"p{rng.randrange(22):02d}", "kind": rng.choice(list(POINTS))}
                body = orjson.dumps({"events": [event]})
                headers = signed_headers(key_id, secret, "POST", "/v1/contests/feed", int(time.time() * 1000), body)
                try:
                    await http.post("/v1/contests/feed", content=body, headers=headers)
                except httpx.HTTPError as exc:
                    console.print(f"[yellow]demo contest feed: {exc}[/]")
            try:
                await asyncio.wait_for(stop.wait(), DEMO_FEED_INTERVAL_S)
            except TimeoutError:
                pass
