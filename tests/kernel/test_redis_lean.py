"""The lean read connection (podium/redis_lean.py) against a real redis-server: replies and errors
are redis-py's, a cancelled caller leaves the connection usable, a lost connection fails its
callers with ConnectionError and the next call reconnects, its bound sends callers back to the
pool, it closes with its client, and a guarded client's breaker covers it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from podium.region.rank_store_redis import RedisRankStore
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ExecAbortError, NoScriptError, ResponseError

from podium.breaker import Breakers
from podium.clock import FakeClock
from podium.config import BreakerSettings
from podium.model import Board, ScoreEntry
from podium.redis_client import connect
from podium.redis_guard import RedisCircuitOpen
from podium.redis_lean import LeanRedis, lean_of
from podium.redis_server import RedisServer

pytestmark = pytest.mark.anyio
NOW_MS = 1_800_000_000_000


def _lean(server: RedisServer, **kw: int) -> LeanRedis:
    return LeanRedis("127.0.0.1", server.port, **kw)


async def _redis_py_raw(redis: Redis, command: tuple[object, ...]) -> object:
    """A redis-py connection's reply before the client reshapes it per command, in RESP2 as the lean
    connection speaks it (a script's reply is the same in both protocols)."""
    pool = redis.connection_pool
    conn = await pool.get_connection()
    try:
        await conn.send_command(*command)
        return await conn.read_response()
    finally:
        await pool.release(conn)


async def test_replies_equal_redis_py_ones(anyio_backend: str, redis_server: RedisServer) -> None:
    redis = Redis.from_url(redis_server.url, protocol=2)
    lean = _lean(redis_server)
    try:
        await redis.delete("lean:z", "lean:h")
        await redis.zadd("lean:z", {b"a": 1.5, b"b\xff": -2, b"": 3})
        await redis.hset("lean:h", mapping={"f": "v"})
        for command in (
            ("ZRANGE", "lean:z", 0, -1, "WITHSCORES"),
            ("ZRANK", "lean:z", "a"),
            ("ZRANK", "lean:z", "zz"),
            ("HGET", "lean:h", "f"),
            ("HGETALL", "lean:h"),
            ("EVAL", "return {1, 'x', {2}}", 0),
        ):
            assert await lean.call(*command) == await _redis_py_raw(redis, command), command
        with pytest.raises(NoScriptError):
            await lean.call("EVALSHA", "0" * 40, 0)
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            await lean.call("HGET", "lean:z", "a")
        assert await lean.call("PING") == b"PONG"  # an error reply leaves the connection in step
    finally:
        lean.close()
        await redis.aclose()


async def test_a_cancelled_caller_leaves_the_connection_in_step(
    anyio_backend: str, redis_server: RedisServer
) -> None:
    lean = _lean(redis_server)
    try:
        slow = asyncio.ensure_future(
            lean.call(
                "EVAL",
                "local t = redis.call('TIME') "
                "while true do local n = redis.call('TIME') "
                "if (n[1] - t[1]) * 1e6 + n[2] - t[2] > 100000 then break end end "
                "return 'slow'",
                0,
            )
        )
        await asyncio.sleep(0.02)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        assert await lean.call("ECHO", "mine") == b"mine"  # not the cancelled call's 'slow'
    finally:
        lean.close()


async def test_a_transaction_replies_as_redis_py_and_stays_in_step(
    anyio_backend: str, redis_server: RedisServer
) -> None:
    """MULTI ... EXEC written at once: EXEC's reply as redis-py reads it; an error inside it, and a
    command refused while queued (EXECABORT), raise; a cancelled caller leaves the connection in step."""
    redis = Redis.from_url(redis_server.url, protocol=2)
    lean = _lean(redis_server)
    try:
        await redis.delete("lean:tz", "lean:th")
        await redis.zadd("lean:tz", {b"a": -7, b"b": 3})
        await redis.hset("lean:th", mapping={"f": "v"})
        commands = [
            ("ZSCORE", "lean:tz", "a"),
            ("ZRANK", "lean:tz", "a"),
            ("ZSCORE", "lean:tz", "x"),
            ("ZRANK", "lean:tz", "x"),
            ("ZRANK", "lean:tz", "b"),
        ]
        pipe = redis.pipeline(transaction=True)
        for command in commands:
            pipe.execute_command(*command)
        as_redis_py = await pipe.execute()
        got = await lean.transaction(commands)
        assert got == [b"-7", 0, None, None, 1]  # the raw replies redis-py's callbacks then shape
        assert as_redis_py == [-7.0, 0, None, None, 1]
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            await lean.transaction([("ZRANK", "lean:tz", "a"), ("ZRANK", "lean:th", "f")])
        with pytest.raises(ExecAbortError):
            await lean.transaction([("ZRANK", "lean:tz")])
        assert await lean.call("PING") == b"PONG"
        slow = asyncio.ensure_future(lean.transaction([("DEBUG", "SLEEP", "0.05"), ("ECHO", "late")]))
        await asyncio.sleep(0.01)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        assert await lean.call("ECHO", "mine") == b"mine"
        assert await lean.transaction([("ECHO", "x")]) == [b"x"]
    finally:
        lean.close()
        await redis.aclose()


async def test_a_lost_connection_fails_its_callers_and_the_next_call_reconnects(
    anyio_backend: str, tmp_path: Path
) -> None:
    with RedisServer(tmp_path / "a", appendonly=False) as server:
        lean = _lean(server)
        assert await lean.call("PING") == b"PONG"
        await lean.call("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "no")  # its own connection too
        with pytest.raises(RedisConnectionError):
            for _ in range(100):  # the close reaches the client after the reply
                await lean.call("PING")
                await asyncio.sleep(0.01)
        assert await lean.call("PING") == b"PONG"
        server.stop()
        with pytest.raises(RedisConnectionError):
            await lean.call("PING")
        lean.close()


async def test_selects_the_url_database(anyio_backend: str, redis_server: RedisServer) -> None:
    redis = connect(redis_server.url.rsplit("/", 1)[0] + "/3")
    try:
        await redis.set("lean:db", "three")
        caller = lean_of(redis)
        assert caller is not None
        assert await caller.call("GET", "lean:db") == b"three"
        assert await caller.call("CLIENT", "INFO") is not None
    finally:
        await redis.delete("lean:db")
        await redis.aclose()


async def test_past_its_bound_reads_take_the_pool(anyio_backend: str, redis_server: RedisServer) -> None:
    redis = connect(redis_server.url, lean_pending_max=1)
    store = RedisRankStore(redis)
    board = Board(id="lean-bound")
    try:
        await store.clear(board)
        await store.apply(board, [ScoreEntry(board.id, f"p{i}", i, NOW_MS, "") for i in range(5)], NOW_MS)
        caller = lean_of(redis)
        assert caller is not None
        await caller.call("PING")  # connected
        blocker = asyncio.ensure_future(caller.call("PING"))
        await asyncio.sleep(0)
        assert not caller.ready()  # one in flight: the store reads through redis-py meanwhile
        assert [r.player for r in await store.range(board, 0, 2)] == ["p4", "p3"]
        assert await blocker == b"PONG"
        assert caller.ready()
    finally:
        await redis.aclose()


async def test_reads_reload_a_flushed_script(anyio_backend: str, redis_server: RedisServer) -> None:
    redis = connect(redis_server.url)
    store = RedisRankStore(redis)
    board = Board(id="lean-noscript")
    try:
        await store.clear(board)
        await store.apply(board, [ScoreEntry(board.id, "a", 7, NOW_MS, "")], NOW_MS)
        await redis.script_flush()
        got = await store.players(board, ["a"])
        assert got[0] is not None and got[0].score == 7
        assert (await store.around(board, "a", 1, 1))[0].player == "a"
    finally:
        await redis.aclose()


async def test_closes_with_its_client(anyio_backend: str, redis_server: RedisServer) -> None:
    redis = connect(redis_server.url)
    caller = lean_of(redis)
    assert caller is not None
    await caller.call("PING")
    protocol = caller.lean._protocol
    assert protocol is not None and protocol.transport is not None
    await redis.aclose()
    assert caller.lean._protocol is None
    await asyncio.sleep(0)
    assert protocol.transport is None  # connection_lost ran: the socket is closed


async def test_no_lean_connection_where_it_does_not_apply(
    anyio_backend: str, redis_server: RedisServer
) -> None:
    plain = connect(redis_server.url, lean_pending_max=0)
    assert lean_of(plain) is None
    await plain.aclose()
    unix = connect("unix:///nonexistent.sock")
    assert lean_of(unix) is None
    await unix.aclose()


async def test_a_guarded_clients_breaker_covers_the_lean_connection(
    anyio_backend: str, tmp_path: Path
) -> None:
    breakers = Breakers(FakeClock(), BreakerSettings(calls_min=1, window_calls_max=1, open_ms=60_000))
    with RedisServer(tmp_path / "b", appendonly=False) as server:
        redis = connect(server.url, breakers=breakers)
        caller = lean_of(redis)
        assert caller is not None
        assert await caller.call("PING") == b"PONG"
        server.stop()
        with pytest.raises(RedisConnectionError):
            await caller.call("PING")
        with pytest.raises(RedisCircuitOpen):  # the failure opened the client's breaker
            await caller.call("PING")
        with pytest.raises(RedisCircuitOpen):
            await redis.ping()
        await redis.aclose()


def test_a_new_event_loop_gets_a_new_connection(redis_server: RedisServer) -> None:
    lean = _lean(redis_server)
    first_loop, second_loop = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        first = first_loop.run_until_complete(lean.call("CLIENT", "ID"))
        # the first loop's connection is not reused from the second (it is closed instead)
        assert second_loop.run_until_complete(lean.call("CLIENT", "ID")) != first
        first_loop.run_until_complete(asyncio.sleep(0.01))  # the first transport's close runs there
        lean.close()
        second_loop.run_until_complete(asyncio.sleep(0.01))
    finally:
        first_loop.close()
        second_loop.close()


def test_it_runs_on_uvloop(redis_server: RedisServer) -> None:
    """`podium serve --loop uvloop`: uvloop's transport is not an asyncio.Transport subclass."""
    uvloop = pytest.importorskip("uvloop")

    async def ping() -> object:
        lean = _lean(redis_server)
        try:
            return await lean.call("PING")
        finally:
            lean.close()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(ping()) == b"PONG"
