"""Measures the contest feed inline vs in event-log mode in one run (same Redis, same broker, same
contest size): the feed request's latency and the time until every event's fan-out is applied.
Not a test; run from the repo root: `python -m tests.contests.measure_feed_log --teams 100000`."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from podium.region.contests.store_redis import contest_key

from benchmarks.contests_bench import PLAYERS, _fill, contest_doc, match_doc
from podium.devtools.kafka_broker import KafkaCluster
from podium.redis_server import RedisServer
from tests.contests.test_contests_http import signed_post
from tests.contests.test_feed_event_log import contest_service
from tests.stream.conftest import StreamRegion, stream_env


async def _ready_contest(redis_url: str, match: str, teams: int, tmp: Path) -> None:
    """A locked, indexed contest of `teams` entries (set-up, not measured)."""
    async with contest_service(redis_url, tmp / f"{match}.db") as svc:
        deadline = int(time.time() * 1000) + 1500
        await svc.declare_match(match_doc(match, deadline))
        await svc.create_contest(contest_doc(f"{match}-c", match, max(teams, 1)))
        await _fill(svc.store.redis, f"{match}-c", teams, random.Random(1))
        await asyncio.sleep(max(0.0, deadline / 1000 - time.time()) + 0.05)
        await svc.ready_contests(match)


async def _all_done(redis_url: str, keys: list[str], timeout_s: float = 600) -> None:
    client = aioredis.Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not all(v == b"done" for v in await client.mget(keys)):
        await asyncio.sleep(0.005)
    await client.aclose()


def measure(region: StreamRegion, match: str, teams: int, events: int, tmp: Path) -> dict[str, Any]:
    redis_url = region.env["REDIS_URL"]
    asyncio.run(_ready_contest(redis_url, match, teams, tmp))
    batch = [{"id": f"e{i}", "match": match, "player": PLAYERS[i % len(PLAYERS)], "kind": "six"} for i in range(events)]
    t0 = time.perf_counter()
    r = signed_post(region.url, "/v1/contests/feed", {"events": batch})
    answered_s = time.perf_counter() - t0
    assert r.status_code == 200, r.text
    asyncio.run(_all_done(redis_url, [contest_key(f"{match}-c", f"ev:{e['id']}") for e in batch]))
    applied_s = time.perf_counter() - t0
    updated = teams * 11 * events // len(PLAYERS)           # every team holds 11 of the 22 players
    return {"feed_answered_ms": round(answered_s * 1000, 1), "applied_ms": round(applied_s * 1000, 1),
            "entries_updated_approx": updated, "entries_per_s": round(updated / applied_s)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=22)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="feedlog-"))
    with RedisServer(tmp / "redis", appendonly=False) as redis_server, KafkaCluster(tmp / "kafka") as kafka:
        inline = StreamRegion(stream_env(redis_server.url, kafka.bootstrap))
        inline.server.start()
        baseline = measure(inline, "inline", args.teams, args.events, tmp)
        print(json.dumps({"inline_baseline": baseline}), flush=True)
        inline.close()
        logged = StreamRegion(stream_env(redis_server.url, kafka.bootstrap, PODIUM_CONTESTS__EVENT_LOG="true"))
        logged.server.start()
        logged.add_worker()
        measure(logged, "warm", 10, 1, tmp)                  # the worker has joined its group and applies
        event_log = measure(logged, "logged", args.teams, args.events, tmp)
        logged.close()
    print(json.dumps({"teams": args.teams, "events": args.events, "inline_baseline": baseline,
                      "event_log": event_log,
                      "answer_ratio_inline_over_log": round(baseline["feed_answered_ms"] / event_log["feed_answered_ms"], 1),
                      "applied_ratio_log_over_inline": round(event_log["applied_ms"] / baseline["applied_ms"], 2)}))


if __name__ == "__main__":
    main()
