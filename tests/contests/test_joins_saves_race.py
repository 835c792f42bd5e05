"""Saves racing joins: whatever the interleaving, every entry carries its team's current version
(the line-up, captain and vice of the team document as it stands), and every team's record lists
exactly the contests it is in. Several services (as several region processes on one Redis) run
one-join batches with four in flight while saves of the same teams go through other services, so
a join reads a team just before a save replaces it. One contest caps bowlers at 3, so one line-up
is refused there, by a join or by a save, and an entry never holds a line-up its contest refuses.

The oracle is brute force on the stores after the race: each entry's composition is rebuilt from
the stored team and the contest's rules. Two saves of different line-ups never answer the same version."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest
from podium.region.contests.joins import JoinLimits
from podium.region.contests.ledger_batcher import LedgerBatcher
from podium.region.contests.ledger_sqlite import SqliteLedger
from podium.region.contests.model import Contest, Team
from podium.region.contests.service import ContestService
from podium.region.contests.store_redis import RedisContestStore, composition
from podium.region.contests.teams import check_team, multipliers

from podium.clock import SystemClock
from podium.errors import BadUserInput, PodiumError
from tests.contests.test_contests_oracle import contest_doc, match_doc
from tests.contests.test_joins_batched import TEAM_A, TEAM_B

pytestmark = pytest.mark.anyio
SERVICES = 3
TEAMS = 3
CONTESTS = 4          # the last one allows at most 3 bowlers: TEAM_A (4 bowlers) is refused there
ROUNDS = 12
RACING = JoinLimits(window_ms=0.0, batch_max=1, pending_max=10_000, flushes_max=4)


def lineup(rnd: random.Random) -> tuple[list[str], str, str]:
    players = list(rnd.choice((TEAM_A, TEAM_B)))
    captain, vice = rnd.sample(players, 2)
    return players, captain, vice


async def race(redis: Any, tmp: Path, tag: str, seed: int) -> None:
    rnd = random.Random(seed)
    ledgers = [SqliteLedger(tmp / f"{tag}-{n}.db") for n in range(SERVICES)]
    for ledger in ledgers:
        await ledger.open()
    services = [ContestService(RedisContestStore(redis), LedgerBatcher(ledger), SystemClock(), join_limits=RACING)
                for ledger in ledgers]
    svc = services[0]
    match = f"m{tag}"
    await svc.declare_match(match_doc(match, 2**47))
    contests: list[Contest] = []
    for n in range(CONTESTS):
        doc = contest_doc(f"c{n}{tag}", match, fee=0)
        if n == CONTESTS - 1:
            doc["rules"] = {**doc["rules"], "role_max": {"bowl": 3}}
        contests.append(await svc.create_contest(doc))
    for team in range(TEAMS):
        await svc.save_team(f"o{team}", {"id": "t", "match": match, "players": TEAM_B,
                                         "captain": TEAM_B[0], "vice": TEAM_B[1]})
    versions: dict[tuple[int, int], set[tuple[tuple[str, ...], str, str]]] = {}

    async def save(team: int, delay: float) -> None:
        await asyncio.sleep(delay)
        players, captain, vice = lineup(rnd)
        try:
            saved = await services[rnd.randrange(SERVICES)].save_team(
                f"o{team}", {"id": "t", "match": match, "players": players, "captain": captain, "vice": vice})
        except BadUserInput:          # the line-up breaks the rules of a contest the team is in
            return
        versions.setdefault((team, saved["version"]), set()).add((tuple(sorted(players)), captain, vice))

    async def join(team: int, contest: Contest, delay: float) -> None:
        await asyncio.sleep(delay)
        try:
            await services[rnd.randrange(SERVICES)].join(f"o{team}", contest.id, "t")
        except BadUserInput:          # the team's line-up, at that moment, breaks this contest's rules
            pass

    ops = []
    for _ in range(ROUNDS):
        for team in range(TEAMS):
            ops.append(save(team, rnd.random() * 0.01))
            ops.append(join(team, rnd.choice(contests), rnd.random() * 0.01))
    await asyncio.gather(*ops)
    for service in services:
        await service.aclose()
    for ledger in ledgers:
        await ledger.close()

    entries = {c.id: await svc.store.entries(c.id) for c in contests}
    for team in range(TEAMS):
        key = f"o{team}/t"
        doc = await svc.store.team(match, key)
        assert doc is not None
        stored = Team.from_dict(f"o{team}", doc)
        joined = sorted(c.id for c in contests if key in entries[c.id])
        assert sorted(doc["contests"]) == joined, (seed, key, doc["contests"], joined)
        for contest in contests:
            if key not in entries[contest.id]:
                continue
            check_team(stored, await svc._match(match), contest.rules)
            want = composition(stored, multipliers(stored, contest.rules), doc["version"])
            assert entries[contest.id][key] == want, (seed, key, contest.id, doc["version"])
    for (team, version), contents in versions.items():
        assert len(contents) == 1, (seed, team, version, contents)     # one version, one line-up


async def test_entries_carry_the_current_team_whatever_the_interleaving(redis_single: Any, tmp_path: Path) -> None:
    for seed in range(6):
        await race(redis_single, tmp_path, f"s{seed}", seed)


async def test_a_join_meeting_a_save_it_did_not_read(redis_single: Any, tmp_path: Path) -> None:
    """The exact interleaving: a join reads the team (line-up B), a save replaces it before the join
    is recorded. The entry must hold the saved line-up, or be refused where that line-up is not allowed."""
    ledger = SqliteLedger(tmp_path / "l.db")
    await ledger.open()
    svc = ContestService(RedisContestStore(redis_single), LedgerBatcher(ledger), SystemClock(), join_limits=RACING)
    await svc.declare_match(match_doc("mx", 2**47))
    loose = await svc.create_contest(contest_doc("cl", "mx", fee=0))
    strict_doc = contest_doc("cs", "mx", fee=0)
    strict_doc["rules"] = {**strict_doc["rules"], "role_max": {"bowl": 3}}
    strict = await svc.create_contest(strict_doc)
    await svc.save_team("o", {"id": "t", "match": "mx", "players": TEAM_B, "captain": TEAM_B[0], "vice": TEAM_B[1]})
    entries = svc.joins.entries
    original = entries.enter
    saved: list[dict[str, Any]] = []

    async def enter_after_a_save(batches: Any) -> Any:
        if not saved:             # the join has read line-up B; line-up A is saved before it enters
            saved.append(await svc.save_team("o", {"id": "t", "match": "mx", "players": TEAM_A,
                                                   "captain": TEAM_A[2], "vice": TEAM_A[3]}))
        return await original(batches)

    entries.enter = enter_after_a_save  # type: ignore[method-assign]
    answer = await svc.join("o", loose.id, "t")
    assert answer["joined"] is True
    saved.clear()
    await svc.save_team("o", {"id": "t", "match": "mx", "players": TEAM_B, "captain": TEAM_B[0], "vice": TEAM_B[1]})
    with pytest.raises(PodiumError) as refused:
        await svc.join("o", strict.id, "t")
    entries.enter = original  # type: ignore[method-assign]
    await svc.aclose()
    await ledger.close()
    assert refused.value.code == "BAD_USER_INPUT"
    doc = await svc.store.team("mx", "o/t")
    assert doc is not None and doc["version"] == 4 and doc["contests"] == [loose.id]
    team = Team.from_dict("o", doc)
    assert sorted(team.players) == sorted(TEAM_A)
    assert (await svc.store.entries(loose.id))["o/t"] == composition(team, multipliers(team, loose.rules), 4)
    assert "o/t" not in await svc.store.entries(strict.id)
