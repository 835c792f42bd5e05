"""The contest feed in event-log mode over a real broker and real `podium worker` processes: the
feed answers `accepted` once the contest-feed topic has the events, the worker fans them out, and
the boards equal the brute-force oracle, also when the worker is killed in the middle of a fan-out
and a new one replays the uncommitted records (each event's progress key makes it exactly once)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import redis
from podium.region.contests.ledger_batcher import LedgerBatcher
from podium.region.contests.ledger_sqlite import SqliteLedger
from podium.region.contests.model import POINT_SCALE
from podium.region.contests.service import ContestService
from podium.region.contests.store_redis import RedisContestStore, contest_key
from redis import asyncio as aioredis

from podium.clock import SystemClock
from tests.contests.test_contests_http import signed_post
from tests.contests.test_contests_oracle import POINTS, contest_doc, match_doc, random_team
from tests.stream.conftest import kafka_bootstrap, kafka_broker, stream_region, wait_until  # noqa: F401 - fixtures

# One entry per Lua call (one team per index page for batched events, one entry per chunk for a
# single event): a fan-out takes many calls, so a worker can be killed in the middle of one.
EVENT_LOG = {"PODIUM_CONTESTS__EVENT_LOG": "true", "PODIUM_CONTESTS__FANOUT_CHUNK_ENTRIES": "1",
             "PODIUM_CONTESTS__INDEX_SCAN_ENTRIES": "1"}

@contextlib.asynccontextmanager
async def contest_service(redis_url: str, ledger_path: Path) -> AsyncIterator[ContestService]:
    """A contest service on the region's Redis and a SQLite ledger, closed (ledger batches flushed) on exit."""
    client = aioredis.Redis.from_url(redis_url)
    ledger = SqliteLedger(ledger_path)
    await ledger.open()
    svc = ContestService(RedisContestStore(client), LedgerBatcher(ledger), SystemClock())
    try:
        yield svc
    finally:
        await svc.ledger.aclose()
        await ledger.close()
        await client.aclose()



def contests_with_teams(redis_url: str, tmp: Path, teams_n: int, seed: int) -> tuple[str, list[str], dict[str, Any]]:
    """A match (deadline ~4 s ahead) with two contests and `teams_n` random teams in both (set up
    in-process on the region's Redis); returns the match id, contest ids and the teams."""
    rnd, match = random.Random(seed), f"m{uuid.uuid4().hex[:8]}"
    contests = [f"{match}-a", f"{match}-b"]

    async def setup() -> dict[str, Any]:
        async with contest_service(redis_url, tmp / f"{match}.db") as svc:
            deadline = int(time.time() * 1000) + 4000
            await svc.declare_match(match_doc(match, deadline))
            for c in contests:
                await svc.create_contest({**contest_doc(c, match, fee=0), "capacity": 10_000})
            # all at once (joins share batches), so a loaded machine still gets every team in before the deadline
            docs = [(f"u{n}", {**random_team(rnd, n), "match": match}) for n in range(teams_n)]
            room = asyncio.Semaphore(8)                   # the client's connection pool is bounded

            async def save(owner: str, doc: dict[str, Any]) -> dict[str, Any]:
                async with room:
                    return await svc.save_team(owner, doc)

            saved = await asyncio.gather(*(save(owner, doc) for owner, doc in docs))
            await asyncio.gather(*(svc.join(owner, c, s["id"]) for (owner, _), s in zip(docs, saved, strict=True)
                                   for c in contests))
            teams = {f"{owner}/{s['id']}": s for (owner, _), s in zip(docs, saved, strict=True)}
        await asyncio.sleep(max(0.0, deadline / 1000 - time.time()) + 0.1)
        return teams

    return match, contests, asyncio.run(setup())


