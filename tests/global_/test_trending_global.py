"""World-wide trending end to end: three regions (each its own Redis database, its real trending
store and shipper) ship their bucket cells over signed HTTP to a live global tier, and its GraphQL
`trending` answers are checked against a brute-force oracle summing every region's events:
EXACT answers equal the oracle (and are given whenever the regions shipped complete cells),
APPROXIMATE bounds hold the true count within epsilon * N, a guaranteed answer names the true
top-K, and every region's as-of time is reported. Hostile bodies on the intake are 4xx."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from anyio.from_thread import BlockingPortal
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from podium.global_.server import create_global_app
from podium.region.trending.events import TrendEvent
from podium.region.trending.ship_redis import TrendingOutbox
from podium.region.trending.shipper import TrendingShipper
from podium.region.trending.store_redis import RedisTrendingStore, StreamRegistry
from podium.region.trending.streams import StreamSpec
from podium.replication.trending_buckets import MINUTE_MS, ceil_minute, floor_minute
from podium.replication.trending_topk import exact_top
from podium.replication.trending_transport import HttpTrendingTransport
from podium.replication.trending_wire import TRENDING_PATH

from podium.clock import SystemClock
from podium.config import ReplicationSettings, Settings, TrendingSettings
from podium.devtools.testing import LiveServer
from podium.errors import Unavailable
from podium.redis_client import connect
from podium.redis_server import RedisServer, free_port
from podium.signing import signed_headers
from tests.trending.strategies import zipf_items

SECRET = "trending-test-secret"
REGIONS = ("ap-south", "eu-west", "us-east")
LIMITS = TrendingSettings()
LG = 4                                   # 16 slots: the sketches purge, the bounds matter
HOURS = 3
_streams = itertools.count()
HYP = settings(max_examples=12, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
QUERY = """query($s: String!, $from: Long, $to: Long, $k: Int!, $p: Precision!) {
  trending(stream: $s, from: $from, to: $to, k: $k, precision: $p) {
    precision guaranteed total epsilon items { rank item count lower upper errorBound }
    regions { region asOf } } }"""


@dataclass
class Region:
    name: str
    redis: Any
    store: RedisTrendingStore
    streams: StreamRegistry
    outbox: TrendingOutbox
    shipper: TrendingShipper


@dataclass
class World:
    url: str
    regions: list[Region]
    portal: BlockingPortal


async def _region(name: str, url: str, global_url: str) -> Region:
    redis = connect(url)
    clock = SystemClock()
    store = RedisTrendingStore(redis, LIMITS, clock)
    store.ship_marks = True
    streams = StreamRegistry(redis, clock, LIMITS, refresh_ms=0)
    outbox = TrendingOutbox(redis, LIMITS.ship_exact_items_max)
    shipper = TrendingShipper(outbox, streams, HttpTrendingTransport(global_url, SECRET, clock), name, clock, LIMITS)
    return Region(name, redis, store, streams, outbox, shipper)


@pytest.fixture(scope="module")
def world(portal: BlockingPortal, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp: Path = tmp_path_factory.mktemp("trending-global")
    redis = RedisServer(tmp / "redis", appendonly=False).start()
    base = redis.url.rsplit("/", 1)[0]
    settings_ = Settings(redis_url=f"{base}/0", data_dir=tmp, port=0, replication=ReplicationSettings(secret=SECRET))
    try:
        with LiveServer(create_global_app, settings_) as server:
            regions = [portal.call(_region, name, f"{base}/{i + 1}", server.url) for i, name in enumerate(REGIONS)]
            yield World(server.url, regions, portal)
            for region in regions:
                portal.call(region.shipper.transport.aclose)
                portal.call(region.redis.aclose)
    finally:
        redis.stop()


Event = tuple[str, int, int]        # item, minutes ago, weight


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[list[Event]], int | None]:
    """Per region its events over the last HOURS hours, and how many exact counts a cell ships."""
    item = zipf_items(25) if draw(st.booleans()) else st.integers(0, 14).map(lambda i: f"item-{i}")
    events = st.lists(st.tuples(item, st.integers(0, HOURS * 60 - 1), st.integers(1, 3)), max_size=120)
    return [draw(events) for _ in REGIONS], draw(st.sampled_from([None, 1, 2, 4]))


async def _load(world: World, spec: StreamSpec, per_region: list[list[Event]], now: int,
                exact_items: int | None) -> list[TrendEvent]:
    everything = []
    for region, events in zip(world.regions, per_region, strict=True):
        await region.streams.create(spec, exist_ok=True)
        region.outbox.exact_items_max = exact_items or LIMITS.ship_exact_items_max
        batch = [TrendEvent(spec.id, item, now - ago * MINUTE_MS - 1, weight, f"{region.name}-{i}")
                 for i, (item, ago, weight) in enumerate(events)]
        if batch:
            await region.store.apply(spec, batch)
        everything += batch
    for region in world.regions:
        await region.shipper.ship_once()
    return everything


def _query(world: World, stream: str, a: int, b: int, k: int, precision: str) -> dict[str, Any]:
    r = httpx.post(f"{world.url}/graphql", json={"query": QUERY, "variables": {
        "s": stream, "from": a, "to": b, "k": k, "p": precision}}, timeout=30)
    body = r.json()
    assert r.status_code == 200 and "errors" not in body, body
    trending: dict[str, Any] = body["data"]["trending"]
    return trending


@HYP
@given(histories(), st.lists(st.tuples(st.integers(0, HOURS * 60), st.integers(1, HOURS * 60 + 1), st.integers(1, 6)),
                             min_size=1, max_size=3))
def test_world_trending_matches_the_oracle(world: World, history: tuple[list[list[Event]], int | None],
                                           queries: list[tuple[int, int, int]]) -> None:
    per_region, exact_items = history
    spec = StreamSpec(f"maps-{next(_streams)}", sketch_lg_size=LG, minute_buckets_kept=10_080)
    now = int(time.time() * 1000)
    events = world.portal.call(_load, world, spec, per_region, now, exact_items)
    for start_ago, length, k in queries:
        a = now - start_ago * MINUTE_MS
        b = a + length * MINUTE_MS
        lo, hi = floor_minute(a), ceil_minute(b)
        truth = Counter[str]()
        for e in events:
            if lo <= e.at_ms < hi:
                truth[e.item] += e.weight
        n = sum(truth.values())
        exact = _query(world, spec.id, a, b, k, "EXACT")
        assert int(exact["total"]) == n
        assert [r["region"] for r in exact["regions"]] == sorted(REGIONS)
        assert all(r["asOf"] is not None for r in exact["regions"])
        if exact_items is None:       # every cell complete: EXACT is always provable
            assert exact["precision"] == "EXACT"
        if exact["precision"] == "EXACT":
            assert [(t["rank"], t["item"], int(t["count"])) for t in exact["items"]] == [
                (t.rank, t.item, t.count) for t in exact_top(truth, k)]
        approx = _query(world, spec.id, a, b, k, "APPROXIMATE")
        assert approx["precision"] == "APPROXIMATE"
        for t in approx["items"]:
            assert int(t["lower"]) <= truth[t["item"]] <= int(t["upper"])
            assert int(t["errorBound"]) <= approx["epsilon"] * n + 1e-9
        if approx["guaranteed"]:
            assert {t["item"] for t in approx["items"]} == {t.item for t in exact_top(truth, k)}


def test_later_events_replace_the_shipped_cells_and_advance_as_of(world: World) -> None:
    spec = StreamSpec(f"maps-{next(_streams)}", sketch_lg_size=LG)
    now = int(time.time() * 1000)
    world.portal.call(_load, world, spec, [[("dust2", 1, 2)], [("dust2", 1, 1)], [("nuke", 1, 1)]], now, None)
    first = _query(world, spec.id, now - 10 * MINUTE_MS, now + MINUTE_MS, 2, "EXACT")
    assert [(t["item"], int(t["count"])) for t in first["items"]] == [("dust2", 3), ("nuke", 1)]

    async def more() -> None:
        region = world.regions[2]
        await region.store.apply(spec, [TrendEvent(spec.id, "nuke", now - 1, 5, "late-1")])
        await region.shipper.ship_once()
        await region.shipper.ship_once()       # a resent, unchanged state changes nothing

    world.portal.call(more)
    second = _query(world, spec.id, now - 10 * MINUTE_MS, now + MINUTE_MS, 2, "EXACT")
    assert [(t["item"], int(t["count"])) for t in second["items"]] == [("nuke", 6), ("dust2", 3)]
    assert second["regions"][-1]["asOf"] > first["regions"][-1]["asOf"]


@pytest.mark.parametrize("doc", [
    {"region": "eu-west", "as_of": "x", "streams": [], "cells": []},
    {"region": "eu-west", "as_of": None, "streams": {}, "cells": []},
    {"region": "eu-west", "as_of": None, "streams": [], "cells": [["s", "minute", 0, "", 1, 1, 0, 0, [], [], ""]]},
    {"region": "eu-west", "as_of": None, "streams": [{"id": "s"}], "cells": []},
    {"region": "eu-west", "as_of": None, "cells": [None], "streams": [
        {"id": "s", "dimensions": [], "resolutions": ["minute"], "kept": {"minute": 5}, "sketch_lg_size": 4,
         "public_read": True}]},
    {"region": "eu-west", "as_of": None, "cells": [["s", "minute", 7, "", 1, 1, 0, 0, ["a"], [1], "!!"]], "streams": [
        {"id": "s", "dimensions": [], "resolutions": ["minute"], "kept": {"minute": 5}, "sketch_lg_size": 4,
         "public_read": True}]},
    {"region": "eu-west", "as_of": 5, "streams": [], "cells": [], "as_of_streams": "s"},
    {"region": "eu-west", "as_of": 5, "streams": [], "cells": [], "as_of_streams": [1, None]},
    {"region": "eu-west", "as_of": 5, "streams": [], "cells": [], "as_of_streams": ["s"] * 5000},
    {"region": "eu-west", "as_of": 5, "streams": [], "cells": [], "generation": 7},
    {"region": "eu-west", "as_of": 5, "streams": [], "cells": [], "generation": "g" * 65},
])
def test_hostile_bodies_are_4xx(world: World, doc: dict[str, Any]) -> None:
    import orjson

    body = orjson.dumps(doc)
    headers = signed_headers("eu-west", SECRET, "POST", TRENDING_PATH, int(time.time() * 1000), body)
    r = httpx.post(world.url + TRENDING_PATH, content=body, headers=headers, timeout=30)
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["error"]["code"], r.text


def test_unsigned_bodies_are_refused(world: World) -> None:
    r = httpx.post(world.url + TRENDING_PATH, json={"region": "eu-west", "streams": [], "cells": []}, timeout=30)
    assert r.status_code == 401, r.text


def test_cells_wait_in_the_outbox_while_the_global_tier_is_down(world: World) -> None:
    spec = StreamSpec(f"maps-{next(_streams)}", sketch_lg_size=LG)
    now = int(time.time() * 1000)
    region = world.regions[0]
    down = TrendingShipper(region.outbox, region.streams,
                           HttpTrendingTransport(f"http://127.0.0.1:{free_port()}", SECRET, SystemClock()),
                           region.name, SystemClock(), LIMITS)

    async def write_while_down() -> int:
        await region.streams.create(spec)
        await region.store.apply(spec, [TrendEvent(spec.id, "vertigo", now - 1, 4, "down-1")])
        with pytest.raises(Unavailable):
            await down.ship_once()
        await down.transport.aclose()
        return await region.outbox.claim(spec.id)     # still held: minute, hour and day cells

    assert world.portal.call(write_while_down) == 3
    world.portal.call(region.shipper.ship_once)        # the link is back
    answer = _query(world, spec.id, now - 10 * MINUTE_MS, now + MINUTE_MS, 1, "EXACT")
    assert [(t["item"], int(t["count"])) for t in answer["items"]] == [("vertigo", 4)]
    assert world.portal.call(region.outbox.claim, spec.id) == 0


def test_counts_written_before_shipping_began_reach_the_global_tier(world: World) -> None:
    spec = StreamSpec(f"maps-{next(_streams)}", sketch_lg_size=LG)
    now = int(time.time() * 1000)
    region = world.regions[1]

    async def before_then_after() -> None:
        await region.streams.create(spec)
        region.store.ship_marks = False          # a region not yet connected to a global tier
        try:
            await region.store.apply(spec, [TrendEvent(spec.id, "overpass", now - 1, 7, "early-1")])
        finally:
            region.store.ship_marks = True
        assert await region.outbox.claim(spec.id) == 0     # nothing marked by the writes themselves
        await region.shipper.ship_once()                   # the first round marks the stream's cells

    world.portal.call(before_then_after)
    answer = _query(world, spec.id, now - 10 * MINUTE_MS, now + MINUTE_MS, 1, "EXACT")
    assert [(t["item"], int(t["count"])) for t in answer["items"]] == [("overpass", 7)]


@pytest.mark.parametrize("variables", [
    {"s": "nope", "k": 3, "p": "EXACT"},
    {"s": "x" * 500, "k": 3, "p": "EXACT"},
    {"s": "hostile", "k": 0, "p": "EXACT"},
    {"s": "hostile", "k": 10**6, "p": "APPROXIMATE"},
    {"s": "hostile", "k": 3, "p": "ESTIMATED"},
    {"s": "hostile", "k": 3, "p": "EXACT", "from": -5, "to": 10},
    {"s": "hostile", "k": 3, "p": "EXACT", "from": 10, "to": 5},
    {"s": "hostile", "k": 3, "p": "EXACT", "from": 0, "to": 2**62},
    {"s": "hostile", "k": 3, "p": "EXACT", "from": None, "to": None},
    {"s": "hostile", "k": "three", "p": "EXACT"},
    {"s": ["hostile"], "k": 3, "p": "EXACT"},
])
def test_hostile_queries_are_coded_errors(world: World, variables: dict[str, Any]) -> None:
    world.portal.call(_load, world, StreamSpec("hostile", sketch_lg_size=LG), [[], [], []], 0, None)
    r = httpx.post(f"{world.url}/graphql", json={"query": QUERY, "variables": variables}, timeout=30)
    assert r.status_code < 500, r.text
    errors = r.json().get("errors")
    assert errors and all(e.get("extensions", {}).get("code") for e in errors), r.text
