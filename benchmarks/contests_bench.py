"""Contests: one real-world event fanned out to every team holding that player, and joins per
second with the ledger, against baselines measured in the same run.

- fan-out: a match of 22 players, one contest of `teams` teams (11 players each, random captain and
  vice). The teams are written straight into the contest's Redis hash (set-up, not measured), the
  contest locks and is indexed (measured), then one event for the most-picked player is fed through
  ContestService.feed (measured: teams updated per second). Baseline: what a team would otherwise
  write — read every entry and ZINCRBY the teams holding that player, pipelined from Python.
- live: on the same indexed contest, `events_per_min` feed events (random players) for `seconds`,
  with `subscribers` in-process subscribers on the contest's fan-out hub (the one `contestChanged`
  and `contestEntryChanged` use), each watching the top 10 and its own entry's rank. Measured: each
  event's scheduled time → board updated (feed ack, queueing included), and each frame's tick →
  received lag over every subscriber. Baseline (same run, same hub, subscribers and rate): events
  that each change one entry (no fan-out), so the ratio is what the fan-out adds to a tick.
- joins: `joins` concurrent ContestService.join calls (team saved first), ledger on SQLite (and on a
  real PostgreSQL server when one can be started), joins per second; then joinContest over HTTP
  (`contest_joins_http`: wrk, one player JWT per request, on a `podium serve` process) per second
  and per server CPU-second, with the same server's GET /healthz as its ceiling.

    python benchmarks/contests_bench.py [--teams 1000000] [--joins 20000] [--events-per-min 200]
        [--seconds 300] [--subscribers 2000] [--tick-ms 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from podium.region.contests.joins import JoinLimits
from podium.region.contests.ledger import Ledger
from podium.region.contests.ledger_batcher import LedgerBatcher
from podium.region.contests.ledger_postgres import PostgresLedger
from podium.region.contests.ledger_sqlite import SqliteLedger
from podium.region.contests.model import POINT_SCALE
from podium.region.contests.service import FEED_EVENTS_MAX, ContestService
from podium.region.contests.store_redis import FANOUT_CHUNK_ENTRIES, RedisContestStore, contest_key

from podium.clock import SystemClock
from podium.config import ApiLimits
from podium.devtools.bench import contest_joins_http, contest_live_ws, wrk
from podium.devtools.bench.contest_scripts_before import index_and_fan_out_before, index_and_fan_out_now
from podium.fanout import FanOut
from podium.redis_server import RedisServer

PLAYERS = [f"p{i:02d}" for i in range(22)]
ROLES = ["bat", "bowl", "wk", "ar"]
PIPELINE_ENTRIES = 10_000
JOIN_CONCURRENCY = 1000          # joins in flight (many players at once; 10k joins/s at 100 ms each is 1,000)


def _redis_cpu_s(info: dict[str, Any]) -> float:
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 1)


async def _subscribe(hub: FanOut, contest: str, entry: str, lags: list[float], stop: asyncio.Event) -> None:
    """One subscriber: the top 10 and its own entry; records each frame's lag behind its tick."""

    async def follow(updates: Any) -> None:
        async for update in updates:
            lags.append(time.time() * 1000 - update.as_of_ms)
            if stop.is_set():
                return

    await asyncio.gather(follow(hub.subscribe_top(contest, 10)), follow(hub.subscribe_rank(contest, entry)))


