"""Contests on a real redis-server against a brute-force oracle: random teams and event streams
(duplicates, voids, any order) give every entry's points and rank exactly; settlement pays the
prize table, the ledger sums to zero, and settling again changes nothing."""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from podium.region.contests.ledger_batcher import LedgerBatcher
from podium.region.contests.ledger_sqlite import SqliteLedger
from podium.region.contests.model import POINT_SCALE, PrizeBand
from podium.region.contests.service import ContestService, SettlementSigner
from podium.region.contests.settlement import payouts
from podium.region.contests.store_redis import BOARD_SCALE, RedisContestStore

from podium.clock import SystemClock
from podium.errors import Conflict, ContestLocked

pytestmark = pytest.mark.anyio
ROLES = ["bat", "bowl", "wk", "ar"]
POINTS = {"run": 1, "four": 2, "six": 3.5, "wicket": 25}


def match_doc(match_id: str, deadline_ms: int) -> dict[str, Any]:
    return {"id": match_id, "deadline_ms": deadline_ms,
            "players": [{"id": f"p{i:02d}", "role": ROLES[i % 4], "credits": 8} for i in range(22)],
            "scoring": {"version": 1, "points": POINTS}}


def contest_doc(contest_id: str, match_id: str, fee: int = 100) -> dict[str, Any]:
    return {"id": contest_id, "match": match_id, "capacity": 1000, "entry_fee": fee,
            "prizes": [{"rank_from": 1, "rank_to": 1, "amount": 1000}, {"rank_from": 2, "rank_to": 5, "amount": 300}],
            "rules": {"team_size": 11, "credit_cap": 100, "role_min": {"wk": 1}}}


async def service_for(redis: Any, tmp: Path) -> tuple[ContestService, SqliteLedger]:
    ledger = SqliteLedger(tmp / "ledger.db")
    await ledger.open()
    return ContestService(RedisContestStore(redis), LedgerBatcher(ledger), SystemClock(),
                          SettlementSigner("k1", "s3cret")), ledger


def random_team(rnd: random.Random, n: int) -> dict[str, Any]:
    players = rnd.sample([f"p{i:02d}" for i in range(22)], 11)
    if not any(int(p[1:]) % 4 == 2 for p in players):             # at least one wk
        players[0] = "p02" if "p02" not in players else players[0]
    captain, vice = rnd.sample(players, 2)
    return {"id": f"t{n}", "match": "m", "players": players, "captain": captain, "vice": vice}


async def wait_until_ms(deadline_ms: int) -> None:
    await asyncio.sleep(max(0.0, deadline_ms / 1000 - time.time()) + 0.05)


