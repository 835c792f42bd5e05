"""A seeded, deterministic simulation of three regions replicating to the global tier, driven
through the production code: each region applies scores with the real apply script on its own
Redis database, the real `Shipper` ships them through a `RedisChangeFeed`, and the real
`GlobalStore` merges them on a fourth database. Only the network is simulated (an injected
transport): it drops requests, loses acknowledgements after delivering, times out after
delivering (the shipper then sends that board fewer changes at once), duplicates, holds deliveries
back and releases them out of order (acknowledged first, as a log would), refuses large bodies
(413) and cuts regions off. Time is a `FakeClock`. After healing, the global tier equals an
oracle merged here from the regions' own boards by the documented rules: nothing lost, nothing
counted twice. Replay a failure with its seed."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping, Sequence

import pytest
import redis.asyncio as aioredis
from podium.global_.merged_store import GlobalStore
from podium.region.rank_store_redis import RedisRankStore
from podium.replication.change_feed_redis import RedisChangeFeed
from podium.replication.changes import Change
from podium.replication.shipper import Shipper
from podium.replication.transport import ShipTimedOut, encode_batch

from podium.boards import BoardRegistry
from podium.clock import FakeClock
from podium.config import ReplicationSettings
from podium.errors import PayloadTooLarge, Unavailable
from podium.model import Board, Operator, ScoreEntry
from podium.redis_server import RedisServer

REGIONS = ["ap-south", "eu-west", "us-east"]
BOARDS = [Board("best"), Board("latest", operator=Operator.LATEST), Board("kills", operator=Operator.INCREMENT),
          Board("hp", operator=Operator.DECREMENT)]
STEPS = 400
BODY_BYTES_MAX = 700        # the simulated receiver refuses bigger bodies (413): the shipper must split


class Network:
    """The injected transport of every region: loses, duplicates, holds back and reorders."""

    def __init__(self, rng: random.Random, store: GlobalStore) -> None:
        self.rng = rng
        self.store = store
        self.cut: set[str] = set()
        self.held: list[tuple[Board, list[Change]]] = []
        self.lossy = True
        self.timeouts = 0

    def transport(self, region: str) -> RegionLink:
        return RegionLink(self, region)

    async def deliver(self, board: Board, changes: Sequence[Change]) -> None:
        await self.store.apply(board, changes)

    async def release_one(self) -> None:
        if self.held:
            board, changes = self.held.pop(self.rng.randrange(len(self.held)))
            await self.deliver(board, changes)


class RegionLink:
    def __init__(self, net: Network, region: str) -> None:
        self.net = net
        self.region = region

    async def send(self, region: str, board: Board, changes: Sequence[Change], feeds: Mapping[str, Sequence[int]]) -> None:
        net, roll = self.net, self.net.rng.random()
        if len(encode_batch(region, board, changes, feeds)) > BODY_BYTES_MAX and len(changes) > 1:
            raise PayloadTooLarge("simulated 413")
        if region in net.cut or (net.lossy and roll < 0.15):
            raise Unavailable("simulated: request lost")
        if net.lossy and roll < 0.2:
            await net.deliver(board, changes)
            raise Unavailable("simulated: delivered, acknowledgement lost")
        if net.lossy and roll < 0.25:
            await net.deliver(board, changes)   # merged, but after the shipper stopped waiting
            net.timeouts += 1
            raise ShipTimedOut("simulated: acknowledged too late")
        if net.lossy and roll < 0.4:
            net.held.append((board, list(changes)))         # acknowledged now, merged later, in any order
            return
        await net.deliver(board, changes)
        if net.lossy and roll < 0.5:
            net.held.append((board, list(changes)))         # and a duplicate, later

    async def heartbeat(self, region: str, feeds: Mapping[str, Sequence[int]]) -> None:
        if region in self.net.cut:
            raise Unavailable("simulated: cut off")

    async def aclose(self) -> None:
        return None


def merge_oracle(op: Operator, per_region: list[dict[str, tuple[int, int]]]) -> list[tuple[str, int]]:
    values: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for board in per_region:
        for player, value in board.items():
            values[player].append(value)
    merged: dict[str, tuple[int, int]] = {}
    for player, vs in values.items():
        if op is Operator.BEST:
            merged[player] = min(vs, key=lambda v: (-v[0], v[1]))
        elif op is Operator.LATEST:
            merged[player] = max(vs, key=lambda v: (v[1], v[0]))
        else:
            merged[player] = (sum(v[0] for v in vs), max(v[1] for v in vs))
    ranked = sorted(merged, key=lambda p: (-merged[p][0], merged[p][1], p.encode()))
    return [(p, merged[p][0]) for p in ranked]


@pytest.mark.anyio
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_lossy_reordering_network_converges_to_the_oracle(redis_server: RedisServer, seed: int) -> None:
    rng = random.Random(seed)
    clock = FakeClock()
    clients = [aioredis.Redis.from_url(f"{redis_server.url}/{db}") for db in range(1, 5)]
    try:
        for c in clients:
            await c.flushdb()
        net = Network(rng, GlobalStore(clients[3]))
        stores, shippers = {}, {}
        # a few changes per body in two regions (the count cap cuts inside stream entries), the
        # byte budget and the 413s alone in the third
        changes_max = dict(zip(REGIONS, [3, 8, 5000], strict=True))
        for region, redis in zip(REGIONS, clients, strict=False):
            settings = ReplicationSettings(ship_batch_max=4, ship_batch_bytes_max=2000, heartbeat_interval_ms=500,
                                           ship_batch_changes_max=changes_max[region])
            registry = BoardRegistry(redis, clock)
            for board in BOARDS:
                await registry.create(board)
            stores[region] = RedisRankStore(redis)
            feed = RedisChangeFeed(redis, registry, region, changes_len_max=100_000)
            shippers[region] = Shipper(feed, region, net.transport(region), clock, settings)  # type: ignore[arg-type]

        for step in range(STEPS):
            clock.advance(rng.randrange(1, 50))
            action = rng.random()
            region = rng.choice(REGIONS)
            if action < 0.45:
                board = rng.choice(BOARDS)
                entries = [ScoreEntry(board.id, f"p{rng.randrange(25)}", rng.randrange(1, 60),
                                      clock.now_ms() - rng.randrange(5000), f"e{seed}-{step}-{i}")
                           for i in range(rng.randrange(1, 6))]
                await stores[region].apply(board, entries, clock.now_ms())
            elif action < 0.5 and rng.random() < 0.3:
                await stores[region].remove_player(rng.choice(BOARDS), f"p{rng.randrange(25)}")
            elif action < 0.8:
                try:
                    await shippers[region].ship_once()
                except Unavailable:
                    pass            # the shipper's run loop backs off and retries; here the next step does
            elif action < 0.9:
                await net.release_one()
            elif region in net.cut:
                net.cut.discard(region)
            else:
                net.cut.add(region)

        # heal: links restored, the network stops losing, everything held is delivered
        net.cut.clear()
        net.lossy = False
        for _ in range(500):
            shipped = sum([await s.ship_once() for s in shippers.values()])
            await net.release_one()
            if shipped == 0 and not net.held:
                break
        assert not net.held and all(s.stats.lag_ms == {} for s in shippers.values())
        assert any(s.stats.splits for s in shippers.values()), "the 413 path was exercised"
        assert net.timeouts, "the timeout path was exercised"
        for board in BOARDS:
            per_region = [{r.player: (r.score, r.achieved_at_ms) for r in await stores[region].range(board, 0, 1000)}
                          for region in REGIONS]
            want = merge_oracle(board.operator, per_region)
            got = [(r.player, r.score) for r in await net.store.top(board, 0, 1000)]
            assert got == want, (seed, board.id)
            assert await net.store.count(board) == len(want)
    finally:
        for c in clients:
            await c.aclose()