async def _live(redis: aioredis.Redis, svc: ContestService, events_per_min: int, seconds: float, subscribers: int,
                tick_ms: int, teams: int, overtaken_batched: bool = True, tag: str = "live") -> dict[str, Any]:
    """`overtaken_batched` False: the baseline hub reads each moved entry's overtakers in its own
    round trip, one after another (the tick before the batched read)."""
    store = svc.store
    limits = ApiLimits(tick_ms=tick_ms, subscriptions_per_process_max=max(20_000, 3 * subscribers))

    async def one_by_one(board: str, ranges: list[tuple[int, int]]) -> list[list[Any]]:
        return [await store.ranked(board, start, count) for start, count in ranges]

    hub = FanOut(store.ranked, store.ranked_entries, store.versions, limits, SystemClock(),
                 read_ranges=store.ranked_ranges if overtaken_batched else one_by_one)
    ticks_ms: list[float] = []
    hub.on_tick_ms = ticks_ms.append
    stop, hub_stop = asyncio.Event(), asyncio.Event()
    lags: list[float] = []
    rnd = random.Random(3)
    entries = [f"u{rnd.randrange(teams)}/t" for _ in range(subscribers)]
    ticker = asyncio.create_task(hub.run(hub_stop))
    subs = [asyncio.create_task(_subscribe(hub, "big", e, lags, stop)) for e in entries]
    connect_deadline = time.perf_counter() + 120
    while hub.subscriptions < 2 * subscribers:         # every subscriber connected (first frames read)
        failed = [t for t in subs if t.done()]
        if failed or time.perf_counter() > connect_deadline:
            raise RuntimeError(f"subscribers did not connect: {failed[0].exception() if failed else 'timeout'}")
        await asyncio.sleep(0.05)
    await asyncio.sleep(3 * tick_ms / 1000)
    lags.clear()                                        # first frames are not tick frames
    interval = 60.0 / events_per_min
    # Baseline: the same hub, subscribers and event rate, each event changing one entry (no fan-out).
    t_start, n = time.perf_counter(), 0
    while time.perf_counter() - t_start < min(60.0, max(5 * tick_ms / 1000, seconds / 5)):
        await asyncio.sleep(max(0.0, t_start + n * interval - time.perf_counter()))
        await redis.zincrby(contest_key("big", "board"), -POINT_SCALE, rnd.choice(entries))
        await redis.incr(contest_key("big", "ver"))
        n += 1
    await asyncio.sleep(2 * tick_ms / 1000)
    idle = list(lags)
    lags.clear()
    acks: list[float] = []
    ticks_ms.clear()
    t_start, cpu0 = time.perf_counter(), time.process_time()
    n = 0
    while time.perf_counter() - t_start < seconds:
        scheduled = t_start + n * interval
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        await svc.feed([{"id": f"{tag}{n}", "match": "bm", "player": rnd.choice(PLAYERS), "kind": "six"}])
        acks.append((time.perf_counter() - scheduled) * 1000)
        n += 1
    elapsed = time.perf_counter() - t_start
    await asyncio.sleep(2 * tick_ms / 1000)             # the last events' frames
    busy = list(lags)
    stop.set()
    hub_stop.set()
    for task in [*subs, ticker]:
        task.cancel()
    await asyncio.wait([*subs, ticker], timeout=10)     # bounded: a subscriber stuck on the pool cannot hang the run
    return {"events_per_min_target": events_per_min, "events_fed": n,
            "events_per_min_achieved": round(n * 60 / elapsed, 1), "seconds": round(elapsed, 1),
            "subscribers": subscribers, "tick_ms": tick_ms,
            "score_to_board_ms_p50": _pct(acks, 0.5), "score_to_board_ms_p99": _pct(acks, 0.99),
            "tick_lag_ms_p50": _pct(busy, 0.5), "tick_lag_ms_p99": _pct(busy, 0.99), "tick_lag_ms_max": _pct(busy, 1.0),
            "frames": len(busy), "overtaken_batched": overtaken_batched,
            "tick_ms_p50": _pct(ticks_ms, 0.5), "tick_ms_p99": _pct(ticks_ms, 0.99),
            "process_cpu_s": round(time.process_time() - cpu0, 1), "baseline_one_entry_tick_lag_ms_p50": _pct(idle, 0.5),
            "baseline_one_entry_tick_lag_ms_p99": _pct(idle, 0.99), "baseline_one_entry_frames": len(idle),
            "target_tick_lag_ms_p99_max": 1000}


def match_doc(match_id: str, deadline_ms: int) -> dict[str, Any]:
    return {"id": match_id, "deadline_ms": deadline_ms,
            "players": [{"id": p, "role": ROLES[i % 4], "credits": 8} for i, p in enumerate(PLAYERS)],
            "scoring": {"version": 1, "points": {"six": 6}}}


def contest_doc(contest_id: str, match_id: str, capacity: int, fee: int = 0) -> dict[str, Any]:
    return {"id": contest_id, "match": match_id, "capacity": capacity, "entry_fee": fee,
            "prizes": [], "rules": {"team_size": 11, "credit_cap": 100}}


