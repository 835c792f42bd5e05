"""What a board's next top is evaluated against: the top the rules last saw, so a top the
fan-out sends afresh (a new watch after an error, a rule change at the same slice, a Redis that
lost its data and was rebuilt) notifies what changed since, instead of being a new baseline.

A baseline (no notification) only when nothing is known of the board at this slice (a first
watch with no journal), or when the season changed (a new season's top is not a change of the
old one's standings)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from podium.region.notifications.journal_redis import Baseline

from podium.fanout import TopUpdate
from podium.model import RankedEntry
from podium.tasks import cancel_and_wait
from podium.top_diff import apply_diff


@dataclass(frozen=True, slots=True)
class SeenTop:
    """A top the rules were evaluated on: its slice, its season (None: unknown), the top rules live then."""

    n: int
    season: int | None
    rule_ids: frozenset[str]
    entries: list[RankedEntry]


def resume_from(journaled: Baseline | None, seen: SeenTop | None, n: int, season: int | None) -> SeenTop | None:
    """The top a watch's first top is evaluated against: what this process saw last at the same
    slice and season, else the journal's (a previous process's) at the same slice, else nothing."""
    if seen is not None and seen.n == n:
        return seen if seen.season == season else None
    if journaled is not None and journaled.n == n:
        return SeenTop(n, season, journaled.rule_ids, journaled.entries)
    return None


def still_same_season(before: SeenTop | None, season: int | None) -> SeenTop | None:
    """`before` unless the board's season moved on since (then the next top is a baseline)."""
    if before is None or (before.season is not None and season is not None and before.season != season):
        return None
    return before


async def trusted_tops(updates: AsyncIterator[TopUpdate],
                       trusted: Callable[[list[RankedEntry], bool], Awaitable[bool | None]] | None,
                       poll_s: float) -> AsyncIterator[tuple[str, list[RankedEntry]]]:
    """The fan-out's tops of one watch as (tick, top), only while `trusted(top, after_hold)` (the
    board's data is neither lost nor being rebuilt; after a hold, also: `top` is what the board
    holds now, not a top the fan-out read during the loss and has not re-read since). A top read
    meanwhile is held back, and re-checked every `poll_s` even if the fan-out sends nothing more (a
    rebuilt board that looks as it did before the loss sends no diff): once trusted, the held top
    comes out with its own tick. `trusted` answers None when the held top is not what the board holds
    now: the iteration ends (the watch is restarted, and its new subscription reads the board afresh)."""
    state: list[RankedEntry] = []
    tick, resyncs, held = "", 0, False
    pending: asyncio.Task[TopUpdate] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.create_task(_next(updates))
            done, _ = await asyncio.wait({pending}, timeout=poll_s if held else None)
            if pending in done:
                try:
                    update = pending.result()
                except StopAsyncIteration:
                    return
                pending = None
                tick = f"{update.as_of_ms}.{update.seq}"
                state = update.entries if update.full else apply_diff(state, update.changes)
                out = tick
            else:
                resyncs += 1
                out = f"{tick}.r{resyncs}"      # the held top, evaluated now: a change of its own
            verdict = await trusted(state, held) if trusted is not None else True
            if verdict is None:
                return
            if not verdict:
                held = True
                continue
            held = False
            yield out, state
    finally:
        if pending is not None:
            await cancel_and_wait(pending)
        await updates.aclose()  # type: ignore[attr-defined]


async def _next(updates: AsyncIterator[TopUpdate]) -> TopUpdate:
    return await anext(updates)
