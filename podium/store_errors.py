"""Store errors become Podium's coded errors at the adapter, for every method.

A Redis that is down, loading its AOF, out of memory or refusing writes for a full disk
(`MISCONF`) is a condition a client should wait out: `Unavailable` (503, Retry-After, GraphQL code
UNAVAILABLE). Any other Redis error is a bug on our side: `Internal` (500, details only in the log).
`translate_store_errors` wraps every public coroutine (and async generator) a class defines, so a
method added later is translated too; `tests/kernel/test_store_adapters_down.py` checks that by
introspection against real, killed stores.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from redis.exceptions import BusyLoadingError, ReadOnlyError, RedisClusterException, RedisError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from podium.errors import Internal, PodiumError, Unavailable

C = TypeVar("C", bound=type)
RETRY_AFTER_S = 1.0
TRANSLATED_ATTR = "__podium_translates_store_errors__"
# Replies with which a live Redis refuses work for a while: disk full (MISCONF), memory full (OOM),
# loading its data (LOADING), a replica or a cluster in flux (READONLY, CLUSTERDOWN, TRYAGAIN, MASTERDOWN).
# Inside a Lua script or a pipeline the reply comes wrapped ("Error running script ...: -MISCONF ...",
# "Command # 1 (...) of pipeline caused error: ('MISCONF ..."): match the code wherever it starts a word.
_TRANSIENT_REPLY = re.compile(r"(?:^|[-'\"(\s])(MISCONF|OOM|LOADING|READONLY|CLUSTERDOWN|TRYAGAIN|MASTERDOWN) ")
_TRANSIENT_TYPES = (RedisConnectionError, RedisTimeoutError, BusyLoadingError, ReadOnlyError,
                    RedisClusterException, OSError)


def translate(exc: BaseException, store: str) -> PodiumError:
    """The coded error for a driver error of `store` (a name for the message, e.g. "Redis")."""
    if isinstance(exc, _TRANSIENT_TYPES):
        # an open breaker (podium/redis_guard.py) knows how long until it probes again
        return Unavailable(f"{store} is unreachable; retry shortly",
                           retryAfter=getattr(exc, "retry_after_s", RETRY_AFTER_S))
    reply = _TRANSIENT_REPLY.search(str(exc)) if isinstance(exc, ResponseError) else None
    if reply is not None:
        return Unavailable(f"{store} refuses work for now ({reply.group(1)}); retry shortly",
                           retryAfter=RETRY_AFTER_S)
    return Internal(f"{store} rejected an operation")


@contextmanager
def store_errors(store: str) -> Iterator[None]:
    """Translates driver errors raised inside the block (`raise … from exc`, the cause is kept)."""
    try:
        yield
    except PodiumError:
        raise
    # redis-py wraps socket errors; an OSError here is the caller's own. RedisClusterException is not
    # a RedisError ("Redis Cluster cannot be connected" when no node answers the topology refresh)
    except (RedisError, RedisClusterException) as exc:
        raise translate(exc, store) from exc


def _wrap_coroutine(fn: Callable[..., Any], store: str) -> Callable[..., Any]:
    # store_errors' clauses inline: a generator-based context manager per call was a tenth of an
    # in-process rank read's own CPU
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return await fn(*args, **kwargs)
        except PodiumError:
            raise
        except (RedisError, RedisClusterException) as exc:
            raise translate(exc, store) from exc

    setattr(wrapper, TRANSLATED_ATTR, True)
    return wrapper


def _wrap_async_generator(fn: Callable[..., AsyncIterator[Any]], store: str) -> Callable[..., AsyncIterator[Any]]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        with store_errors(store):
            async for item in fn(*args, **kwargs):
                yield item

    setattr(wrapper, TRANSLATED_ATTR, True)
    return wrapper


def translate_store_errors(store: str) -> Callable[[C], C]:
    """Class decorator: every public `async def` / async generator the class defines translates
    driver errors of `store` into Unavailable / Internal."""

    def decorate(cls: C) -> C:
        for name, fn in list(vars(cls).items()):
            if name.startswith("_"):
                continue
            if inspect.iscoroutinefunction(fn):
                setattr(cls, name, _wrap_coroutine(fn, store))
            elif inspect.isasyncgenfunction(fn):
                setattr(cls, name, _wrap_async_generator(fn, store))
        return cls

    return decorate


def public_async_methods(cls: type) -> list[str]:
    """The names a contract test must call: every public coroutine or async generator of `cls`."""
    return sorted(name for name, fn in inspect.getmembers(cls)
                  if not name.startswith("_") and (inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn)))
