"""Every command and pipeline a process sends to its Redis goes through that Redis's circuit breaker.

The guard sits in the client (a `redis.asyncio.Redis` subclass), so no call site can bypass it: rank
store, idempotency keys, board registry, rate limits, change streams, history backlog. It raises
redis-py's own exception types, so every adapter's existing translation (podium/store_errors.py)
turns them into `Unavailable` (503 + Retry-After) unchanged:

- a command slower than `breakers.call_timeout_ms` (a SIGSTOPped or overloaded server) is
  cancelled (redis-py then drops that connection) and raises `RedisCallTimedOut`;
- while the breaker is open nothing is sent: `RedisCircuitOpen` at once, whose `retry_after_s`
  (the rest of the open period) becomes the Retry-After.

Only unreachability counts against the breaker (connection errors, timeouts); an error reply
(WRONGTYPE, a script's error, OOM) is an answer. Commands that block on purpose (BLOCK / B*POP)
are not timed.

A Redis Cluster client (`GuardedRedisCluster`) passes one breaker for the whole cluster: commands and
pipelines alike, with the cluster's own redirections and retries inside the call timeout. A
cluster with one of N primaries down fails about 1/N of the calls, each within the call timeout,
and opens the breaker only when that share reaches `breakers.failure_ratio`; per-node breakers
would need redis-py's private per-node calls."""

from __future__ import annotations

from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterNode, ClusterPipeline, RedisCluster
from redis.exceptions import ClusterDownError, RedisClusterException
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from podium.breaker import Breakers, CircuitOpen

BLOCKING_COMMANDS = frozenset({"BLPOP", "BRPOP", "BLMOVE", "BZPOPMIN", "BZPOPMAX", "BLMPOP", "BZMPOP", "WAIT"})
_BLOCK_OPTION_COMMANDS = frozenset({"XREAD", "XREADGROUP"})   # the commands taking a BLOCK option


class RedisCircuitOpen(RedisConnectionError):
    """The Redis's breaker is open: the command was not sent."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RedisCallTimedOut(RedisTimeoutError):
    """The command did not complete within the breaker's call timeout."""


def _unreachable(exc: BaseException) -> bool:
    # CLUSTERDOWN / MASTERDOWN: the cluster cannot serve the slot (a primary is gone), as unreachable as a dead node
    return isinstance(exc, (RedisConnectionError, RedisTimeoutError, ClusterDownError, OSError))


def _word(arg: Any) -> str:
    return (arg.decode(errors="replace") if isinstance(arg, bytes) else str(arg)).upper()


def _blocks(args: tuple[Any, ...]) -> bool:
    """BLPOP and friends, or XREAD[GROUP] ... BLOCK ms: waiting is what they are for. Only XREAD's
    arguments are scanned for BLOCK: an EVALSHA applying a score batch has 4,000 of them (the scan
    was 5% of the region's ingest profile), and a player named "block" does not make a call blocking."""
    if not args:
        return False
    command = _word(args[0])
    return command in BLOCKING_COMMANDS or (
        command in _BLOCK_OPTION_COMMANDS and any(isinstance(a, str | bytes) and _word(a) == "BLOCK" for a in args[1:]))


async def _guarded(breakers: Breakers, name: str, fn: Any, blocks: bool) -> Any:
    try:
        return await breakers.call(name, fn, timeout_ms=0 if blocks else None, failure=_unreachable,
                                   on_timeout=lambda: RedisCallTimedOut(
                                       f"{name} did not answer within {breakers.limits.call_timeout_ms} ms"))
    except CircuitOpen as exc:
        raise RedisCircuitOpen(exc.message, float(exc.extensions["retryAfter"])) from None


async def guarded_call(client: GuardedRedis, fn: Any) -> Any:
    """`fn()` (a Redis call made beside the client, e.g. podium/redis_lean.py) through the client's breaker."""
    return await _guarded(client.breakers, client.breaker_name, fn, blocks=False)


class GuardedPipeline(Pipeline):
    breakers: Breakers
    breaker_name: str

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        result: list[Any] = await _guarded(self.breakers, self.breaker_name,
                                           lambda: Pipeline.execute(self, raise_on_error), blocks=False)
        return result


class GuardedRedis(aioredis.Redis):
    """A Redis client whose every command passes `breakers[breaker_name]`."""

    breakers: Breakers
    breaker_name: str

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        return await _guarded(self.breakers, self.breaker_name,
                              lambda: aioredis.Redis.execute_command(self, *args, **options),  # type: ignore[no-untyped-call]
                              blocks=_blocks(args))

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> GuardedPipeline:
        pipe = GuardedPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)
        pipe.breakers, pipe.breaker_name = self.breakers, self.breaker_name
        return pipe


def guarded_client(pool: aioredis.ConnectionPool, breakers: Breakers, name: str) -> GuardedRedis:
    client = cast(GuardedRedis, GuardedRedis.from_pool(pool))   # from_pool builds `cls`
    client.breakers, client.breaker_name = breakers, name
    return client


class GuardedClusterPipeline(ClusterPipeline):
    breakers: Breakers
    breaker_name: str

    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> list[Any]:
        result: list[Any] = await _guarded(
            self.breakers, self.breaker_name,
            lambda: ClusterPipeline.execute(self, raise_on_error, allow_redirections), blocks=False)
        return result


class GuardedRedisCluster(RedisCluster):
    """A Redis Cluster client whose every command and pipeline passes `breakers[breaker_name]`."""

    breakers: Breakers
    breaker_name: str

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        return await _guarded(self.breakers, self.breaker_name,
                              lambda: RedisCluster.execute_command(self, *args, **kwargs), blocks=_blocks(args))

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> GuardedClusterPipeline:
        if shard_hint:
            raise RedisClusterException("shard_hint is deprecated in cluster mode")   # as RedisCluster.pipeline
        pipe = GuardedClusterPipeline(self, transaction)   # type: ignore[abstract]  # as RedisCluster.pipeline builds it
        pipe.breakers, pipe.breaker_name = self.breakers, self.breaker_name
        return pipe


def guarded_cluster(nodes: list[ClusterNode], connections_max: int, breakers: Breakers, name: str) -> GuardedRedisCluster:
    client = GuardedRedisCluster(startup_nodes=nodes, decode_responses=False, max_connections=connections_max)
    client.breakers, client.breaker_name = breakers, name
    return client
