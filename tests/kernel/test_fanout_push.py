"""Push delivery under overload: a slow consumer never receives a backlog (one coalesced diff from
what it saw, once it drains) and never delays the others; a tick that runs out of time leaves the
rest to the next tick, again as one coalesced diff. Driven through the hub's injected readers,
clock and sockets (a socket here is a byte list with a settable unsent-bytes count)."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from podium.clock import FakeClock
from podium.config import ApiLimits
from podium.fanout import FanOut, TopUpdate
from podium.fanout_push import PushSink
from podium.model import RankedEntry
from podium.top_diff import diff_top

pytestmark = pytest.mark.anyio


class Board:
    """The board the hub reads: a version that moves with every write."""

    def __init__(self) -> None:
        self.scores: dict[str, int] = {"ann": 10, "bob": 5}
        self.version = 0

    def write(self, player: str, score: int) -> None:
        self.scores[player] = score
        self.version += 1

    def top(self, n: int) -> list[RankedEntry]:
        ranked = sorted(self.scores.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
        return [RankedEntry(i + 1, p, s, 0) for i, (p, s) in enumerate(ranked)]


class Socket:
    def __init__(self, clock: FakeClock | None = None, write_ms: int = 0) -> None:
        self.frames: list[bytes] = []
        self.unsent = 0
        self.clock, self.write_ms = clock, write_ms

    def write(self, data: bytes) -> None:
        self.frames.append(data)
        if self.clock is not None:
            self.clock.advance(self.write_ms)    # writing takes time: the tick can run out of it

    def buffered(self) -> int:
        return self.unsent

    def closing(self) -> bool:
        return False


def updates(socket: Socket) -> list[TopUpdate]:
    return [pickle.loads(f) for f in socket.frames]


async def render(update: Any) -> bytes:
    return pickle.dumps(update)


async def hub_with(board: Board, clock: FakeClock, limits: ApiLimits,
                   sockets: list[Socket]) -> tuple[FanOut, TopUpdate, list[Any], list[Any]]:
    """A hub with one push subscriber per socket (their generators stay open, as `deliver` keeps them)."""
    async def read_range(b: str, start: int, count: int) -> list[RankedEntry]:
        return board.top(start + count)[start:]

    async def read_players(b: str, players: list[str]) -> list[RankedEntry | None]:
        return [None for _ in players]

    async def read_versions(boards: list[str]) -> dict[str, str]:
        return {b: str(board.version) for b in boards}

    delivered: list[tuple[float, int]] = []
    hub = FanOut(read_range, read_players, read_versions, limits, clock,
                 on_delivery=lambda ms, coalesced: delivered.append((ms, coalesced)))
    generators = [hub.subscribe_top("arena", 3) for _ in sockets]
    first = None
    for gen, socket in zip(generators, sockets, strict=True):
        first = await anext(gen)
        hub.attach(first, PushSink(socket, "shape", render, first.seq))
    assert first is not None
    return hub, first, delivered, generators


async def test_a_slow_consumer_gets_no_backlog_and_never_delays_the_others() -> None:
    board, clock = Board(), FakeClock()
    fast, slow = Socket(), Socket()
    hub, first, delivered, _open = await hub_with(board, clock, ApiLimits(push_buffer_bytes_max=1000), [fast, slow])
    slow.unsent = 10_000                          # the slow client stopped reading
    states = []
    for i in range(5):
        board.write(f"p{i}", 100 + i)
        states.append(board.top(3))
        await hub.tick()
    assert [u.seq for u in updates(fast)] == [1, 2, 3, 4, 5]          # every tick, on time
    assert [u.since for u in updates(fast)] == [0, 1, 2, 3, 4]
    assert slow.frames == []                                          # nothing queued for it
    assert sum(c for _, c in delivered) == 5 and hub.pusher.stats.coalesced == 5
    slow.unsent = 0                                                   # it drained
    await hub.tick()                                                  # no write since: still caught up
    [caught_up] = updates(slow)
    assert (caught_up.since, caught_up.seq) == (0, 5)                 # one diff, from what it saw to now
    assert caught_up.changes == diff_top(first.entries, states[-1])
    assert len(fast.frames) == 5                                      # the others got nothing twice
    await hub.tick()
    assert len(slow.frames) == 1 and len(fast.frames) == 5


async def test_a_tick_out_of_time_leaves_the_rest_one_coalesced_diff_at_the_next_tick() -> None:
    board, clock = Board(), FakeClock()
    sockets = [Socket(clock, write_ms=1) for _ in range(600)]
    hub, first, delivered, _open = await hub_with(board, clock, ApiLimits(tick_ms=300), sockets)
    board.write("cat", 50)
    await hub.tick()                     # 1 ms per write: 300 ms pass after ~300 sockets
    reached = [s for s in sockets if s.frames]
    assert 256 <= len(reached) < 600 and delivered[-1][1] == 600 - len(reached)
    board.write("dan", 60)
    await hub.tick()                     # those it missed go first: one diff from tick 0, never two frames
    for s in sockets:
        if s not in reached:
            [only] = updates(s)
            assert (only.since, only.seq) == (0, 2)
            assert only.changes == diff_top(first.entries, board.top(3))
    await hub.tick()                     # no write: the rest of tick 2 is delivered
    assert all(updates(s)[-1].seq == 2 for s in sockets)
    assert all(updates(s)[-1].since == 1 for s in reached)