def events_of(rnd: random.Random, match: str, n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    events = [{"id": f"e{i}", "match": match, "player": f"p{rnd.randint(0, 21):02d}", "kind": rnd.choice(list(POINTS)),
               "count": rnd.randint(1, 3)} for i in range(n)]
    voids = [{"id": f"v{e['id']}", "match": match, "player": e["player"], "kind": "void", "voids": e["id"]}
             for e in rnd.sample(events, n // 4)]
    return events, voids


def oracle(teams: dict[str, Any], events: list[dict[str, Any]], voids: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """Every entry's board points (ten-thousandths), best first, equal points by entry key."""
    points: dict[str, int] = defaultdict(int)
    voided = {v["voids"] for v in voids}
    for e in events:
        if e["id"] not in voided:
            points[e["player"]] += round(POINTS[e["kind"]] * POINT_SCALE) * e["count"]
    expected = {}
    for key, team in teams.items():
        mult = {p: POINT_SCALE for p in team["players"]} | {team["captain"]: 200, team["vice"]: 150}
        expected[key] = sum(points[p] * m for p, m in mult.items())
    return sorted(expected.items(), key=lambda kv: (-kv[1], kv[0]))


def board(client: redis.Redis, contest: str) -> list[tuple[str, int]]:
    rows = client.zrange(contest_key(contest, "board"), 0, -1, withscores=True)
    return [(m.decode(), -int(s)) for m, s in rows]


def post_feed(base: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    r = signed_post(base, "/v1/contests/feed", {"events": events})
    assert r.status_code == 200, r.text
    results: list[dict[str, Any]] = r.json()["results"]
    return results


def test_feed_events_through_the_log_equal_the_oracle(stream_region: Any, tmp_path: Path) -> None:  # noqa: F811
    region = stream_region(workers=1, **EVENT_LOG)
    client = redis.Redis.from_url(region.env["REDIS_URL"])
    rnd = random.Random(7)
    match, contests, teams = contests_with_teams(region.env["REDIS_URL"], tmp_path, 30, seed=7)
    events, voids = events_of(rnd, match, 24)
    stream = events + rnd.sample(events, 8)                      # duplicates: the same ids again
    rnd.shuffle(stream)
    results = post_feed(region.url, stream)
    assert {r["status"] for r in results} == {"accepted"}, results
    assert {r["status"] for r in post_feed(region.url, voids + voids[:2])} == {"accepted"}
    clash = post_feed(region.url, [{**events[0], "player": "p21" if events[0]["player"] != "p21" else "p20"}])
    assert clash[0]["status"] == "rejected" and clash[0]["code"] == "CONFLICT"    # an id keeps its first event
    want = oracle(teams, events, voids)
    assert any(points for _, points in want)
    for contest in contests:
        assert wait_until(lambda c=contest: board(client, c) == want, 90)
    client.close()


def test_a_worker_killed_mid_fan_out_applies_every_event_once(stream_region: Any, tmp_path: Path) -> None:  # noqa: F811
    region = stream_region(workers=0, **EVENT_LOG)      # events wait in the topic until a worker starts
    client = redis.Redis.from_url(region.env["REDIS_URL"])
    rnd = random.Random(11)
    match, contests, teams = contests_with_teams(region.env["REDIS_URL"], tmp_path, 120, seed=11)
    events, voids = events_of(rnd, match, 80)
    assert {r["status"] for r in post_feed(region.url, events + voids)} == {"accepted"}
    progress = [contest_key(c, f"ev:{e['id']}") for c in contests for e in events + voids]

    def mid_fan_out() -> bool:
        # Some fan-out part-way: claimed by a batch ("b:<id>", whose events are all marked done by
        # its last page) or at a position (one event alone). The worker may take every event of a
        # contest in one batch, so a count of "done" events is no sign of being in the middle.
        return any(v not in (None, b"done") for v in client.mget(progress))

    first = region.add_worker()
    wait_until(mid_fan_out, 90, interval_s=0.002)
    first.kill()                                               # SIGKILL: no offset commit, no clean leave
    at_kill = [None if v is None else v.decode() for v in client.mget(progress)]
    assert at_kill.count("done") < len(progress), "the worker finished before it was killed"
    partial = [v for v in at_kill if v not in (None, "done")]
    region.add_worker()
    want = oracle(teams, events, voids)
    for contest in contests:
        assert wait_until(lambda c=contest: board(client, c) == want, 90)
    # the boards can equal the oracle before the last events are marked: an event and its void
    # both still queued change nothing, so wait for the marks too
    wait_until(lambda: all(v == b"done" for v in client.mget(progress)), 90)
    left = {k: v for k, v in zip(progress, client.mget(progress), strict=True) if v != b"done"}
    assert not left, f"fan-outs not marked done: {list(left.items())[:10]} ({len(left)} in all)"
    print(f"killed with {at_kill.count('done')} of {len(progress)} fan-outs done, {len(partial)} part-way")
    client.close()