async def _fill(redis: aioredis.Redis, contest_id: str, teams: int, rnd: random.Random) -> Counter[str]:
    """Set-up: `teams` entries written straight into the contest's hash; teams per player."""
    picks: Counter[str] = Counter()
    for start in range(0, teams, PIPELINE_ENTRIES):
        pipe = redis.pipeline(transaction=False)
        mapping = {}
        for n in range(start, min(teams, start + PIPELINE_ENTRIES)):
            picked = rnd.sample(PLAYERS, 11)
            picks.update(picked)
            mult = dict.fromkeys(picked, POINT_SCALE) | {picked[0]: 200, picked[1]: 150}
            mapping[f"u{n}/t"] = "1\t" + ",".join(f"{p}={m}" for p, m in sorted(mult.items()))
        pipe.hset(contest_key(contest_id, "entries"), mapping=mapping)
        await pipe.execute()
    return picks


async def _baseline_fanout(redis: aioredis.Redis, contest_id: str, player: str) -> tuple[float, int]:
    """The naive way: scan every entry, ZINCRBY each team holding the player, pipelined."""
    t0, updated, cursor = time.perf_counter(), 0, 0
    board = contest_key(contest_id, "naive")
    while True:
        cursor, chunk = await redis.hscan(contest_key(contest_id, "entries"), cursor, count=PIPELINE_ENTRIES)
        pipe = redis.pipeline(transaction=False)
        for key, raw in chunk.items():
            for item in raw.decode().split("\t")[1].split(","):
                p, _, m = item.partition("=")
                if p == player:
                    pipe.zincrby(board, -6 * POINT_SCALE * int(m), key)
                    updated += 1
        await pipe.execute()
        if cursor == 0:
            return time.perf_counter() - t0, updated


async def _compare_scripts(redis_url: str, teams: int) -> dict[str, Any]:
    """Same run, same teams: index + three events (the three most-picked players, in turn) with the
    previous scripts (a sorted set per player) against the current ones (a list per player). The
    first event meets a board still in entry order (cache-friendly), later ones a shuffled board.
    The two boards must be equal."""
    redis = aioredis.Redis.from_url(redis_url, socket_timeout=600)
    picks = await _fill(redis, "prev", teams, random.Random(5))
    await _fill(redis, "now", teams, random.Random(5))
    players, delta = [p for p, _ in picks.most_common(3)], 6 * POINT_SCALE
    store = RedisContestStore(redis)
    out: dict[str, Any] = {"teams": teams, "before": await index_and_fan_out_before(
        redis, "prev", players, delta, store.index_scan_entries, store.fanout_chunk_entries)}
    print(json.dumps({"scripts_before": out["before"]}), file=sys.stderr, flush=True)
    out["now"] = await index_and_fan_out_now(store, "now", players, delta)
    print(json.dumps({"scripts_now": out["now"]}), file=sys.stderr, flush=True)
    boards = [await redis.zrange(contest_key(c, "board"), 0, -1, withscores=True) for c in ("prev", "now")]
    out["boards_equal"] = boards[0] == boards[1] and len(boards[0]) == teams
    before, now = out["before"], out["now"]
    out["ratio_index"] = {"wall": round(before["index_s"] / max(now["index_s"], 1e-6), 2),
                          "redis_cpu": round(before["index_redis_cpu_s"] / max(now["index_redis_cpu_s"], 1e-6), 2)}
    out["ratio_fanout_redis_cpu"] = [round(b["redis_cpu_s"] / max(n["redis_cpu_s"], 1e-6), 2)
                                     for b, n in zip(before["events"], now["events"], strict=True)]
    await redis.flushdb()
    await redis.aclose()
    return out


