"""World-wide trending kept equal to the regions: two regions (their real trending stores and
shippers on one Redis server) ship over signed HTTP to a live global tier on its own Redis server.

- `trendingChanged` on the global tier: a websocket subscriber applying the pushed diffs holds the
  oracle's top-K of the window after every shipped round.
- Repair: after FLUSHALL of the global Redis the next round re-ships every cell, and the global
  EXACT answer equals the oracle again; the periodic pass repairs a lost cell the store's
  generation cannot show.
- Declarations: with more streams than the global tier keeps, a round ships the streams that fit,
  reports the rest, and does not fail."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from anyio.from_thread import BlockingPortal
from podium.region.trending.events import TrendEvent
from podium.region.trending.ship_redis import TrendingOutbox
from podium.region.trending.shipper import TrendingShipper
from podium.region.trending.store_redis import RedisTrendingStore, StreamRegistry
from podium.region.trending.streams import StreamSpec
from podium.replication.trending_buckets import MINUTE_MS
from podium.replication.trending_topk import exact_top
from podium.replication.trending_transport import HttpTrendingTransport

from podium.clock import FakeClock, SystemClock
from podium.config import ApiLimits, ReplicationSettings, Settings, TrendingSettings
from podium.devtools.testing import LiveServer
from podium.devtools.ws_client import Subscriber
from podium.model import RankedEntry
from podium.redis_client import AnyRedis, connect
from podium.redis_server import RedisServer
from podium.top_diff import ChangeKind, TopChange, apply_diff

SECRET = "trending-ship-secret"
REGIONS = ("eu-west", "us-east")
DEADLINE_S = 30.0
TIMEOUT_MS = 30_000                      # a body on a loaded CI machine (the default 5 s was exceeded)
_ids = itertools.count()
QUERY = """query($s: String!, $from: Long, $to: Long, $k: Int!) {
  trending(stream: $s, from: $from, to: $to, k: $k, precision: EXACT) {
    precision total items { rank item count } regions { region asOf } } }"""
SUB = ("subscription($s:String!,$w:String!,$k:Int!){ trendingChanged(stream:$s, window:$w, k:$k){"
       " seq full items { rank item count } changes { kind item rank previousRank count previousCount } } }")


@dataclass
class Region:
    name: str
    redis: AnyRedis
    store: RedisTrendingStore
    streams: StreamRegistry
    shipper: TrendingShipper


@dataclass
class World:
    url: str
    ws_url: str
    global_redis_url: str
    regions: list[Region]
    portal: BlockingPortal
    events: list[TrendEvent]


async def _region(name: str, url: str, global_url: str, limits: TrendingSettings) -> Region:
    redis = connect(url)
    clock = SystemClock()
    store = RedisTrendingStore(redis, limits, clock)
    store.ship_marks = True
    streams = StreamRegistry(redis, clock, limits, refresh_ms=0)
    shipper = TrendingShipper(TrendingOutbox(redis, limits.ship_exact_items_max), streams,
                              HttpTrendingTransport(global_url, SECRET, clock, TIMEOUT_MS), name, clock, limits)
    return Region(name, redis, store, streams, shipper)


@pytest.fixture
def make_world(portal: BlockingPortal, tmp_path: Path) -> Iterator[Any]:
    """A global tier (on its own Redis server) and two regions, with the given trending limits."""
    opened: list[tuple[LiveServer, RedisServer, RedisServer, list[Region]]] = []

    def make(limits: TrendingSettings) -> World:
        n = len(opened)
        global_redis = RedisServer(tmp_path / f"global-{n}", appendonly=False).start()
        region_redis = RedisServer(tmp_path / f"regions-{n}", appendonly=False).start()
        settings = Settings(redis_url=global_redis.url, data_dir=tmp_path, port=0, trending=limits,
                            replication=ReplicationSettings(secret=SECRET), api=ApiLimits(tick_ms=50))
        server = LiveServer(create_global_app, settings).__enter__()
        base = region_redis.url.rsplit("/", 1)[0]
        regions = [portal.call(_region, name, f"{base}/{i + 1}", server.url, limits) for i, name in enumerate(REGIONS)]
        opened.append((server, global_redis, region_redis, regions))
        return World(server.url, server.ws_url, global_redis.url, regions, portal, [])

    from podium.global_.server import create_global_app
    try:
        yield make
    finally:
        for server, global_redis, region_redis, regions in opened:
            for region in regions:
                portal.call(region.shipper.transport.aclose)
                portal.call(region.redis.aclose)
            server.__exit__(None, None, None)
            global_redis.stop()
            region_redis.stop()


async def _apply(world: World, region: Region, spec: StreamSpec, items: list[tuple[str, int]], now: int) -> None:
    await region.streams.create(spec, exist_ok=True)
    batch = [TrendEvent(spec.id, item, now - ago * MINUTE_MS - 1, 1, f"{region.name}-{next(_ids)}")
             for item, ago in items]
    if batch:
        await region.store.apply(spec, batch)
    world.events += batch


async def _ship_all(world: World) -> None:
    for region in world.regions:
        await region.shipper.ship_once()


def _truth(world: World, stream: str, lo: int, hi: int) -> Counter[str]:
    truth = Counter[str]()
    for e in world.events:
        if e.stream == stream and lo <= e.at_ms < hi:
            truth[e.item] += e.weight
    return truth


def _query(world: World, stream: str, a: int, b: int, k: int) -> httpx.Response:
    return httpx.post(f"{world.url}/graphql", json={"query": QUERY, "variables": {"s": stream, "from": a, "to": b,
                                                                                  "k": k}}, timeout=30)


def _exact(world: World, stream: str, a: int, b: int, k: int) -> list[tuple[int, str, int]]:
    r = _query(world, stream, a, b, k)
    body = r.json()
    assert r.status_code == 200 and "errors" not in body, body
    answer = body["data"]["trending"]
    assert answer["precision"] == "EXACT"
    return [(t["rank"], t["item"], int(t["count"])) for t in answer["items"]]


def _oracle(world: World, stream: str, a: int, b: int, k: int) -> list[tuple[int, str, int]]:
    return [(t.rank, t.item, t.count) for t in exact_top(_truth(world, stream, a, b), k)]


def _rows(top: list[RankedEntry]) -> list[tuple[int, str, int]]:
    return [(e.rank, e.player, e.score) for e in sorted(top, key=lambda e: e.rank)]


def _changes(raw: list[dict[str, Any]]) -> list[TopChange]:
    return [TopChange(ChangeKind(c["kind"]), c["item"], c["rank"], c["previousRank"],
                      int(c["count"]) if c["count"] is not None else None,
                      int(c["previousCount"]) if c["previousCount"] is not None else None, 0 if c["rank"] else None)
            for c in raw]


def test_global_trending_changed_follows_the_oracle(make_world: Any) -> None:
    world: World = make_world(TrendingSettings())
    spec = StreamSpec(f"live-{next(_ids)}", sketch_lg_size=8)
    rng = random.Random(16)
    items = [f"map-{i}" for i in range(8)]
    k = 3

    async def scenario() -> None:
        now = int(time.time() * 1000)
        await _apply(world, world.regions[0], spec, [(rng.choice(items), rng.randint(0, 30)) for _ in range(12)], now)
        await _ship_all(world)
        sub = await Subscriber(world.ws_url).connect()
        try:
            await sub.subscribe(SUB, {"s": spec.id, "w": "1h", "k": k})
            first = (await asyncio.wait_for(sub.next(), DEADLINE_S))["data"]["trendingChanged"]
            assert first["full"] is True
            state = [RankedEntry(i["rank"], i["item"], int(i["count"]), 0) for i in first["items"]]
            window = (now - 60 * MINUTE_MS, now + MINUTE_MS)       # every event is in the window
            assert _rows(state) == _oracle(world, spec.id, *window, k)
            for step in range(6):
                region = world.regions[step % 2]
                picks = [(rng.choice(items[: 3 + step]), rng.randint(0, 30)) for _ in range(rng.randint(3, 9))]
                await _apply(world, region, spec, picks, now)
                await region.shipper.ship_once()
                want = _oracle(world, spec.id, *window, k)
                loop = asyncio.get_running_loop()
                deadline = loop.time() + DEADLINE_S
                while _rows(state) != want:      # diffs may coalesce: apply them until the top is the oracle's
                    message = await asyncio.wait_for(sub.next(), max(0.1, deadline - loop.time()))
                    update = message["data"]["trendingChanged"]
                    assert update["full"] is False
                    state = apply_diff(state, _changes(update["changes"]))
        finally:
            await sub.close()

    world.portal.call(scenario)


def test_a_wiped_global_store_is_repaired_by_the_next_round(make_world: Any) -> None:
    world: World = make_world(TrendingSettings())
    spec = StreamSpec(f"wipe-{next(_ids)}", sketch_lg_size=8)
    rng = random.Random(7)
    now = int(time.time() * 1000)
    for region in world.regions:
        picks = [(f"map-{min(int(rng.paretovariate(1.2)), 9)}", rng.randint(0, 180)) for _ in range(40)]
        world.portal.call(_apply, world, region, spec, picks, now)
    world.portal.call(_ship_all, world)
    a, b = now - 200 * MINUTE_MS, now + MINUTE_MS
    assert _exact(world, spec.id, a, b, 5) == _oracle(world, spec.id, a, b, 5)

    async def flushall() -> None:
        redis = connect(world.global_redis_url)
        try:
            await redis.flushall()
        finally:
            await redis.aclose()

    world.portal.call(flushall)
    gone = _query(world, spec.id, a, b, 5).json()
    assert gone["errors"][0]["extensions"]["code"] == "NOT_FOUND", gone
    world.portal.call(_ship_all, world)                 # no new events: the repair alone restores it
    assert _exact(world, spec.id, a, b, 5) == _oracle(world, spec.id, a, b, 5)
    assert [r.shipper.stats.repairs for r in world.regions] == [1, 1]
    answer = _query(world, spec.id, a, b, 5).json()["data"]["trending"]
    assert all(r["asOf"] is not None for r in answer["regions"])


def test_the_periodic_repair_pass_restores_a_lost_cell(make_world: Any) -> None:
    world: World = make_world(TrendingSettings(ship_repair_interval_ms=60_000))
    spec = StreamSpec(f"lost-{next(_ids)}", sketch_lg_size=8)
    now = int(time.time() * 1000)
    region = world.regions[0]
    clock = FakeClock(now)
    region.shipper.clock = clock
    region.shipper._repaired_at_ms = now          # the pass is due one interval after this
    world.portal.call(_apply, world, region, spec, [("dust2", 2), ("dust2", 3), ("nuke", 2)], now)
    world.portal.call(region.shipper.ship_once)
    a, b = now - 10 * MINUTE_MS, now + MINUTE_MS
    assert _exact(world, spec.id, a, b, 2) == [(1, "dust2", 2), (2, "nuke", 1)]

    async def lose_cells() -> int:             # an evicted key: the store's generation is unchanged
        redis = connect(world.global_redis_url)
        try:
            keys = [key async for key in redis.scan_iter(match=f"gt:{{{spec.id}}}:c:*")]
            return int(await redis.delete(*keys))
        finally:
            await redis.aclose()

    assert world.portal.call(lose_cells) >= 3        # its minute, hour and day cells
    world.portal.call(region.shipper.ship_once)        # not due yet: nothing changed, nothing re-shipped
    assert _exact(world, spec.id, a, b, 2) == []
    clock.advance(60_000)
    world.portal.call(region.shipper.ship_once)
    assert region.shipper.stats.repairs == 1
    assert _exact(world, spec.id, a, b, 2) == [(1, "dust2", 2), (2, "nuke", 1)]


def test_streams_past_the_global_cap_are_reported_and_the_round_succeeds(make_world: Any) -> None:
    world: World = make_world(TrendingSettings(global_streams_max=3, ship_streams_per_body_max=2))
    region = world.regions[0]
    now = int(time.time() * 1000)
    specs = [StreamSpec(f"cap-{i}-{next(_ids)}", sketch_lg_size=8) for i in range(5)]
    for i, spec in enumerate(specs):
        world.portal.call(_apply, world, region, spec, [(f"item-{j}", 1) for j in range(i + 1)], now)
    world.portal.call(region.shipper.ship_once)         # no exception: the round succeeds
    admitted, refused = specs[:3], specs[3:]           # the global tier admits new streams in id order
    assert region.shipper.stats.refused == sorted(s.id for s in refused)
    a, b = now - 10 * MINUTE_MS, now + MINUTE_MS
    for spec in admitted:
        assert _exact(world, spec.id, a, b, 10) == _oracle(world, spec.id, a, b, 10)
        regions = _query(world, spec.id, a, b, 10).json()["data"]["trending"]["regions"]
        assert regions == [{"region": region.name, "asOf": regions[0]["asOf"]}] and regions[0]["asOf"]
    for spec in refused:
        assert _query(world, spec.id, a, b, 10).json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    world.portal.call(region.shipper.ship_once)         # the next round too, and it still reports them
    assert region.shipper.stats.refused == sorted(s.id for s in refused)
    assert region.shipper.stats.failures == 0


HOSTILE_SUBS: list[dict[str, Any]] = [
    {"s": "no-such-stream", "w": "1h", "k": 3},
    {"s": "x" * 500, "w": "1h", "k": 3},
    {"k": 0}, {"k": 10**6}, {"w": "forever"}, {"w": "-5m"}, {"w": "365d"}, {"w": ""},
    {"d": {"mode": "ranked"}}, {"d": [1, 2]}, {"d": "mode"},
]
SUB_DIMS = ("subscription($s:String!,$w:String!,$k:Int!,$d:JSON){ trendingChanged(stream:$s, window:$w, k:$k,"
            " dims:$d){ seq full items { rank item count } } }")


def test_hostile_global_subscriptions_are_coded_errors(make_world: Any) -> None:
    world: World = make_world(TrendingSettings())
    spec = StreamSpec(f"hostile-sub-{next(_ids)}", sketch_lg_size=8)
    world.portal.call(_apply, world, world.regions[0], spec, [("dust2", 1)], int(time.time() * 1000))
    world.portal.call(_ship_all, world)

    async def scenario() -> None:
        for hostile in HOSTILE_SUBS:
            sub = await Subscriber(world.ws_url).connect()
            try:
                await sub.subscribe(SUB_DIMS, {"s": spec.id, "w": "1h", "k": 3, "d": None, **hostile})
                reply = await asyncio.wait_for(sub.next(), DEADLINE_S)
                errors = reply.get("errors")
                assert errors and all(e.get("extensions", {}).get("code") for e in errors), (hostile, reply)
            finally:
                await sub.close()

    world.portal.call(scenario)


LABELLED_SUB = ("subscription($s:String!,$w:String!,$k:Int!){ trendingChanged(stream:$s, window:$w, k:$k){"
                " seq full precision epsilon guaranteed errorBound regions { region asOf }"
                " items { rank item count lower upper errorBound } changes { kind item } } }")
LABELLED_QUERY = ("query($s:String!,$k:Int!){ trending(stream:$s, last:\"1h\", k:$k, precision:EXACT){"
                  " precision epsilon guaranteed items { item count lower upper } regions { region asOf } } }")


def test_global_trending_changed_carries_the_precision_label_of_the_query(make_world: Any) -> None:
    """Each message says what the global `trending` query says of the same top-K: EXACT while the
    regions' shipped exact counts prove it, APPROXIMATE (epsilon, bounds, guarantee) once they
    cannot (here: more items than `ship_exact_items_max`), with every region's as-of time; the
    change of label is sent even if the ranking stays the same."""
    world: World = make_world(TrendingSettings(ship_exact_items_max=2))
    spec = StreamSpec(f"label-{next(_ids)}", sketch_lg_size=8)
    k = 3

    def query() -> dict[str, Any]:
        body = httpx.post(f"{world.url}/graphql", json={"query": LABELLED_QUERY, "variables": {"s": spec.id, "k": k}},
                          timeout=30).json()
        assert "errors" not in body, body
        return body["data"]["trending"]  # type: ignore[no-any-return]

    def same_label(message: dict[str, Any], answer: dict[str, Any]) -> bool:
        bound = max((int(i["upper"]) - int(i["lower"]) for i in answer["items"]), default=0)
        return (message["precision"], message["epsilon"], message["guaranteed"], int(message["errorBound"])) == (
            answer["precision"], answer["epsilon"], answer["guaranteed"], bound)

    async def scenario() -> None:
        now = int(time.time() * 1000)
        # two items, distinct counts: both regions' exact counts prove the top-K
        await _apply(world, world.regions[0], spec, [("a", 1)] * 5 + [("b", 1)] * 3, now)
        await _apply(world, world.regions[1], spec, [("a", 2)] * 2, now)
        await _ship_all(world)
        sub = await Subscriber(world.ws_url).connect()
        try:
            await sub.subscribe(LABELLED_SUB, {"s": spec.id, "w": "1h", "k": k})
            first = (await asyncio.wait_for(sub.next(), DEADLINE_S))["data"]["trendingChanged"]
            answer = await asyncio.to_thread(query)
            assert first["full"] and first["precision"] == answer["precision"] == "EXACT" and same_label(first, answer)
            assert {r["region"] for r in first["regions"]} == set(REGIONS)
            assert all(r["asOf"] is not None for r in first["regions"])
            assert [(i["item"], int(i["lower"]), int(i["upper"])) for i in first["items"]] == [("a", 7, 7), ("b", 3, 3)]
            # many items with equal small counts: past the 2 exact items per cell, the global tier
            # can no longer prove the third place
            await _apply(world, world.regions[0], spec, [(f"c{i}", 1) for i in range(12)], now)
            await world.regions[0].shipper.ship_once()
            answer = await asyncio.to_thread(query)
            assert answer["precision"] == "APPROXIMATE"
            loop = asyncio.get_running_loop()
            deadline = loop.time() + DEADLINE_S
            while True:
                update = (await asyncio.wait_for(sub.next(), max(0.1, deadline - loop.time())))["data"]["trendingChanged"]
                if update["precision"] == "APPROXIMATE":
                    break
            assert same_label(update, answer) and update["epsilon"] > 0
            assert {r["region"] for r in update["regions"]} == set(REGIONS)
        finally:
            await sub.close()

    world.portal.call(scenario)
