"""The fan-out hub's pure core, driven through its injected readers and clock."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from podium.clock import FakeClock
from podium.config import ApiLimits
from podium.errors import RateLimited
from podium.fanout import FanOut
from podium.model import RankedEntry

pytestmark = pytest.mark.anyio


class ReadFailed(Exception):
    pass


@pytest.mark.parametrize("kind", ["top", "rank"])
async def test_a_failed_first_read_fails_every_waiting_subscriber_and_the_next_one_reads_again(kind: str) -> None:
    gate = asyncio.Event()
    calls = 0

    async def first_read_fails(board: str) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            await gate.wait()          # the first read is slow, then fails (e.g. Redis pool exhausted)
            raise ReadFailed(board)

    async def read_range(board: str, start: int, count: int) -> list[RankedEntry]:
        await first_read_fails(board)
        return [RankedEntry(1, "ann", 10, 0)]

    async def read_players(board: str, players: list[str]) -> list[RankedEntry | None]:
        await first_read_fails(board)
        return [RankedEntry(1, p, 10, 0) for p in players]

    async def no_versions(boards: list[str]) -> dict[str, str]:
        return {}

    hub = FanOut(read_range, read_players, no_versions, ApiLimits(), FakeClock())

    async def first_message() -> object:
        updates = hub.subscribe_top("arena", 3) if kind == "top" else hub.subscribe_rank("arena", "ann")
        try:
            return await anext(updates)
        finally:
            await updates.aclose()

    waiting = [asyncio.create_task(first_message()) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), 5)
    assert all(isinstance(r, ReadFailed) for r in results), results
    assert hub.tops == {} and hub.ranks == {} and hub.subscriptions == 0
    update = await asyncio.wait_for(first_message(), 5)
    if kind == "top":
        assert update.entries == [RankedEntry(1, "ann", 10, 0)]   # type: ignore[attr-defined]
    else:
        assert (update.rank, update.score) == (1, 10)              # type: ignore[attr-defined]
    assert hub.tops == {} and hub.ranks == {}


@pytest.mark.parametrize("kind", ["top", "rank"])
async def test_a_held_subscriber_is_counted_until_closed_once_and_its_watch_goes_with_the_last(kind: str) -> None:
    """`open_top` / `open_rank` (the push subscribers' start, podium.gql.live_direct) count like the
    generators: the first update, one count per holder, `close()` idempotent, the watch dropped
    with its last subscriber, and the per-process limit applies."""
    async def read_range(board: str, start: int, count: int) -> list[RankedEntry]:
        return [RankedEntry(1, "ann", 10, 0)]

    async def read_players(board: str, players: list[str]) -> list[RankedEntry | None]:
        return [RankedEntry(1, p, 10, 0) for p in players]

    async def no_versions(boards: list[str]) -> dict[str, str]:
        return {}

    hub = FanOut(read_range, read_players, no_versions, ApiLimits(subscriptions_per_process_max=3), FakeClock())

    async def hold() -> Any:
        return await (hub.open_top("arena", 3) if kind == "top" else hub.open_rank("arena", "ann"))

    held = [await hold(), await hold()]
    watches = hub.tops if kind == "top" else hub.ranks
    assert hub.subscriptions == 2 and len(watches) == 1
    first = held[0].first
    assert first.seq == 0 and (first.entries == [RankedEntry(1, "ann", 10, 0)] if kind == "top" else first.rank == 1)
    generator = hub.subscribe_top("arena", 3) if kind == "top" else hub.subscribe_rank("arena", "ann")
    assert (await anext(generator)).seq == 0 and hub.subscriptions == 3
    with pytest.raises(RateLimited):
        await hold()
    assert hub.subscriptions == 3
    held[0].close()
    held[0].close()
    assert hub.subscriptions == 2 and len(watches) == 1
    await generator.aclose()
    held[1].close()
    assert hub.subscriptions == 0 and watches == {}