async def _live_ws(redis: aioredis.Redis, svc: ContestService, redis_url: str, events_per_min: int, seconds: float,
                   subscribers: int, tick_ms: int, teams: int, clients: int, profile_dir: Path | None) -> dict[str, Any]:
    """`contestChanged` over websockets from client processes on a `podium serve` process (see
    podium/devtools/bench/contest_live_ws.py): a one-entry-per-event baseline phase (a fifth of
    `seconds`, at least 5 ticks), then `seconds` of fan-out feed events at `events_per_min`."""
    rnd = random.Random(4)
    interval = 60.0 / events_per_min
    entries = [f"u{rnd.randrange(teams)}/t" for _ in range(100)]

    async def paced(seconds_: float, one: Any) -> int:
        t_start, n = time.perf_counter(), 0
        while time.perf_counter() - t_start < seconds_:
            await asyncio.sleep(max(0.0, t_start + n * interval - time.perf_counter()))
            await one(n)
            n += 1
        return n

    async def one_entry(n: int) -> None:
        await redis.zincrby(contest_key("big", "board"), -POINT_SCALE, rnd.choice(entries))
        await redis.incr(contest_key("big", "ver"))

    def event(tag: str, n: int) -> dict[str, Any]:
        return {"id": f"{tag}{n}", "match": "bm", "player": rnd.choice(PLAYERS), "kind": "six"}

    async def fan_out(n: int) -> None:
        await svc.feed([event("ws", n)])

    async def queued(seconds_: float) -> int:
        """The same schedule, but the events that fell due while a feed call ran go in the next call
        together (the feed applies one call's events to a contest as one batch)."""
        t_start, n = time.perf_counter(), 0
        while (now := time.perf_counter() - t_start) < seconds_:
            due = int(now / interval) + 1
            if due <= n:
                await asyncio.sleep(max(0.0, t_start + n * interval - time.perf_counter()))
                continue
            batch = [event("wq", k) for k in range(n, min(due, n + FEED_EVENTS_MAX))]
            await svc.feed(batch)
            n += len(batch)
        return n

    base_s = min(60.0, max(5 * tick_ms / 1000, seconds / 5))
    result = await contest_live_ws.measure(redis_url, "big", subscribers, tick_ms, clients, [
        ("baseline_one_entry", base_s, lambda: paced(base_s, one_entry)),
        ("fanout_events_one_by_one", seconds, lambda: paced(seconds, fan_out)),
        ("fanout_events", seconds, lambda: queued(seconds))], profile_dir)
    for phase in ("fanout_events_one_by_one", "fanout_events"):
        fed = result[phase]
        fed["events_per_min_achieved"] = round(fed["events_fed"] * 60 / max(fed["seconds"] - 2 * tick_ms / 1000, 1e-9), 1)
    return {**result, "events_per_min_target": events_per_min, "target_tick_lag_ms_p99_max": 1000}


async def _fanout(redis_url: str, teams: int, tmp: Path, live: dict[str, Any] | None = None) -> dict[str, Any]:
    # A bounded pool that queues (as a region's does): 2,000 subscribers' first reads must not open
    # 2,000 connections at once (a connection storm times out on a loaded machine).
    pool = aioredis.BlockingConnectionPool.from_url(redis_url, socket_timeout=60, max_connections=64, timeout=None)
    redis = aioredis.Redis(connection_pool=pool)
    ledger = SqliteLedger(tmp / "fanout-ledger.db")
    await ledger.open()
    chunk = (live or {}).get("fanout_chunk_entries") or FANOUT_CHUNK_ENTRIES
    svc = ContestService(RedisContestStore(redis, fanout_chunk_entries=chunk), LedgerBatcher(ledger), SystemClock())
    deadline = int(time.time() * 1000) + 2000
    await svc.declare_match(match_doc("bm", deadline))
    await svc.create_contest(contest_doc("big", "bm", max(teams, 1)))
    rnd = random.Random(1)
    t0 = time.perf_counter()
    picks = await _fill(redis, "big", teams, rnd)
    fill_s = time.perf_counter() - t0
    await asyncio.sleep(max(0.0, deadline / 1000 - time.time()) + 0.05)
    t0 = time.perf_counter()
    await svc.ready_contests("bm")
    index_s = time.perf_counter() - t0
    player = picks.most_common(1)[0][0]
    redis_cpu0 = _redis_cpu_s(await redis.info("cpu"))
    t0 = time.perf_counter()
    [result] = await svc.feed([{"id": "e1", "match": "bm", "player": player, "kind": "six"}])
    fanout_s = time.perf_counter() - t0
    fanout_redis_cpu_s = _redis_cpu_s(await redis.info("cpu")) - redis_cpu0
    base_s, base_updated = await _baseline_fanout(redis, "big", player)
    info = await redis.info("memory")
    print(json.dumps({"fanout_before_live": {"teams": teams, "teams_updated": result["entries_updated"],
                                             "fanout_s": round(fanout_s, 3), "index_s": round(index_s, 2),
                                             "fanout_redis_cpu_s": round(fanout_redis_cpu_s, 3),
                                             "baseline_naive_s": round(base_s, 3)}}), file=sys.stderr, flush=True)
    live_result = live_ws = None
    if live and live.get("ws_clients"):
        ws = {k: live[k] for k in ("events_per_min", "seconds", "subscribers", "tick_ms")}
        live_ws = await _live_ws(redis, svc, redis_url, teams=teams, clients=live["ws_clients"],
                                 profile_dir=live.get("profile_dir"), **ws)
    if live and live.get("in_process", True):
        live = {k: live[k] for k in ("events_per_min", "seconds", "subscribers", "tick_ms")}
        before = await _live(redis, svc, teams=teams, overtaken_batched=False, tag="seq", **live)
        print(json.dumps({"live_baseline_overtaken_one_by_one": before}), file=sys.stderr, flush=True)
        live_result = {**await _live(redis, svc, teams=teams, **live), "baseline_overtaken_one_by_one": before}
    await ledger.close()
    await redis.aclose()
    await pool.aclose()            # a pool passed in is not closed with its client
    updated = result["entries_updated"]
    print(json.dumps({"live": live_result}), file=sys.stderr, flush=True)
    return {"live": live_result, "live_ws": live_ws, "teams": teams, "teams_updated": updated, "fanout_s": round(fanout_s, 3),
            "teams_updated_per_s": round(updated / fanout_s),
            "redis_cpu_us_per_team_updated": round(fanout_redis_cpu_s * 1e6 / max(updated, 1), 2), "index_s": round(index_s, 2), "fill_s": round(fill_s, 2),
            "baseline_naive_s": round(base_s, 3), "baseline_teams_updated": base_updated,
            "ratio_vs_naive": round(base_s / fanout_s, 2),
            "extrapolated_12m_teams_s": round(fanout_s * 12_000_000 / max(teams, 1), 1),
            "redis_used_memory_bytes": info["used_memory"]}


