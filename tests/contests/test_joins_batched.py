"""joinContest in batches: the same joins, sent one at a time (a batch each) and all at once (one
batch), get the same answers, entries, team records and ledger — capacity, per-player limits,
repeats, unknown teams and broken rules included."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from podium.region.contests.joins import JoinLimits
from podium.region.contests.ledger_batcher import LedgerBatcher
from podium.region.contests.ledger_sqlite import SqliteLedger
from podium.region.contests.service import ContestService
from podium.region.contests.store_redis import RedisContestStore

from podium.clock import SystemClock
from podium.errors import PodiumError
from tests.contests.test_contests_oracle import contest_doc, match_doc

pytestmark = pytest.mark.anyio
OWNERS = 6
# Roles cycle bat, bowl, wk, ar by player number (contest_oracle's match): the first two line-ups
# suit both contests, the third has four batters (the second contest allows two).
TEAM_A = ["p01", "p02", "p03", "p05", "p06", "p07", "p09", "p10", "p11", "p13", "p00"]
TEAM_B = ["p14", "p15", "p17", "p18", "p19", "p21", "p04", "p02", "p03", "p05", "p07"]
FOUR_BATTERS = ["p00", "p04", "p08", "p12", "p02", "p01", "p05", "p09", "p13", "p17", "p21"]


def outcome(result: Any) -> Any:
    return result.code if isinstance(result, PodiumError) else result


async def scenario(redis: Any, tmp: Path, tag: str, joins: list[tuple[int, int, int]], together: bool) -> dict[str, Any]:
    """Two contests (capacity 5; the second allows 2 entries per player) of one match; each owner has
    three teams, the third breaks the second contest's role quota. `joins`: (owner, contest, team)."""
    ledger = SqliteLedger(tmp / f"{tag}.db")
    await ledger.open()
    svc = ContestService(RedisContestStore(redis), LedgerBatcher(ledger), SystemClock(),
                         join_limits=JoinLimits(window_ms=5.0, batch_max=1000))
    match, deadline = f"m{tag}", 2**47
    await svc.declare_match(match_doc(match, deadline))
    await svc.create_contest({**contest_doc(f"a{tag}", match), "capacity": 5, "prizes": []})
    await svc.create_contest({**contest_doc(f"b{tag}", match), "capacity": 5, "entries_per_player_max": 2, "prizes": [],
                              "rules": {"team_size": 11, "credit_cap": 100, "role_min": {"wk": 1}, "role_max": {"bat": 2}}})
    lineups = [TEAM_A, TEAM_B, FOUR_BATTERS]
    for owner in range(OWNERS):
        for n, players in enumerate(lineups):
            await svc.save_team(f"o{owner}", {"id": f"t{n}", "match": match, "players": players,
                                              "captain": players[0], "vice": players[1]})
    calls = [(f"o{o}", f"{'ab'[c]}{tag}", f"t{t}") for o, c, t in joins]

    async def one(owner: str, contest: str, team: str) -> Any:
        try:
            return await svc.join(owner, contest, team)
        except PodiumError as exc:
            return exc

    if together:
        answers = await asyncio.gather(*(one(*c) for c in calls))
    else:
        answers = [await one(*c) for c in calls]
    await svc.aclose()
    entries = {c: sorted(await svc.store.entries(f"{c}{tag}")) for c in "ab"}
    teams = {o: [(await svc.store.team(match, f"o{o}/t{t}") or {}).get("contests") for t in range(4)] for o in range(OWNERS)}
    balances = await ledger.balances("")
    await ledger.close()
    return {"answers": [outcome(a) if not isinstance(a, dict) else {**a, "contest": a["contest"][0]} for a in answers],
            "entries": entries, "teams": {o: [[c[0] for c in cs] if cs else cs for cs in v] for o, v in teams.items()},
            "balances": {k.replace(tag, ""): v for k, v in balances.items()}}


async def test_batched_joins_answer_as_one_by_one(redis_single: Any, tmp_path: Path) -> None:
    join = st.tuples(st.integers(0, OWNERS - 1), st.integers(0, 1), st.integers(0, 3))   # team 3 was never saved
    cases: list[list[tuple[int, int, int]]] = []

    @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(join, min_size=1, max_size=30))
    def collect(joins: list[tuple[int, int, int]]) -> None:
        cases.append(joins)

    collect()
    # every answer kind: joined, repeated, full, one entry per player, broken rule, unknown team
    every = [(0, 0, 0), (0, 0, 0), (0, 0, 1), (1, 0, 0), (2, 0, 1), (3, 0, 0), (4, 0, 0), (5, 0, 0),
             (1, 1, 2), (2, 1, 3), (3, 1, 0), (3, 1, 1)]
    cases.insert(0, every)
    for n, joins in enumerate(cases):
        alone = await scenario(redis_single, tmp_path, f"s{n}", joins, together=False)
        batched = await scenario(redis_single, tmp_path, f"g{n}", joins, together=True)
        assert batched == alone, joins
        if n == 0:
            kinds = {a if isinstance(a, str) else a["joined"] for a in alone["answers"]}
            assert kinds == {True, False, "CONFLICT", "BAD_USER_INPUT", "NOT_FOUND"}, alone["answers"]
