"""Concurrent join batches for the same teams into many contests: every contest a team entered is on
the team's record, once, whatever the interleaving. Several services (as several region processes
on one Redis) each run one-join batches, four in flight at once, so batches read a team before
others have written it; a team saved again meanwhile keeps its new line-up and its contests. The
oracle is the contests' own entries (who is in each contest), read after the race."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from podium.region.contests.joins import JoinLimits
from podium.region.contests.joins_redis import RedisJoins
from podium.region.contests.ledger_batcher import LedgerBatcher
from podium.region.contests.ledger_sqlite import SqliteLedger
from podium.region.contests.service import ContestService
from podium.region.contests.store_redis import RedisContestStore, match_key

from podium.clock import SystemClock
from tests.contests.test_contests_oracle import contest_doc, match_doc
from tests.contests.test_joins_batched import TEAM_A, TEAM_B

pytestmark = pytest.mark.anyio
CONTESTS = 16
TEAMS = 3
SERVICES = 3
# each join its own batch, four batches in flight per service: the most interleaving
RACING = JoinLimits(window_ms=0.0, batch_max=1, pending_max=10_000, flushes_max=4)


async def race(redis: Any, tmp: Path, tag: str, joins: list[tuple[int, int, int]], resave: int | None) -> None:
    """`joins`: (service, team, contest), all sent at once; `resave`: a team saved again during the
    race (each time two more contests are on its record, line-ups B and A in turn), or None."""
    ledgers = [SqliteLedger(tmp / f"{tag}-{n}.db") for n in range(SERVICES)]
    for ledger in ledgers:
        await ledger.open()
    services = [ContestService(RedisContestStore(redis), LedgerBatcher(ledger), SystemClock(), join_limits=RACING)
                for ledger in ledgers]
    svc = services[0]
    match = f"m{tag}"
    await svc.declare_match(match_doc(match, 2**47))
    contests = [f"c{n}{tag}" for n in range(CONTESTS)]
    for contest in contests:
        await svc.create_contest(contest_doc(contest, match, fee=0))
    for team in range(TEAMS):
        await svc.save_team(f"o{team}", {"id": "t", "match": match, "players": TEAM_A,
                                         "captain": TEAM_A[0], "vice": TEAM_A[1]})
    joining = [services[s].join(f"o{t}", contests[c], "t") for s, t, c in joins]
    finished = asyncio.Event()

    async def all_joins() -> None:
        await asyncio.gather(*joining)
        finished.set()

    async def save_again(n: int) -> None:
        """Saves the team once its record shows 2n contests (mid-race), or once every join is done."""
        while not finished.is_set() and len((await svc.store.team(match, f"o{resave}/t") or {})["contests"]) < 2 * n:
            await asyncio.sleep(0.001)
        lineup = (TEAM_B, TEAM_A)[n % 2]
        await services[n % SERVICES].save_team(
            f"o{resave}", {"id": "t", "match": match, "players": lineup, "captain": lineup[0], "vice": lineup[1]})

    saves = [save_again(n) for n in range(CONTESTS // 2)] if resave is not None else []
    await asyncio.gather(all_joins(), *saves)
    for service in services:
        await service.aclose()
    for ledger in ledgers:
        await ledger.close()
    entered = {contest: set(await svc.store.entries(contest)) for contest in contests}
    for team in range(TEAMS):
        key = f"o{team}/t"
        record = await svc.store.team(match, key)
        assert record is not None
        oracle = sorted(c for c in contests if key in entered[c])
        assert sorted(record["contests"]) == oracle, (key, record["contests"])
        assert len(set(record["contests"])) == len(record["contests"]), record["contests"]
        lineups = [sorted(TEAM_A), sorted(TEAM_B)] if team == resave else [sorted(TEAM_A)]
        assert record["players"] in lineups, record["players"]


async def test_racing_join_batches_keep_every_contest_on_the_team(redis_single: Any, tmp_path: Path) -> None:
    everything = [(s, t, c) for t in range(TEAMS) for c in range(CONTESTS) for s in range(SERVICES)]
    cases: list[tuple[list[tuple[int, int, int]], int | None]] = []

    @settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.permutations(everything), st.none() | st.integers(0, TEAMS - 1))
    def collect(joins: list[tuple[int, int, int]], resave: int | None) -> None:
        cases.append((joins, resave))

    collect()
    cases[:0] = [(everything, None), (everything, 1)]      # every team into every contest from every service
    for n, (joins, resave) in enumerate(cases):
        await race(redis_single, tmp_path, f"r{n}", joins, resave)


async def test_recording_extends_any_stored_list(redis_single: Any) -> None:
    """Documents with no list, an empty one and a longer one: each contest is appended once, in
    order, and the rest of the document is left as it was."""
    docs = {"a/t": {"owner": "a", "id": "t", "version": 1},
            "b/t": {"owner": "b", "id": "t", "version": 2, "contests": []},
            "c/t": {"owner": "c\"contests\":[x]", "id": "t", "version": 3, "contests": ["k1", "k2"]}}
    await redis_single.hset(match_key("rj", "teams"), mapping={k: orjson.dumps(v) for k, v in docs.items()})
    joins = [(k, c, docs[k]["version"]) for c in ("k2", "k3", "k2") for k in docs] + [("missing/t", "k1", 1)]
    replies = await RedisJoins(redis_single).record_joined({"rj": (2**47, [*joins, ("a/t", "k9", 2)])})
    raw_a = await redis_single.hget(match_key("rj", "teams"), "a/t")
    assert replies == {"rj": [1] * 9 + [0, raw_a]}      # a/t is at version 1, not 2: k9 is not recorded
    stored = {k.decode(): orjson.loads(v) for k, v in (await redis_single.hgetall(match_key("rj", "teams"))).items()}
    want = {"a/t": ["k2", "k3"], "b/t": ["k2", "k3"], "c/t": ["k1", "k2", "k3"]}
    assert stored == {k: {**docs[k], "contests": want[k]} for k in docs}