async def _joins(redis_url: str, ledger: Ledger, joins: int, concurrency: int = JOIN_CONCURRENCY,
                 limits: JoinLimits | None = None) -> dict[str, Any]:
    """`joins` concurrent joins, `concurrency` in flight. `limits` None: the region's batching; the
    baseline passes batch_max=1 (each join its own Redis round trips, the ledger still grouped)."""
    pool = aioredis.BlockingConnectionPool.from_url(redis_url, max_connections=64, timeout=None)
    redis = aioredis.Redis(connection_pool=pool)
    await redis.flushdb(asynchronous=True)      # a 1M-team contest takes longer to free than a socket waits
    await ledger.open()
    svc = ContestService(RedisContestStore(redis), LedgerBatcher(ledger), SystemClock(), join_limits=limits)
    await svc.declare_match(match_doc("jm", int(time.time() * 1000) + 3_600_000))
    await svc.create_contest(contest_doc("jc", "jm", joins, fee=100))
    rnd = random.Random(2)
    teams = []
    for n in range(joins):
        picked = rnd.sample(PLAYERS, 11)
        teams.append((f"u{n}", {"id": "t", "match": "jm", "players": picked, "captain": picked[0], "vice": picked[1]}))

    async def in_flight(calls: Any) -> None:
        """`concurrency` workers taking the next call in turn: at most that many in flight, without a
        semaphore (waking one of 1,000 semaphore waiters cost the bench ~18% of its CPU per join)."""
        calls = iter(calls)

        async def worker() -> None:
            for call in calls:
                await call()

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    async def save(owner: str, team: dict[str, Any]) -> None:
        await svc.save_team(owner, team)

    await in_flight(lambda o=o, t=t: save(o, t) for o, t in teams)
    latencies: list[float] = []

    async def join(owner: str) -> None:
        t = time.perf_counter()
        await svc.join(owner, "jc", "t")
        latencies.append(time.perf_counter() - t)

    redis_cpu0 = _redis_cpu_s(await redis.info("cpu"))
    t0, cpu0 = time.perf_counter(), time.process_time()
    await in_flight(lambda o=o: join(o) for o, _ in teams)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    redis_cpu = _redis_cpu_s(await redis.info("cpu")) - redis_cpu0
    await svc.aclose()
    escrow = await ledger.balance("escrow:jc")
    total = await ledger.total()
    await ledger.close()
    await redis.aclose()
    await pool.aclose()
    latencies.sort()
    return {"joins": joins, "concurrency": concurrency, "batch_max": (limits or JoinLimits()).batch_max,
            "joins_per_s": round(joins / elapsed), "joins_per_process_cpu_s": round(joins / cpu),
            "redis_cpu_us_per_join": round(redis_cpu * 1e6 / joins, 1), "join_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
            "escrow_ok": escrow == 100 * joins, "ledger_total": total}


