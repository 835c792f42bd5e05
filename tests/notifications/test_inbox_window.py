"""The Redis window in front of the warm inbox (`inbox_window_redis.WindowedInbox`) answers exactly
what the warm store answers, and holds exactly the warm store's newest notifications.

Property test: random sequences of appends (new, repeated and old notifications, batches spanning
players, inboxes overflowing `inbox_len_max`), marks (some ids, all), Redis losses (the window's
keys deleted) and reads (any `first`, `unreadOnly`, cursors taken from earlier pages of either
store) on a real SQLite inbox and a real Redis: every page of the windowed store equals the warm
store's page for the same request (items, cursors, read flags, hasNext, the unread count), and
after every step a player's window, when present, is the warm store's newest `window_len` with
their read flags. The window must also answer reads itself (a test that only ever fell through
to the warm store would prove nothing)."""

from __future__ import annotations

import asyncio
from itertools import count
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from podium.region.notifications.inbox import InboxPage
from podium.region.notifications.inbox_sqlite import SqliteInbox
from podium.region.notifications.inbox_window_redis import WindowedInbox, cursor_of, window_keys

from podium.errors import BadUserInput
from podium.notify_rules import Notification, RuleKind
from podium.redis_client import connect
from podium.redis_server import RedisServer

PLAYERS = ("ann", "bob", "c}d")
_runs = count()

note_st = st.tuples(st.sampled_from(PLAYERS), st.integers(0, 12), st.integers(0, 5))   # player, id, at_ms
op_st = st.one_of(
    st.tuples(st.just("append"), st.lists(note_st, min_size=1, max_size=6)),
    st.tuples(st.just("mark"), st.sampled_from(PLAYERS), st.none() | st.lists(st.integers(0, 12), max_size=4)),
    st.tuples(st.just("read"), st.sampled_from(PLAYERS), st.integers(1, 7), st.booleans(), st.integers(0, 3)),
    st.tuples(st.just("lose"), st.sampled_from(PLAYERS)),
)


def _note(run: int, player: str, n: int, at_ms: int) -> Notification:
    # an id written again may carry another time: both stores keep the first write
    return Notification(f"r:{player}:{n}", RuleKind.THRESHOLD, "r", "b", f"{run}-{player}", 1_000 + at_ms, score=n)


def _shape(page: InboxPage) -> tuple[Any, ...]:
    return ([(i.cursor, i.notification.to_dict(), i.read) for i in page.items], page.has_next, page.unread)


async def _window_matches(store: WindowedInbox, warm: SqliteInbox, player: str, redis: aioredis.Redis) -> None:
    w, u, d, _, m, _ = window_keys(player)
    if not await redis.exists(m):
        return
    members = [x.decode() for x in await redis.zrevrange(w, 0, -1)]
    unread = {x.decode() for x in await redis.zrange(u, 0, -1)}
    complete, count_unread = await redis.hmget(m, "complete", "unread")
    newest = await warm.page(player, store.window_len, None, False)
    assert [cursor_of(x) for x in members] == [i.cursor for i in newest.items]
    assert [x not in unread for x in members] == [i.read for i in newest.items]
    assert (complete == b"1") == (not newest.has_next)
    assert int(count_unread) == newest.unread
    assert sorted(x.decode() for x in await redis.hkeys(d)) == sorted(members)


async def _scenario(url: str, path: Path, ops: list[Any], window_len: int, len_max: int, lean: bool = False) -> int:
    """`lean`: the client `connect()` builds, with a lean connection (the window's reads and version
    checks then go over it, as on a region); else a plain redis-py client (the pipelined paths)."""
    run = next(_runs)
    redis: Any = connect(url) if lean else aioredis.Redis.from_url(url)
    warm = SqliteInbox(path / f"inbox{run}.sqlite3", len_max)
    store = WindowedInbox(warm, redis, window_len, 60_000, len_max)
    await store.open()
    cursors: list[str] = []
    try:
        for op in ops:
            if op[0] == "append":
                await store.append([_note(run, *n) for n in op[1]])
            elif op[0] == "mark":
                ids = None if op[2] is None else [f"r:{op[1]}:{i}" for i in op[2]]
                assert await store.mark_read(f"{run}-{op[1]}", ids) == await warm.unread(f"{run}-{op[1]}")
            elif op[0] == "lose":
                await redis.delete(*window_keys(f"{run}-{op[1]}")[:5])
            else:
                _, player, first, unread_only, pick = op
                after = cursors[-1 - pick] if pick and len(cursors) > pick else None
                got, want = (await store.page(f"{run}-{player}", first, after, unread_only),
                             await warm.page(f"{run}-{player}", first, after, unread_only))
                assert _shape(got) == _shape(want)
                assert await store.unread(f"{run}-{player}") == want.unread
                cursors += [i.cursor for i in got.items]
            for player in PLAYERS:
                await _window_matches(store, warm, f"{run}-{player}", redis)
        return store.served
    finally:
        await store.close()
        await redis.aclose()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(op_st, min_size=1, max_size=25), window_len=st.integers(1, 6), len_max=st.integers(1, 8),
       lean=st.booleans())
