"""The trending fan-out driven through its injected readers and clock: a window's top-K is re-read
when the stream changes or the window slides to a new minute, diffs are shared, and limits hold."""

from __future__ import annotations

import pytest
from podium.region.trending.live import TrendingFanOut

from podium.clock import FakeClock
from podium.config import ApiLimits, TrendingSettings
from podium.errors import BadUserInput
from podium.model import RankedEntry
from podium.top_diff import ChangeKind

pytestmark = pytest.mark.anyio


async def test_changes_and_window_slides_are_pushed_once_per_tick() -> None:
    clock = FakeClock(1_700_000_000_000)
    counts = {"dust2": 2, "nuke": 1}
    version = {"s": 1}
    reads = 0

    async def read_top(stream: str, window: str, k: int, dims: tuple[tuple[str, str], ...]) -> list[RankedEntry]:
        nonlocal reads
        reads += 1
        ranked = sorted(counts.items(), key=lambda p: (-p[1], p[0]))[:k]
        return [RankedEntry(r, item, c, 0) for r, (item, c) in enumerate(ranked, 1)]

    async def read_versions(streams: list[str]) -> dict[str, int]:
        return {s: version[s] for s in streams}

    live = TrendingFanOut(read_top, read_versions, ApiLimits(), TrendingSettings(), clock)
    a, b = live.subscribe("s", "1h", 2), live.subscribe("s", "1h", 2)
    first_a, first_b = await a.__anext__(), await b.__anext__()
    assert first_a.full and [e.player for e in first_a.items] == ["dust2", "nuke"] and first_b.seq == first_a.seq
    assert reads == 1                                   # one read for both subscribers
    await live.tick()                                   # first tick learns the version: re-read, same rows
    await live.tick()
    assert reads == 2                                   # nothing changed, the window did not slide
    counts["nuke"] = 3
    version["s"] = 2
    await live.tick()
    ua, ub = await a.__anext__(), await b.__anext__()
    assert ua.key == ub.key and ua.changes is ub.changes     # one diff, shared (one payload)
    assert {(c.kind, c.player, c.rank) for c in ua.changes} == {(ChangeKind.SCORE_CHANGED, "nuke", 1),
                                                                (ChangeKind.MOVED, "dust2", 2)}
    counts["dust2"] = 0                                  # old events leave the window ...
    counts.pop("dust2")
    clock.advance(60_000)                                # ... when it slides a minute, with no new batch
    await live.tick()
    slid = await a.__anext__()
    assert {(c.kind, c.player) for c in slid.changes} == {(ChangeKind.LEFT, "dust2")}
    await a.aclose()
    await b.aclose()
    assert live.subscriptions == 0 and not live.watches


async def test_limits_are_enforced() -> None:
    async def never(*_: object) -> list[RankedEntry]:
        raise AssertionError("not read")

    live = TrendingFanOut(never, never, ApiLimits(), TrendingSettings(subscription_k_max=5, window_ms_max=3_600_000),
                          FakeClock())
    for window, k in (("1h", 6), ("2h", 1), ("1y", 1), ("1h", 0)):
        with pytest.raises(BadUserInput):
            await live.subscribe("s", window, k).__anext__()


async def test_a_change_of_label_alone_is_sent_and_as_of_times_alone_are_not() -> None:
    """The global tier's reads carry a label: a new precision (or guarantee, or error bound) is a
    message even with the same ranking; newer regions' as-of times alone are not, but ride along."""
    from podium.replication.trending_live import TopRead, TrendLabel

    clock = FakeClock(1_700_000_000_000)
    rows = [RankedEntry(1, "dust2", 5, 0)]
    label = TrendLabel("EXACT", regions_as_of=(("eu", 1),))
    version = {"s": 1}

    async def read_top(stream: str, window: str, k: int, dims: tuple[tuple[str, str], ...]) -> TopRead:
        return TopRead(list(rows), label)

    async def read_versions(streams: list[str]) -> dict[str, int]:
        return {s: version[s] for s in streams}

    live = TrendingFanOut(read_top, read_versions, ApiLimits(), TrendingSettings(), clock)
    sub = live.subscribe("s", "1h", 1)
    first = await sub.__anext__()
    assert first.label == label and first.label is not None and first.label.regions_as_of == (("eu", 1),)
    await live.tick()
    label = TrendLabel("EXACT", regions_as_of=(("eu", 2),))         # only a newer as-of
    version["s"] = 2
    await live.tick()
    label = TrendLabel("APPROXIMATE", 0.01, False, 4, (("dust2", 3, 7),), (("eu", 3),))
    version["s"] = 3
    await live.tick()
    update = await sub.__anext__()
    assert not update.full and update.changes == [] and update.seq == first.seq + 1   # no message for the as-of
    assert update.label == label and update.label is not None and update.label.regions_as_of == (("eu", 3),)
    await sub.aclose()
