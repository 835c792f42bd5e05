"""The worker applies a micro-batch's entries of every partition in one Lua call per board, storing
each partition's offset with them. Checked against real Redis: a call meeting an offset another
worker stored meanwhile applies nothing, and the worker applies the rest (exactly once, against
the oracle); one call per board, whatever the number of partitions; the batched anti-cheat gives
the verdicts of one check per entry (hypothesis, against the previous per-entry code)."""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import pytest
import redis.asyncio as aioredis
from hypothesis import given, settings
from hypothesis import strategies as st
from podium.region.rank_store_reply import AppliedLog
from podium.region.stream.anticheat import AntiCheat, Verdict
from podium.region.stream.processor import StreamProcessor
from podium.region.stream.records import decode_groups

from podium.model import Board, ScoreEntry
from tests.stream.test_processor import (
    T0,
    CrashingStore,
    batched_records,
    board_state,
    create_boards,
    forget_event_ids,
    make,
    oracle,
)

pytestmark = pytest.mark.anyio


class CountingStore(CrashingStore):
    """The real store, counting the worker's Lua calls and, once, letting another worker apply
    first (between the worker reading the stored offsets and its call)."""

    calls: list[tuple[str, int, int, bool]]   # board, entries, partitions, applied (not skipped)
    before_first_call: Callable[[], Awaitable[None]] | None = None

    async def apply_log(self, board: Board, entries: Sequence[ScoreEntry], now_ms: int,
                        offsets: Sequence[tuple[str, int, int]]) -> AppliedLog | None:
        hook, self.before_first_call = self.before_first_call, None
        if hook is not None:
            await hook()
        result = await super().apply_log(board, entries, now_ms, offsets)
        self.calls.append((board.id, len(entries), len(offsets), result is not None))
        return result


async def counting(redis: aioredis.Redis) -> tuple[StreamProcessor, CountingStore]:
    processor, store, _ = await make(redis)
    counted = CountingStore(redis, store.limits)
    counted.calls = []
    processor.store = counted
    return processor, counted


async def test_one_call_per_board_covers_every_partition(redis_single: aioredis.Redis) -> None:
    processor, store = await counting(redis_single)
    boards = await create_boards(processor, ["xp-a", "xp-b"])
    rng = random.Random(3)
    entries = [ScoreEntry(rng.choice(boards).id, f"p{rng.randrange(50)}", rng.randrange(1, 100), T0 - 1000, f"x{i}")
               for i in range(400)]
    log = batched_records(entries, partitions=4, seed=3)
    assert len({r.partition for r in log}) == 4
    report = await processor.process(log)
    assert report.applied == 400
    assert sorted(b for b, _, _, _ in store.calls) == ["xp-a", "xp-b"]
    assert all(parts == 4 and applied for _, _, parts, applied in store.calls)
    assert await board_state(store, boards) == oracle(entries)
    again = await processor.process(log)           # a replay: every partition's offset is stored
    assert (again.replayed, again.applied, len(store.calls)) == (400, 0, 2)


@pytest.mark.parametrize("seed", range(3))
async def test_an_offset_stored_by_another_worker_mid_call_is_not_applied_twice(
    redis_single: aioredis.Redis, seed: int
) -> None:
    processor, store = await counting(redis_single)
    other, _, _ = await make(redis_single)             # a second worker, e.g. during a rebalance
    boards = await create_boards(processor, [f"xr-{seed}"])
    rng = random.Random(seed)
    entries = [ScoreEntry(boards[0].id, f"p{rng.randrange(30)}", rng.randrange(1, 100), T0 - 1000, f"r{seed}-{i}")
               for i in range(300)]
    log = batched_records(entries, partitions=3, seed=seed)
    taken = rng.choice(sorted({r.partition for r in log}))
    upto = rng.choice([r.offset for r in log if r.partition == taken])
    stolen = [r for r in log if r.partition == taken and r.offset <= upto]

    async def other_worker_applies_first() -> None:
        await other.process(stolen)
        await forget_event_ids(redis_single, boards)   # only the offsets stand between a replay and a double count

    store.before_first_call = other_worker_applies_first
    report = await processor.process(log)
    stolen_entries = sum(len(g) for r in stolen for _, g in decode_groups(r.value) or [])
    # the first call met the offset the other worker stored and applied nothing; the second left
    # the other worker's records out, and still stored every partition's offset
    assert [(n, applied) for _, n, _, applied in store.calls] == [(300, False), (300 - stolen_entries, True)]
    assert report.applied == 300 - stolen_entries
    assert await board_state(store, boards) == oracle(entries)


@dataclass
class Previous:
    """The per-entry anti-cheat's state as it was (one `check` per entry, _Moments per board)."""

    minute: int = -1
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    moments: dict[str, tuple[int, float, float]] = field(default_factory=dict)


def previous_check(state: Previous, entries: list[ScoreEntry], now_ms: int, rate_max: int, z_max: float,
                   samples_min: int, players_max: int) -> list[tuple[int, str]]:
    out = []
    for i, e in enumerate(entries):
        minute = now_ms // 60_000
        if minute != state.minute or len(state.counts) >= players_max:
            state.minute, state.counts = minute, {}
        key = (e.board, e.player)
        state.counts[key] = state.counts.get(key, 0) + 1
        if state.counts[key] > rate_max:
            out.append((i, f"rate {state.counts[key]}"))
            continue
        n, mean, m2 = state.moments.get(e.board, (0, 0.0, 0.0))
        z = 0.0 if n < 2 or m2 <= 0 else abs(e.score - mean) / math.sqrt(m2 / (n - 1))
        if n >= samples_min and z > z_max:
            out.append((i, f"anomaly {z:.1f}"))
            continue
        n += 1
        d = e.score - mean
        mean += d / n
        m2 += d * (e.score - mean)
        state.moments[e.board] = (n, mean, m2)
    return out


def _label(v: Verdict) -> str:
    return f"{v.reason} {v.detail['count'] if v.reason == 'rate' else v.detail['anomaly']}"


@settings(max_examples=150, deadline=None)
@given(
    batches=st.lists(st.tuples(st.sampled_from(["b1", "b2"]), st.integers(0, 3),
                               st.lists(st.tuples(st.sampled_from(["p", "q", "r", "s"]), st.integers(-50, 10**6)),
                                        max_size=30)), max_size=8),
    rate_max=st.integers(1, 6), z_max=st.sampled_from([-1.0, 0.5, 2.0, 3.0]), samples_min=st.integers(0, 6),
    players_max=st.integers(1, 5),
)
def test_batched_anti_cheat_gives_the_per_entry_verdicts(
    batches: list[tuple[str, int, list[tuple[str, int]]]], rate_max: int, z_max: float, samples_min: int,
    players_max: int,
) -> None:
    anti = AntiCheat(rate_max, z_max, samples_min, players_max)
    previous = Previous()
    for board, minute, rows in batches:
        now_ms = T0 + minute * 60_000
        entries = [ScoreEntry(board, player, score, T0, "") for player, score in rows]
        got = [(i, _label(v)) for i, v in anti.check_many(board, entries, now_ms)]
        assert got == previous_check(previous, entries, now_ms, rate_max, z_max, samples_min, players_max)