def test_window_answers_as_the_warm_store(redis_server: RedisServer, tmp_path: Path, ops: list[Any],
                                         window_len: int, len_max: int, lean: bool) -> None:
    try:
        asyncio.run(_scenario(redis_server.url, tmp_path, ops, window_len, len_max, lean))
    except AssertionError as exc:
        raise AssertionError(f"ops={ops} window_len={window_len} len_max={len_max} lean={lean}") from exc


def test_the_window_serves_pages_itself(redis_server: RedisServer, tmp_path: Path) -> None:
    """Reads of a filled window do not reach the warm store; appends keep it filled."""
    reads = [("read", "ann", 3, False, 0), ("read", "ann", 2, True, 0), ("read", "ann", 3, False, 1)]
    ops = [("append", [("ann", i, 0) for i in range(5)]), *reads, ("append", [("ann", 9, 0)]), *reads]
    for lean in (False, True):
        served = asyncio.run(_scenario(redis_server.url, tmp_path, ops, 10, 20, lean))
        assert served == 5   # all but the first read (the miss that fills the window)


def test_a_forged_cursor_is_refused(redis_server: RedisServer, tmp_path: Path) -> None:
    async def run() -> None:
        redis = aioredis.Redis.from_url(redis_server.url)
        store = WindowedInbox(SqliteInbox(tmp_path / "f.sqlite3", 5), redis, 3, 60_000, 5)
        await store.open()
        try:
            with pytest.raises(BadUserInput):
                await store.page("ann", 2, "not-a-cursor", False)
        finally:
            await store.close()
            await redis.aclose()

    asyncio.run(run())


def test_a_batch_that_overflows_and_repeats_a_trimmed_id(redis_server: RedisServer, tmp_path: Path) -> None:
    """The warm store inserts a whole batch, then trims: an id repeated later in the batch (with a
    newer time) is ignored because its first copy is still there. A window that trimmed note by
    note forgot that id half-way and took the repeat as new, holding a notification the warm store
    never kept (the reported property failure: the window held an entry the warm store did not)."""
    ops = [("append", [("ann", 0, 1), ("ann", 1, 2)]), ("read", "ann", 2, False, 0),
           ("append", [("ann", 2, 3), ("ann", 3, 4), ("ann", 0, 5)])]
    asyncio.run(_scenario(redis_server.url, tmp_path, ops, 6, 2))


class _GatedWarm(SqliteInbox):
    """A warm store whose next `page` waits for the test: a fill paused between its version bump
    and its install, at a chosen point of an interleaving."""

    def __init__(self, path: Path, inbox_len_max: int) -> None:
        super().__init__(path, inbox_len_max)
        self.gate: asyncio.Event | None = None
        self.reached = asyncio.Event()

    async def page(self, player: str, first: int, after: str | None, unread_only: bool) -> InboxPage:
        result = await super().page(player, first, after, unread_only)
        if self.gate is not None:
            gate, self.gate = self.gate, None
            self.reached.set()
            await gate.wait()
        return result


def test_a_fill_paused_across_a_redis_loss_installs_nothing_stale(redis_server: RedisServer, tmp_path: Path) -> None:
    """Deterministic interleaving: reader A bumps the player's version and reads the warm store;
    Redis loses its data (the version key with it); appends push A's oldest notifications out of
    the warm store (no version key: the window is not touched); reader B fills the window; then A
    installs what it read. With a counter as the version, B's bump restarted at A's value and A's
    stale copy (holding notifications the warm store trimmed) passed the check."""

    def note(i: int) -> Notification:
        return Notification(f"g:{i}", RuleKind.THRESHOLD, "r", "b", "gated", 1_000 + i)

    async def run() -> None:
        redis = aioredis.Redis.from_url(redis_server.url)
        warm = _GatedWarm(tmp_path / "gated.sqlite3", 3)
        store = WindowedInbox(warm, redis, 6, 60_000, 3)
        await store.open()
        try:
            await store.append([note(i) for i in range(3)])
            gate = warm.gate = asyncio.Event()
            reader_a = asyncio.create_task(store.page("gated", 3, None, False))
            await warm.reached.wait()                                # A: version bumped, warm read done
            await redis.delete(*window_keys("gated"))                # a Redis loss: every key of the player
            await store.append([note(3), note(4)])                   # g:0 and g:1 leave the warm store
            await store.page("gated", 3, None, False)                # B fills the window
            gate.set()                                               # A installs (or not) what it read
            await reader_a
            await _window_matches(store, warm, "gated", redis)
        finally:
            await store.close()
            await redis.aclose()

    asyncio.run(run())
