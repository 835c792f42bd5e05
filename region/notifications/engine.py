"""Evaluates the declared rules where a board's top changes: the region's fan-out.

The engine is one more subscriber of the fan-out's top-N hub (one per board with rules, N the slice
its rules need): the tick computes each diff once and never waits for the engine (a slow engine sees
one coalesced diff). The engine evaluates the rules on the new top (pure, `podium.notify_evaluate`)
and writes the notifications through the publisher (inboxes, then outbox). Players below the slice
are not seen (docs/notifications.md, "Which tier evaluates which rule"). `quarantined` rules follow
the board's quarantine stream (appended by apply.lua); `board_ended` compares the live season with
the season cursor and announces an ended season from its final standings.

Top rules are journaled (`journal_redis`): each step records its notifications as pending, the top it
evaluated as the board's cursor and the `overtaken` passes it held or sent, atomically, before they
are written; a starting engine publishes what is pending and holds the journaled passes again, and a
watch evaluates its first top against the last one seen (`resync`). So a kill -9 loses nothing derived.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Sequence
from typing import Protocol

from podium.region.notifications.board_events import (
    board_ended_notifications,
    board_ending_notifications,
    contest_locking_notifications,
    quarantine_notifications,
)
from podium.region.notifications.cursors_redis import RedisSeasonCursor
from podium.region.notifications.data_watch_redis import RedisDataWatch
from podium.region.notifications.journal_redis import Baseline, RedisJournal
from podium.region.notifications.quarantine_feed_redis import RedisQuarantineFeed
from podium.region.notifications.replay import evaluate_replayed
from podium.region.notifications.resync import SeenTop, resume_from, still_same_season, trusted_tops
from podium.region.rank_store import RankStore

from podium.boards import BoardRegistry
from podium.clock import Clock
from podium.config import NotificationSettings
from podium.errors import PodiumError
from podium.fanout import FanOut
from podium.model import RankedEntry, SortOrder
from podium.notify_evaluate import EVENT_KINDS, Coalescer, as_board, evaluate, release_held, slice_for
from podium.notify_queue import PublishQueue, QueuedEngine
from podium.notify_rules import Notification, Rule, RuleKind
from podium.notify_rules_redis import RedisRules
from podium.tasks import cancel_and_wait

log = logging.getLogger("podium.notifications")


class Publisher(Protocol):
    async def publish(self, notes: Sequence[Notification]) -> None:
        """Stores `notes` for good (inboxes, outbox) or raises a PodiumError (then retried)."""
        ...


class ContestLocks(Protocol):
    async def lock_notice(self, contest_id: str, owners_max: int) -> tuple[int, str, list[str]] | None: ...


ENDED_SEASONS_MAX = 10        # seasons announced at most per board per refresh (after a long outage, the latest)


class NotificationEngine(QueuedEngine):
    def __init__(self, rules: RedisRules, inbox: Publisher, fanout: FanOut, settings: NotificationSettings,
                 clock: Clock, quarantine: RedisQuarantineFeed | None = None,
                 seasons: tuple[BoardRegistry, RankStore, RedisSeasonCursor] | None = None,
                 contests: ContestLocks | None = None, journal: RedisJournal | None = None,
                 data: RedisDataWatch | None = None) -> None:
        self.rules_store = rules
        self.journal = journal
        self._recording = 0          # journal steps in flight (recorded, not yet queued)
        self._steps = 0              # journal steps ended (recorded or not)
        self.quarantine = quarantine
        self.seasons = seasons
        self.contests = contests
        self.quarantine_watches: dict[str, asyncio.Task[None]] = {}
        self.quarantine_followed: set[str] = set()       # boards whose quarantine watch has read its cursor
        self.refreshed: set[tuple[str, str]] = set()     # (board, rule id) seen by a completed refresh
        self.inbox = inbox
        self.fanout = fanout
        self.settings = settings
        self.clock = clock
        self.coalescer = Coalescer(settings.coalesce_players_max, settings.overtaken_by_max)
        self.rules: dict[str, list[Rule]] = {}
        self.watches: dict[str, tuple[int, asyncio.Task[None]]] = {}
        self.tops: dict[str, list[RankedEntry]] = {}   # the last top each live watch evaluated
        self.seen: dict[str, SeenTop] = {}              # the last top evaluated per board, kept when its watch ends
        self.data = data
        self.queue = PublishQueue(lambda batch: self.inbox.publish(batch), settings, log, "notifications")
        self._journaling = asyncio.Lock()   # one journal step at a time (held passes change in that order)
        self._held_restored = False    # the ticker loop and the board watches both flush
        self.suppressed = 0       # overtaken passes outside the cap
        self.coalesced, self.refreshes = 0, 0     # refreshes: each also announces the event-based rules

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the declared rules: one top-N watch per board with rules, until `stop`."""
        try:
            while not stop.is_set():
                try:
                    await self._adopt_pending()
                    await self.refresh()
                    self.refreshes += 1
                    await self._release_held()
                    await self._flush()
                except PodiumError as exc:
                    log.warning("notification rules not refreshed: %s", exc)
                try:
                    await asyncio.wait_for(stop.wait(), self.settings.live_poll_ms / 1000)
                except TimeoutError:
                    pass
        finally:
            with contextlib.suppress(PodiumError):     # unjournaled, they are still queued for the flush
                await self._release_held(early=True)
            await self._flush_at_stop()
            for _, task in self.watches.values():
                await cancel_and_wait(task)
            self.watches.clear()
            for task in self.quarantine_watches.values():
                await cancel_and_wait(task)
            self.quarantine_watches.clear()

    async def _adopt_pending(self) -> None:
        """On every refresh (first at start, before any watch runs): journaled notifications that no
        queue holds go out — a previous process's, or a step whose watch was cancelled between its
        MULTI and its queueing. Only when nothing waits and no step is in flight (then every pending
        one is such an orphan: a published one left pending in the outbox's MULTI); a step that
        raced the read defers this to the next refresh. Same ids: the inbox keeps each once."""
        if self.journal is not None and not self._held_restored:    # a previous process's held passes
            for board, rule_id, player, doc in await self.journal.held():
                self.coalescer.restore(rule_id, player, doc, self.clock.now_ms())
            self._held_restored = True
        if self.journal is None or self.unpublished or self._recording:
            return
        steps = self._steps
        pending = await self.journal.pending()
        if self.unpublished or self._recording or steps != self._steps:
            return
        self._queue(pending)
        if pending:
            log.info("%d journaled notifications not stored (a previous process's, or a cancelled watch's): "
                     "publishing them", len(pending))

    async def refresh(self) -> None:
        by_board: dict[str, list[Rule]] = {}
        for rule in await self.rules_store.all():
            by_board.setdefault(rule.board, []).append(rule)
        self.rules = by_board
        n_max = min(self.settings.top_n_max, self.fanout.limits.subscription_top_n_max)
        for board in list(self.watches):
            n, task = self.watches[board]
            if board not in by_board or n != slice_for(by_board[board], n_max) or task.done():
                await cancel_and_wait(task)
                del self.watches[board]
        await self._refresh_quarantine(by_board)
        await self._announce_ended_seasons(by_board)
        await self._announce_endings(by_board)
        await self._announce_contest_locks(by_board)
        for board, rules in by_board.items():
            if not any(r.kind not in EVENT_KINDS for r in rules):
                continue
            if board not in self.watches:
                n = slice_for(rules, n_max)
                self.watches[board] = (n, asyncio.create_task(self._watch(board, n), name=f"notify {board}"))
        self.refreshed = {(r.board, r.id) for rules in by_board.values() for r in rules}

    def counters(self) -> dict[str, int]:
        return {"published": self.published, "waiting": len(self.unpublished), "suppressed": self.suppressed,
                "coalesced": self.coalesced, "publish_failures": self.publish_failures}

    def is_live(self, rule: Rule) -> bool:
        """Whether `rule` is being evaluated now: a top rule once its board's watch holds its first top
        (changes before that are its baseline, not crossings), a quarantine rule once its feed is
        followed; season and contest rules are checked on every refresh once declared."""
        if rule.kind is RuleKind.QUARANTINED:
            return rule.board in self.quarantine_followed
        if rule.kind in EVENT_KINDS:
            return (rule.board, rule.id) in self.refreshed
        # the refresh that read the rule also restarted the watch at the rule's slice; its first top
        # comes after that (a top of the watch before it saw changes against the old rules)
        return (rule.board, rule.id) in self.refreshed and rule.board in self.tops

    async def _watch(self, board: str, n: int) -> None:
        """Each top is evaluated against the last one the rules saw (`resync`): the first against this
        process's last top of the board, else the journal's, else a baseline; tops read while the data is lost wait."""
        before: SeenTop | None = None
        first = True
        trusted = (lambda top, after_hold: self._trusted(board, n, top, after_hold)) if self.data is not None else None
        try:
            async for tick, state in trusted_tops(self.fanout.subscribe_top(board, n), trusted,
                                                  self.settings.live_poll_ms / 1000):
                season = self._season(board)
                rules = self.rules.get(board, [])
                if first:
                    journaled = await self.journal.baseline(board) if self.journal is not None else None
                    before = resume_from(journaled, self.seen.get(board), n, season)
                    if before is not None:          # a catch-up: only the rules live back then
                        rules = [r for r in rules if r.id in before.rule_ids]
                    first = False
                else:
                    before = still_same_season(before, season)
                await self._step(board, n, rules if before is not None else [],
                                 before.entries if before is not None else state, state, tick)
                top_ids = frozenset(r.id for r in self.rules.get(board, []) if r.kind not in EVENT_KINDS)
                before = self.seen[board] = SeenTop(n, season, top_ids, state)
                self.tops[board] = state
        except PodiumError as exc:
            log.warning("notification watch on %s ended: %s", board, exc)   # restarted by the next refresh
        finally:
            self.tops.pop(board, None)

    async def _trusted(self, board: str, n: int, top: list[RankedEntry], after_hold: bool) -> bool | None:
        # the board's data is whole; after a hold, None unless `top` is what it holds now (the watch restarts)
        if self.data is not None and not await self.data.trusted(board):
            return False
        return True if not after_hold or await self.fanout.read_range(board, 0, n) == top else None

    def _season(self, board: str) -> int | None:     # as the registry last read it (no I/O); None without one
        known = self.seasons[0].cached().get(board) if self.seasons is not None else None
        return known.season if known is not None else None

    async def _step(self, board: str, n: int, rules: list[Rule], before: list[RankedEntry], after: list[RankedEntry],
                    tick: str) -> None:
        """Evaluate one change, journal it (its notifications pending, `after` the board's cursor) and
        publish. A journal that fails raises: nothing of the step was stored, and the restarted watch
        derives the change again from the journaled top."""
        async with self._journaling:      # journal writes in the order of the coalescer's changes
            result = evaluate_replayed(rules, before, after, n, self._order(board), self.settings.replay_steps_max,
                                       self.clock.now_ms(), tick, self.coalescer)
            held = self.coalescer.take_dirty()
            self._recording += 1
            try:
                if self.journal is not None:
                    top_ids = frozenset(r.id for r in self.rules.get(board, []) if r.kind not in EVENT_KINDS)
                    await self.journal.record(board, Baseline(n, top_ids, after), result.notifications, held)
                self._queue(result.notifications)       # no await between the MULTI and the queue
            finally:
                self._recording -= 1
                self._steps += 1
        self.suppressed += result.suppressed
        self.coalesced += result.coalesced
        await self._flush_with_backpressure()

    def _order(self, board: str) -> SortOrder | None:     # as the registry last read it (no I/O)
        known = self.seasons[0].cached().get(board) if self.seasons is not None else None
        return known.order if known is not None else None

    async def _refresh_quarantine(self, by_board: dict[str, list[Rule]]) -> None:
        if self.quarantine is None:
            return
        wanted = {b for b, rules in by_board.items() if any(r.kind is RuleKind.QUARANTINED for r in rules)}
        for board in list(self.quarantine_watches):
            if board not in wanted or self.quarantine_watches[board].done():
                await cancel_and_wait(self.quarantine_watches.pop(board))
        for board in wanted - set(self.quarantine_watches):
            self.quarantine_watches[board] = asyncio.create_task(self._watch_quarantine(board, self.quarantine),
                                                                 name=f"notify quarantine {board}")

    async def _announce_ended_seasons(self, by_board: dict[str, list[Rule]]) -> None:
        if self.seasons is None:
            return
        registry, store, cursor = self.seasons
        for board_id, rules in by_board.items():
            ended = [r for r in rules if r.kind is RuleKind.BOARD_ENDED]
            board = await registry.get(board_id) if ended else None
            if board is None:
                continue
            first = await cursor.next_unannounced(board_id, board.season)
            for season in range(max(first, board.season - ENDED_SEASONS_MAX), board.season):
                final = await store.range(dataclasses.replace(board, season=season), 0, max(r.n for r in ended))
                self._queue(board_ended_notifications(ended, board_id, season, final, self.clock.now_ms()))
                await self._flush()
                if self.unpublished:
                    return            # the store is failing: this season is announced on a later refresh
                await cursor.announced(board_id, season + 1)

    async def _announce_endings(self, by_board: dict[str, list[Rule]]) -> None:
        """`board_ending`: once the live season's scheduled end is within a rule's `window_ms`, its
        top-`n` are told, once per rule and end (the cursor remembers the end announced)."""
        if self.seasons is None:
            return
        registry, store, cursor = self.seasons
        now = self.clock.now_ms()
        for board_id, rules in by_board.items():
            ending = [r for r in rules if r.kind is RuleKind.BOARD_ENDING]
            board = await registry.get(board_id) if ending else None
            if board is None or board.season_ends_at_ms is None:
                continue
            end = board.season_ends_at_ms
            for rule in ending:
                if not end - rule.window_ms <= now < end or await cursor.lock_announced(rule.id, board_id) == end:
                    continue
                top = await store.range(board, 0, rule.n)
                if not top:
                    continue          # nobody to tell yet: the first players of the window will be
                self._queue(board_ending_notifications([rule], board_id, board.season, end, top, now))
                await self._flush()
                if self.unpublished:
                    return            # the store is failing: announced on a later refresh
                await cursor.announce_lock(rule.id, board_id, end)

    async def _announce_contest_locks(self, by_board: dict[str, list[Rule]]) -> None:
        if self.contests is None or self.seasons is None:
            return
        cursor = self.seasons[2]
        now = self.clock.now_ms()
        for contest, rules in by_board.items():
            for rule in (r for r in rules if r.kind is RuleKind.CONTEST_LOCKING):
                notice = await self.contests.lock_notice(contest, rule.n + 1)
                if notice is None or await cursor.lock_announced(rule.id, contest) == notice[0]:
                    continue
                deadline_ms, _state, owners = notice
                notes, suppressed = contest_locking_notifications([rule], contest, deadline_ms, owners, now)
                if not notes:
                    continue
                self.suppressed += suppressed
                self._queue(notes)
                await self._flush()
                if self.unpublished:
                    return
                await cursor.announce_lock(rule.id, contest, deadline_ms)

    async def _watch_quarantine(self, board: str, feed: RedisQuarantineFeed) -> None:
        try:
            after = await feed.cursor(board)
            self.quarantine_followed.add(board)
            while True:
                rows = await feed.read(board, after, self.settings.live_poll_ms)
                if not rows:
                    continue
                self._queue(quarantine_notifications(self.rules.get(board, []), rows, self.clock.now_ms()))
                await self._flush()
                if self.unpublished:
                    return            # the store is failing: resume from the cursor on the next refresh
                after = rows[-1].id
                await feed.advance(board, after)
        except PodiumError as exc:
            log.warning("quarantine watch on %s ended: %s", board, exc)   # restarted by the next refresh
        finally:
            self.quarantine_followed.discard(board)

    async def _release_held(self, early: bool = False) -> None:
        """Coalesced `overtaken` passes whose window has ended go out even if the board is quiet:
        an evaluation of no change releases exactly what is due, journaled as a step (the passes
        leave the journal's held hash as their notifications join `pending`). `early` (the engine
        stops): every held pass goes out now, its window cut short."""
        now = self.clock.now_ms()
        for board, top in list(self.tops.items()):
            rules = [r for r in self.rules.get(board, []) if r.kind is RuleKind.OVERTAKEN]
            if not rules or not self.coalescer.held:
                continue
            async with self._journaling:
                here = as_board(top)
                notes = (release_held(rules, here, now, f"{now}.stop", self.coalescer) if early else
                         evaluate(rules, here, here, now, f"{now}.held", self.coalescer).notifications)
                held = self.coalescer.take_dirty()
                try:
                    if self.journal is not None and held:
                        await self.journal.record(board, None, notes, held)
                finally:
                    self._queue(notes)      # sent from the coalescer: queued even if the journal failed

    def _queue(self, notes: list[Notification]) -> None:
        self.unpublished.extend(notes)

    async def _flush_with_backpressure(self) -> None:
        """The watch stops evaluating while the store fails and the queue is full (podium.notify_queue);
        the fan-out's slot coalesces the changes it misses meanwhile into the next diff."""
        await self.queue.flush_with_backpressure()

    async def _flush_at_stop(self) -> None:
        left = await self.queue.flush_at_stop()
        if left:
            log.error("%d notifications not stored at stop (the inbox store did not answer): the journaled "
                      "ones are published by the next start", left)
