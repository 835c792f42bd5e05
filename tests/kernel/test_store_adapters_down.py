"""Contract: every public async method of every Redis adapter answers a coded, retryable
`Unavailable` when its real redis-server is killed (kill -9) or refuses writes for a full disk
(MISCONF), never a raw driver error. The methods are enumerated by introspection, so an adapter
method added without a call here fails `test_every_public_method_is_called`."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from podium.global_.merged_store import GlobalStore
from podium.global_.trending_store_redis import GlobalTrendingStore
from podium.region.contests.settlement_outbox_redis import RedisSettlementOutbox
from podium.region.history.backlog_redis import RedisHistoryBacklog
from podium.region.idempotency_redis import IdempotencyStore
from podium.region.rank_store_redis import RedisRankStore
from podium.region.rebuild_leases_redis import RebuildLeases
from podium.region.rebuild_state_redis import RedisRebuildState
from podium.region.region_marks_redis import RedisRegionMarks
from podium.replication.changes import Change
from podium.replication.trending_buckets import Bucket, Resolution
from podium.replication.trending_wire import ShippedStream, TrendCell

from podium.boards import BoardRegistry
from podium.clock import FakeClock
from podium.errors import Internal, Unavailable
from podium.model import Board, RankCursor, ScoreEntry
from podium.rate_limit import TokenBuckets
from podium.redis_client import AnyRedis, connect
from podium.redis_server import RedisServer, redis_cli_binary
from podium.signing import ReplayGuard, VerifiedRequest
from podium.store_errors import TRANSLATED_ATTR, public_async_methods, translate

pytestmark = pytest.mark.anyio
BOARD = Board(id="down")
Call = Callable[[Any], Awaitable[Any]]


async def _aiter(rows: list[tuple[str, int, int]]) -> AsyncIterator[tuple[str, int, int]]:
    for row in rows:
        yield row


def _entry(i: int) -> ScoreEntry:
    return ScoreEntry(board=BOARD.id, player=f"p{i}", score=i, achieved_at_ms=1_000 + i, event_id=f"e{i}")


# Each adapter: how to build it on a client, and one call per public async method.
SHIPPED = ShippedStream("s", (), (Resolution.MINUTE,), {Resolution.MINUTE: 5}, 4, True)
ADAPTERS: dict[type, tuple[Callable[[AnyRedis], Any], dict[str, Call]]] = {
    RedisRankStore: (RedisRankStore, {
        "apply": lambda s: s.apply(BOARD, [_entry(7)], 5_000),
        "apply_reply": lambda s: s.apply_reply(BOARD, [_entry(7)], 5_000),
        "apply_log": lambda s: s.apply_log(BOARD, [_entry(7)], 5_000, [("scores:0", 3, 4)]),
        "range": lambda s: s.range(BOARD, 0, 10),
        "after": lambda s: s.after(BOARD, RankCursor(1, 1_001, "p1"), 10),
        "players": lambda s: s.players(BOARD, ["p1"]),
        "around": lambda s: s.around(BOARD, "p1", 1, 1),
        "count": lambda s: s.count(BOARD),
        "load": lambda s: s.load(BOARD, [("p9", 9, 1_009)]),
        "replace": lambda s: s.replace(BOARD, _aiter([("p8", 8, 1_008)])),
        "remove_player": lambda s: s.remove_player(BOARD, "p1"),
        "ban": lambda s: s.ban(BOARD, "p2"),
        "clear": lambda s: s.clear(BOARD),
        "quarantined": lambda s: s.quarantined(BOARD, 10),
        "quarantined_entry": lambda s: s.quarantined_entry(BOARD, "1-0"),
        "drop_quarantined": lambda s: s.drop_quarantined(BOARD, "1-0"),
        "unban": lambda s: s.unban(BOARD, "p2"),
        "version": lambda s: s.version(BOARD),
        "upgrade": lambda s: s.upgrade(BOARD),   # reads the legacy index first: no write on a current board
        "applied_offset": lambda s: s.applied_offset(BOARD, "scores:0"),
        "applied_offsets": lambda s: s.applied_offsets(BOARD, ["scores:0", "scores:1"]),
        "quarantine": lambda s: s.quarantine(BOARD, {"player": "p1", "reason": "test"}, 100),
        "ping": lambda s: s.ping(),   # a probe: answers False instead of raising (checked below)
    }),
    ReplayGuard: (lambda r: ReplayGuard(r, 60_000), {
        "check": lambda g: g.check(VerifiedRequest("k", "sig-after")),
    }),
    BoardRegistry: (lambda r: BoardRegistry(r, FakeClock(), refresh_ms=0), {
        "refresh": lambda b: b.refresh(),
        "all": lambda b: b.all(),
        "get": lambda b: b.get("down"),
        "require": lambda b: b.require("down"),
        "create": lambda b: b.create(Board(id="other")),
        "restore": lambda b: b.restore(Board(id="again")),
        "update": lambda b: b.update(BOARD),
        "next_season": lambda b: b.next_season("down"),
        "delete": lambda b: b.delete("down"),
    }),
    IdempotencyStore: (lambda r: IdempotencyStore(r, 60_000), {
        "begin": lambda i: i.begin("scope", "key-after", "hash"),
        "finish": lambda i: i.finish("scope", "key", "hash", {"results": []}),
        "finish_encoded": lambda i: i.finish_encoded("scope", "key", "hash", b'{"results":[]}'),
        "abandon": lambda i: i.abandon("scope", "key"),
    }),
    TokenBuckets: (lambda r: TokenBuckets(r, 10.0, 10, FakeClock()), {
        "take": lambda t: t.take("ip:1"),
        "charge_many": lambda t: t.charge_many([("ip:1", 1, 1.0)]),
    }),
    RebuildLeases: (lambda r: RebuildLeases(r, FakeClock(), 10_000), {
        "acquire": lambda le: le.acquire("down"),
        "renew": lambda le: le.renew("down", "token"),
        "release": lambda le: le.release("down", "token"),
    }),
    RedisHistoryBacklog: (lambda r: RedisHistoryBacklog(r, "c1", 1000), {
        "read": lambda b: b.read(BOARD, 10),
        "ack": lambda b: b.ack(BOARD, ["1-1"]),
        "rows": lambda b: b.rows(BOARD, "down@0"),
        "size": lambda b: b.size([BOARD]),
        "depth": lambda b: b.depth([BOARD]),
    }),
    RedisRebuildState: (RedisRebuildState, {
        "banned": lambda s: s.banned(BOARD),
        "restore_dedup": lambda s: s.restore_dedup(BOARD, ["e1", "e2"], 7, 60_000),
    }),
    RedisRegionMarks: (lambda r: RedisRegionMarks(r, "r1"), {
        "mark_data": lambda m: m.mark_data(),
        "data_marked": lambda m: m.data_marked(),
        "claim_snapshot_tick": lambda m: m.claim_snapshot_tick(42, 60_000),
    }),
    RedisSettlementOutbox: (lambda r: RedisSettlementOutbox(r, 1000), {
        "publish": lambda o: o.publish("down", {"settlement": {}, "key_id": "k", "signature": "s"}, 1_000),
    }),
    GlobalStore: (lambda r: GlobalStore(r), {
        "apply": lambda g: g.apply(BOARD, [Change("r1", "down", 0, "p1", 5, 1_000, 1)]),
        "applied": lambda g: g.applied(BOARD),
        "upgrade": lambda g: g.upgrade(BOARD),
        "top": lambda g: g.top(BOARD, 0, 10),
        "entry": lambda g: g.entry(BOARD, "p1"),
        "states": lambda g: g.states(BOARD, ["p1"]),
        "rank_of": lambda g: g.rank_of(BOARD, "p1", 5, 1_000),
        "conflicts": lambda g: g.conflicts(BOARD, 10),
        "conflict_counts": lambda g: g.conflict_counts(),
        "version": lambda g: g.version(BOARD),
        "count": lambda g: g.count(BOARD),
        "all_states": lambda g: g.all_states(BOARD),
        "ping": lambda g: g.ping(),   # the global /readyz probe: False instead of raising
    }),
    GlobalTrendingStore: (lambda r: GlobalTrendingStore(r, 10), {
        "declare": lambda g: g.declare("r1", [SHIPPED]),
        "put_cells": lambda g: g.put_cells("r1", [SHIPPED], [TrendCell("s", Resolution.MINUTE, 0, "", 1, 1, 0, 0,
                                                                       {"a": 1}, b"")]),
        "generation": lambda g: g.generation(),
        "versions": lambda g: g.versions(["s"]),
        "mark_as_of": lambda g: g.mark_as_of("r1", ["s"], 1_000),   # "s" is declared by r1 (_seed): it writes
        "specs": lambda g: g.specs("s"),
        "as_of": lambda g: g.as_of("s"),
        "streams": lambda g: g.streams(),
        "cells": lambda g: g.cells("s", ["r1"], [Bucket(0, Resolution.MINUTE)], ""),
    }),
}
PROBES = {(RedisRankStore, "ping"), (GlobalStore, "ping")}
# Calls that write: with writes refused (MISCONF) each must answer Unavailable.
WRITES = {(RedisRankStore, n) for n in ("apply", "apply_reply", "apply_log", "load", "replace", "ban", "quarantine",
                                        "unban")} | {
    (ReplayGuard, "check"), (BoardRegistry, "create"), (BoardRegistry, "restore"),
    (IdempotencyStore, "begin"), (IdempotencyStore, "finish"), (IdempotencyStore, "finish_encoded"),
    (TokenBuckets, "take"), (TokenBuckets, "charge_many"),
    (RebuildLeases, "acquire"), (GlobalStore, "apply"), (GlobalStore, "upgrade"), (RedisHistoryBacklog, "read"),
    (RedisRebuildState, "restore_dedup"), (RedisRegionMarks, "mark_data"), (RedisRegionMarks, "claim_snapshot_tick"),
    (RedisSettlementOutbox, "publish"), (GlobalTrendingStore, "declare"), (GlobalTrendingStore, "put_cells"),
    (GlobalTrendingStore, "mark_as_of"), (GlobalTrendingStore, "generation")}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    srv = RedisServer(tmp_path / "redis", appendonly=False).start()
    try:
        yield srv
    finally:
        srv.stop()


async def _seed(redis: AnyRedis) -> None:
    registry = BoardRegistry(redis, FakeClock())
    await registry.create(BOARD)
    await RedisRankStore(redis, history_backlog_max=100).apply(BOARD, [_entry(i) for i in range(5)], 5_000)
    await GlobalTrendingStore(redis, 10).declare("r1", [SHIPPED])


@pytest.mark.parametrize("cls", list(ADAPTERS), ids=lambda c: c.__name__)
def test_every_public_method_is_called_and_translated(cls: type) -> None:
    assert sorted(ADAPTERS[cls][1]) == public_async_methods(cls), "add the new method to ADAPTERS"
    for name in public_async_methods(cls):
        assert getattr(getattr(cls, name), TRANSLATED_ATTR, False), f"{cls.__name__}.{name} is not translated"


@pytest.mark.parametrize("cls", list(ADAPTERS), ids=lambda c: c.__name__)
async def test_killed_store_gives_unavailable(server: RedisServer, cls: type) -> None:
    redis = connect(server.url)
    try:
        await _seed(redis)
        build, calls = ADAPTERS[cls]
        adapter = build(redis)
        assert server.process is not None
        server.process.kill()   # kill -9: no goodbye on the open connections
        server.process.wait()
        for name, call in calls.items():
            if (cls, name) in PROBES:
                assert await call(adapter) is False
                continue
            with pytest.raises(Unavailable) as caught:
                await call(adapter)
            assert caught.value.http_status == 503 and caught.value.code == "UNAVAILABLE", name
            assert caught.value.__cause__ is not None, f"{name}: the driver error must be kept as the cause"
    finally:
        with contextlib.suppress(Exception):
            await redis.aclose()


@contextlib.contextmanager
def _disk_full(server: RedisServer) -> Iterator[None]:
    """A failed background save with save points on: Redis refuses writes with MISCONF, exactly as
    on a full disk (/proc takes no files, even from root)."""
    cli = [redis_cli_binary(), "-p", str(server.port)]
    for args in (["config", "set", "save", "3600 1"], ["config", "set", "dir", "/proc"], ["bgsave"]):
        subprocess.run(cli + args, check=True, capture_output=True, timeout=5)
    for _ in range(100):
        out = subprocess.run(cli + ["set", "probe", "1"], capture_output=True, timeout=5, check=False).stdout
        if out.startswith(b"MISCONF"):
            break
        subprocess.run(["sleep", "0.05"], check=True)
    else:
        raise AssertionError("redis-server did not start refusing writes")
    try:
        yield
    finally:   # a server that cannot save also refuses a clean shutdown
        subprocess.run(cli + ["config", "set", "save", ""], check=True, capture_output=True, timeout=5)


@pytest.mark.parametrize("cls", list(ADAPTERS), ids=lambda c: c.__name__)
async def test_full_disk_gives_unavailable(server: RedisServer, cls: type) -> None:
    redis = connect(server.url)
    try:
        await _seed(redis)
        build, calls = ADAPTERS[cls]
        adapter = build(redis)
        with _disk_full(server):
            for name, call in calls.items():
                try:
                    await call(adapter)
                except Unavailable as exc:   # anything else propagates and fails the test
                    assert "MISCONF" in str(exc), (name, exc)
                    continue
                assert (cls, name) not in WRITES, f"{cls.__name__}.{name} wrote despite MISCONF"
    finally:
        await redis.aclose()


def test_translate_classifies_driver_errors() -> None:
    from redis.exceptions import ResponseError

    assert isinstance(translate(ResponseError("OOM command not allowed"), "Redis"), Unavailable)
    assert isinstance(translate(ResponseError("WRONGTYPE Operation against a key"), "Redis"), Internal)
    assert isinstance(translate(ConnectionRefusedError(), "Redis"), Unavailable)
    wrapped = ResponseError("Error running script (call to f_1): @user_script:100: -MISCONF Redis is configured")
    assert isinstance(translate(wrapped, "Redis"), Unavailable)
