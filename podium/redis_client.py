"""Creates the async Redis client (single node or cluster) from settings."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import Any, TypeAlias, TypeVar, cast
from urllib.parse import urlparse

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.utils import HIREDIS_AVAILABLE

from podium.breaker import Breakers
from podium.errors import Unavailable
from podium.redis_guard import guarded_client, guarded_cluster
from podium.redis_lean import PENDING_MAX_DEFAULT as LEAN_PENDING_MAX_DEFAULT
from podium.redis_lean import LeanPool, attach_lean

AnyRedis: TypeAlias = aioredis.Redis | RedisCluster
# Reply shapes as our clients see them: redis-py types each command's replies as the union of every
# shape its options (WITHSCORES, decode_responses, XAUTOCLAIM's deleted entries) can produce.
Members: TypeAlias = list[bytes]
ScoredMembers: TypeAlias = list[tuple[bytes, float]]
StreamEntries: TypeAlias = list[tuple[bytes | str, dict[bytes | str, bytes | str]]]
POOL_WAIT_S = 5.0
_PLAIN_ARGS = frozenset({str, bytes, int})


class CPackingConnection(aioredis.Connection):
    """Packs commands in C (hiredis) where the bytes are certainly redis-py's own: every argument a
    str, bytes or int (not a float: the two format them differently) and a plain command name. A score batch's Lua call has ~4,000 arguments; redis-py's asyncio client packs them in
    Python (its sync client already uses hiredis). Anything else, or any error, takes redis-py's path."""

    def pack_command(self, *args: Any) -> list[bytes]:
        # redis-py splits a str command name on whitespace: only plain names (EVALSHA, SET, ...) here
        name = args[0] if args else None
        # the argument types checked by one C pass (map + set): a Python generator over a score
        # batch's ~4,000 arguments cost about as much as packing them (~0.2 µs per entry)
        if HIREDIS_AVAILABLE and isinstance(name, str) and name.isascii() and name.isalpha() and \
                _PLAIN_ARGS.issuperset(map(type, args)):
            import hiredis

            try:
                return [hiredis.pack_command(args)]
            except (TypeError, ValueError):   # e.g. a lone surrogate: redis-py raises its own error
                pass
        return super().pack_command(*args)

    async def send_packed_command(self, command: bytes | str | Iterable[bytes], check_health: bool = True) -> None:
        """redis-py's own, but the write is bounded by `asyncio.timeout` rather than
        `asyncio.wait_for`, which made a task per command (with the read's bound, a fifth of a
        one-command read's CPU in the client). Same bound, same errors, same disconnects."""
        if not self.is_connected:
            await self.connect_check_health(check_health=False)
        if check_health:
            await self.check_health()  # type: ignore[no-untyped-call]
        try:
            if isinstance(command, str):
                command = command.encode()
            if isinstance(command, bytes):
                command = [command]
            if self.socket_timeout:
                async with asyncio.timeout(self.socket_timeout):
                    await self._send_packed_command(command)
            else:
                await self._send_packed_command(command)
        except TimeoutError:
            await self.disconnect(nowait=True)
            raise RedisTimeoutError("Timeout writing to socket") from None
        except OSError as e:
            await self.disconnect(nowait=True)
            err_no, errmsg = ("UNKNOWN", e.args[0]) if len(e.args) == 1 else (e.args[0], e.args[1])
            raise RedisConnectionError(f"Error {err_no} while writing to socket. {errmsg}.") from e
        except BaseException:
            await self.disconnect(nowait=True)   # a half-written command: the connection cannot be reused
            raise


def connect(url: str, *, cluster: bool = False, connections_max: int = 64,
            breakers: Breakers | None = None, breaker_name: str = "redis",
            lean_pending_max: int = LEAN_PENDING_MAX_DEFAULT) -> AnyRedis:
    """`redis://host:port/db` for one node; `redis+cluster://h1:p1,h2:p2` or cluster=True for a cluster.
    With `breakers`, every command and pipeline of the client (single node or cluster) passes the
    `breaker_name` breaker (podium/redis_guard.py). A `redis://` node's client also carries a lean
    connection for hot reads (podium/redis_lean.py), bounded by `lean_pending_max` (0: none)."""
    if url.startswith("redis+cluster://"):
        cluster = True
        url = "redis://" + url.removeprefix("redis+cluster://")
    if not cluster:
        # A blocking pool: past `connections_max`, callers wait (bounded) for a connection instead of
        # failing with "Too many connections" under a burst.
        tcp = url.startswith("redis://")
        extra: dict[str, Any] = {"connection_class": CPackingConnection} if tcp else {}
        pool_class = LeanPool if tcp else aioredis.BlockingConnectionPool
        pool = pool_class.from_url(url, max_connections=connections_max, timeout=POOL_WAIT_S, **extra)
        attach_lean(pool, lean_pending_max)
        if breakers is not None:
            return guarded_client(pool, breakers, breaker_name)
        return aioredis.Redis.from_pool(pool)  # owns the pool: aclose() closes its connections
    parsed = urlparse(url)
    nodes = []
    for hostport in parsed.netloc.split("@")[-1].split(","):
        host, _, port = hostport.partition(":")
        nodes.append(ClusterNode(host or "127.0.0.1", int(port or 6379)))
    if breakers is not None:
        return guarded_cluster(nodes, connections_max, breakers, breaker_name)
    return RedisCluster(startup_nodes=nodes, decode_responses=False, max_connections=connections_max)


def as_bytes(value: bytes | str) -> bytes:
    """A reply as bytes: our clients never decode (`decode_responses=False`), but redis-py types
    every reply as `bytes | str`, so this narrows it (and encodes, should a str ever come back)."""
    return value if isinstance(value, bytes) else value.encode()


def as_text(value: bytes | str) -> str:
    """A reply as str (see `as_bytes`)."""
    return value.decode() if isinstance(value, bytes) else value


def members(reply: object) -> Members:
    """A Z[REV]RANGE[BYSCORE] reply without scores: members, undecoded."""
    return cast(Members, reply)


def scored_members(reply: object) -> ScoredMembers:
    """A Z[REV]RANGE ... WITHSCORES reply: (member, score) pairs, members undecoded."""
    return cast(ScoredMembers, reply)


def stream_entries(reply: object) -> StreamEntries:
    """An XRANGE/XREVRANGE reply: (id, fields) pairs, neither of them None (only XAUTOCLAIM has
    deleted entries)."""
    return cast(StreamEntries, reply or [])


def stream_max_before(entry_id: str | None) -> str | None:
    """The inclusive XREVRANGE end just before `entry_id` ("+" without one), or None when nothing
    precedes it (0-0). Redis refuses an exclusive "(0-0" end, so the predecessor is computed."""
    if entry_id is None:
        return "+"
    ms, seq = (int(part) for part in entry_id.split("-"))
    if seq > 0:
        return f"{ms}-{seq - 1}"
    if ms > 0:
        return f"{ms - 1}-{2**64 - 1}"
    return None


T = TypeVar("T")


async def store_reply(pending: Awaitable[T], store: str, retry_after_s: float | None = None) -> T:
    """The reply of an adapter's Redis call, or `Unavailable` (503 + Retry-After) naming the store:
    how the adapters translate store errors into coded, retryable ones."""
    try:
        return await pending
    except RedisError as exc:
        if retry_after_s is None:
            raise Unavailable(f"{store} (Redis): {exc}") from exc
        raise Unavailable(f"{store} (Redis): {exc}", retryAfter=retry_after_s) from exc
