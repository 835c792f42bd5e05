"""Applying one scored feed event: lock and index the match's contests past the deadline (once),
then fan the delta out to every entry holding the player on each ready contest. The request path
calls it inline; in event-log mode `podium worker` calls it for each record of the contest-feed
topic (`FeedLogApplier`).

Exactly-once effect: delivery is at-least-once (a killed worker's uncommitted records come again),
and every chunk of a fan-out is applied in the same Lua call that advances the event's progress key
(`ct:{C}:ev:<event>`), so a replay skips what was applied and resumes a half-done fan-out where it
stopped. Several events are applied to a contest in one batch (`feed_batch_redis`): one pass over
each index page for all of them, each team updated once per batch."""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import msgspec
from podium.region.contests.feed_batch_redis import RedisFeedBatches
from podium.region.contests.sink_kafka import FEED_DECODER
from podium.region.contests.store_redis import RedisContestStore

_BATCHES: weakref.WeakKeyDictionary[RedisContestStore, RedisFeedBatches] = weakref.WeakKeyDictionary()


async def ready_contests(store: RedisContestStore, match_id: str) -> list[str]:
    """Contests of the match, locked and indexed (idempotent; the first event after the deadline
    does it)."""
    ready = []
    for contest_id in await store.contests_of(match_id):
        state = await store.lock(contest_id)
        if state == "locked":
            await store.build_index(contest_id)
            await store.set_state(contest_id, "indexed")
            state = "indexed"
        if state in ("indexed", "settled"):
            ready.append(contest_id)
    return ready


async def apply_event(store: RedisContestStore, match_id: str, event_id: str, player: str, delta: int) -> int:
    """Entries updated by this call (0 when the event was applied before)."""
    return (await apply_events(store, match_id, [(event_id, player, delta)]))[0]


async def apply_events(store: RedisContestStore, match_id: str, events: list[tuple[str, str, int]]) -> list[int]:
    """(event id, player, delta) events of one match, applied together to each ready contest; per
    event, the entries this call updated for it (0 when it was applied before)."""
    batches = _BATCHES.get(store)
    if batches is None:
        batches = _BATCHES[store] = RedisFeedBatches(store)
    counts = [0] * len(events)
    for contest_id in await ready_contests(store, match_id):
        for i, n in enumerate(await batches.fan_out(contest_id, events)):
            counts[i] += n
    return counts


class FeedLogApplier:
    """The worker's side of the feed's event-log mode: records applied in order."""

    def __init__(self, store: RedisContestStore) -> None:
        self.store = store
        self.dropped = 0      # records Podium did not write (skipped, never stalling the partition)

    async def apply(self, values: Sequence[bytes]) -> int:
        """Applies a poll's records, one batch per match (the sum is order-free, so exact in any order)."""
        by_match: dict[str, list[tuple[str, str, int]]] = {}
        for value in values:
            try:
                record = FEED_DECODER.decode(value)
            except msgspec.MsgspecError:
                self.dropped += 1
                continue
            by_match.setdefault(record.match, []).append((record.event, record.player, record.delta))
        updated = 0
        for match_id, events in by_match.items():
            updated += sum(await apply_events(self.store, match_id, events))
        return updated