def run(teams: int = 1_000_000, joins: int = 20_000, events_per_min: int = 200, seconds: float = 300.0,
        subscribers: int = 2000, tick_ms: int = 1000, compare_teams: int | None = None, ws_clients: int = 4,
        in_process_live: bool = True, profile_dir: Path | None = None, joins_phase: bool = True,
        fanout_chunk_entries: int | None = None, http_seconds: float = 5.0) -> dict[str, Any]:
    """`compare_teams`: teams of the same-run comparison with the previous scripts (None: as many
    as `teams`, at most 100,000; 0: skip it). `ws_clients`: client processes of the websocket live
    phase (0: skip it); `in_process_live` False skips the in-process hub phases; `profile_dir`: py-spy
    stacks of the server per websocket phase; `http_seconds`: length of each joinContest-over-HTTP phase."""
    compare_teams = min(teams, 100_000) if compare_teams is None else compare_teams
    live = {"events_per_min": events_per_min, "seconds": seconds, "subscribers": subscribers, "tick_ms": tick_ms,
            "ws_clients": ws_clients, "in_process": in_process_live, "profile_dir": profile_dir,
            "fanout_chunk_entries": fanout_chunk_entries}
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp) / "redis", appendonly=False) as redis:
        result: dict[str, Any] = {}
        if compare_teams:
            result["scripts_vs_before"] = asyncio.run(_compare_scripts(redis.url, compare_teams))
        result["fanout"] = asyncio.run(_fanout(redis.url, teams, Path(tmp), live if seconds > 0 else None))
        if not joins_phase:
            return result
        unbatched = JoinLimits(batch_max=1, flushes_max=JOIN_CONCURRENCY)
        result["joins_sqlite_baseline_unbatched"] = asyncio.run(
            _joins(redis.url, SqliteLedger(Path(tmp) / "joins0.db"), joins, limits=unbatched))
        result["joins_sqlite"] = asyncio.run(_joins(redis.url, SqliteLedger(Path(tmp) / "joins.db"), joins))
        base, batched = result["joins_sqlite_baseline_unbatched"], result["joins_sqlite"]
        result["joins_sqlite_ratio_vs_unbatched"] = {
            "joins_per_s": round(batched["joins_per_s"] / base["joins_per_s"], 2),
            "joins_per_process_cpu_s": round(batched["joins_per_process_cpu_s"] / base["joins_per_process_cpu_s"], 2)}
        try:
            from podium.devtools.postgres_server import PostgresServer

            with PostgresServer() as pg:
                result["joins_postgres"] = asyncio.run(_joins(redis.url, PostgresLedger(pg.dsn), joins))
        except (FileNotFoundError, RuntimeError) as exc:
            result["joins_postgres"] = {"status": "not available", "reason": str(exc)[:300]}
    if wrk.available():   # joinContest over HTTP on a `podium serve` process, with its /healthz ceiling
        result["joins_http_sqlite"] = contest_joins_http.run(teams=joins, seconds=http_seconds, connections=64)
        try:
            result["joins_http_postgres"] = contest_joins_http.run(teams=joins, seconds=http_seconds, connections=64,
                                                                   postgres=True)
        except (FileNotFoundError, RuntimeError) as exc:
            result["joins_http_postgres"] = {"status": "not available", "reason": str(exc)[:300]}
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, default=1_000_000)
    parser.add_argument("--joins", type=int, default=20_000)
    parser.add_argument("--events-per-min", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=300.0, help="live phase length (0: skip it)")
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--tick-ms", type=int, default=1000)
    parser.add_argument("--compare-teams", type=int, default=None,
                        help="teams of the same-run comparison with the previous index/fan-out scripts "
                             "(default: --teams, at most 100,000; 0: skip)")
    parser.add_argument("--ws-clients", type=int, default=4, help="client processes of the websocket live phase (0: skip)")
    parser.add_argument("--no-in-process-live", action="store_true", help="skip the in-process hub live phases")
    parser.add_argument("--no-joins", action="store_true")
    parser.add_argument("--profile-dir", type=Path, default=None, help="py-spy stacks of the server per websocket phase")
    parser.add_argument("--fanout-chunk-entries", type=int, default=None, help="entries per fan-out Lua call")
    parser.add_argument("--http-seconds", type=float, default=5.0, help="length of each joinContest-over-HTTP phase")
    args = parser.parse_args()
    print(json.dumps(run(args.teams, args.joins, args.events_per_min, args.seconds, args.subscribers, args.tick_ms,
                         args.compare_teams, args.ws_clients, not args.no_in_process_live, args.profile_dir,
                         not args.no_joins, args.fanout_chunk_entries, args.http_seconds), indent=2))