@pytest.mark.parametrize("seed", range(4))
async def test_random_contest_equals_the_oracle(redis_single: Any, tmp_path: Path, seed: int) -> None:
    rnd = random.Random(seed)
    svc, ledger = await service_for(redis_single, tmp_path)
    deadline = int(time.time() * 1000) + 6000      # up to 40 teams saved and joined first, even on a loaded machine
    await svc.declare_match({**match_doc("m", deadline)})
    await svc.create_contest(contest_doc("c", "m"))
    teams: dict[str, dict[str, Any]] = {}
    for n in range(rnd.randint(3, 40)):
        owner = f"u{rnd.randint(0, 30)}"
        saved = await svc.save_team(owner, random_team(rnd, n))
        if rnd.random() < 0.3:                                  # edit before the deadline: the last version counts
            saved = await svc.save_team(owner, random_team(rnd, n))
        teams[f"{owner}/t{n}"] = saved
    for key in list(teams):
        owner, team_id = key.split("/")
        try:
            await svc.join(owner, "c", team_id)
            await svc.join(owner, "c", team_id)                 # idempotent
        except Conflict as exc:                                 # one entry per owner: later teams refused
            assert "at most 1 entries" in str(exc)
            del teams[key]
    await wait_until_ms(deadline)
    # events: some duplicated, some voided, shuffled
    events = [{"id": f"e{i}", "match": "m", "player": f"p{rnd.randint(0, 21):02d}", "kind": rnd.choice(list(POINTS)),
               "count": rnd.randint(1, 3)} for i in range(rnd.randint(1, 30))]
    voids = [{"id": f"v{e['id']}", "match": "m", "player": e["player"], "kind": "void", "voids": e["id"]}
             for e in rnd.sample(events, len(events) // 4)]
    stream = events + rnd.sample(events, len(events) // 3)
    rnd.shuffle(stream)
    results = await svc.feed(stream) + (await svc.feed(voids + voids[:2]) if voids else [])
    assert not [r for r in results if r["status"] == "rejected"]
    # oracle
    player_points: dict[str, int] = defaultdict(int)
    for e in events:
        player_points[e["player"]] += round(POINTS[e["kind"]] * POINT_SCALE) * e["count"]
    for v in voids:
        e = next(x for x in events if x["id"] == v["voids"])
        player_points[e["player"]] -= round(POINTS[e["kind"]] * POINT_SCALE) * e["count"]
    expected: dict[str, int] = {}
    for key, team in teams.items():
        mult = {p: POINT_SCALE for p in team["players"]} | {team["captain"]: 200, team["vice"]: 150}
        expected[key] = sum(player_points[p] * m for p, m in mult.items())
    ranked = sorted(expected.items(), key=lambda kv: (-kv[1], kv[0]))
    got = await svc.store.all_standings("c")
    assert got == ranked
    page = await svc.standings("c", first=3, entry=ranked[-1][0], around=1)
    assert [s["entry"] for s in page["top"]] == [k for k, _ in ranked[:3]]
    assert page["top"][0]["points"] == ranked[0][1] / BOARD_SCALE
    # settlement
    settled = await svc.settle("c")
    collected, pool = 100 * len(teams), 1000 + 4 * 300
    bands = [PrizeBand(1, 1, 1000 * min(collected, pool) // pool), PrizeBand(2, 5, 300 * min(collected, pool) // pool)]
    assert {p["entry"]: p["amount"] for p in settled["settlement"]["payouts"]} == payouts(ranked, bands)
    assert await ledger.total() == 0 and await ledger.balance("escrow:c") == 0
    before = await ledger.balances("")
    assert await svc.settle("c") == settled                     # replay: the same document, nothing posted
    assert await ledger.balances("") == before
    await ledger.close()


async def test_no_write_is_accepted_after_the_deadline(redis_single: Any, tmp_path: Path) -> None:
    """Many writers race the lock: every write that succeeded started before the deadline, every
    entry in Redis is one that was acknowledged, and nothing changes once locked."""
    svc, ledger = await service_for(redis_single, tmp_path)
    deadline = int(time.time() * 1000) + 3000
    await svc.declare_match(match_doc("race", deadline))
    await svc.create_contest({**contest_doc("cr", "race"), "capacity": 100_000})
    rnd = random.Random(7)
    acked: set[str] = set()
    late_ok: list[str] = []

    async def writer(w: int) -> None:
        n = 0
        while time.time() * 1000 < deadline + 300:
            n += 1
            started = time.time() * 1000
            team = {**random_team(rnd, n), "match": "race", "id": f"w{w}n{n}"}
            try:
                await svc.save_team(f"w{w}x{n}", team)
                await svc.join(f"w{w}x{n}", "cr", team["id"])
            except ContestLocked:
                continue
            acked.add(f"w{w}x{n}/{team['id']}")
            if started >= deadline:
                late_ok.append(team["id"])

    await asyncio.gather(*(writer(w) for w in range(40)))
    assert not late_ok
    entries = await svc.store.entries("cr")
    assert set(entries) == acked and acked
    assert await svc.store.lock("cr") == "locked"
    with pytest.raises(ContestLocked):
        await svc.join("late", "cr", "t1")
    assert await ledger.balance("escrow:cr") == 100 * len(acked)
    await ledger.close()
