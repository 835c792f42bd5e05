"""Notification rules on GLOBAL ranks, evaluated by the global tier.

A region's rules see its own ranks. A rule declared here sees the merged world board: the global
tier's fan-out computes the merged top-N diffs on each tick (as for its `topChanged` subscribers),
and this engine, one more subscriber per board with rules, evaluates them with the same pure code
as a region (`podium.notify_evaluate`): `entered_top_n`, `left_top_n`, `threshold` (score or rank)
and `overtaken` within the slice. Event rules (quarantined, board_ending, board_ended,
contest_locking) follow a region's apply path or season clock and are refused here.

Notifications go to the global tier's own Redis outbox (`pg:outbox`), delivered by the kernel's
delivery worker to the endpoints registered on this tier (signed, retried, dead-lettered): the
same scheme as a region's webhooks. There is no player inbox here: global events are webhooks.
Each notification carries `extra.tier = "global"` and an id with a `g` tick, so it never collides
with a region's.

Not journaled (unlike a region's): what was evaluated but not yet in the outbox when the process
dies is lost; a graceful stop flushes it, and held `overtaken` passes go out at stop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable

from podium.global_.notifications_outbox_redis import GlobalOutbox

from podium.clock import Clock
from podium.config import NotificationSettings, Settings
from podium.errors import BadUserInput, PodiumError
from podium.fanout import FanOut
from podium.model import RankedEntry
from podium.notify_evaluate import EVENT_KINDS, Coalescer, as_board, evaluate, release_held, slice_for
from podium.notify_queue import PublishQueue, QueuedEngine
from podium.notify_rules import Metric, Notification, Rule, RuleKind, parse_rule
from podium.notify_rules_redis import RedisRules
from podium.tasks import cancel_and_wait
from podium.top_diff import apply_diff

log = logging.getLogger("podium.global.notifications")
GLOBAL_RULES_KEY = "pg:rules"
TIER = "global"


def global_n_max(settings: Settings) -> int:
    """The deepest top a global rule may watch: ranks there are EXACT (top_k) and the fan-out serves it."""
    return min(settings.notifications.top_n_max, settings.global_.top_k, settings.api.subscription_top_n_max)


def parse_global_rule(raw: object, settings: Settings) -> Rule:
    """A region's validation, plus: only rules on the top (event rules are a region's), and a rank
    threshold within the watched slice (beyond it the tier would never see the crossing)."""
    n_max = global_n_max(settings)
    rule = parse_rule(raw, n_max, settings.notifications.window_ms_max)
    if rule.kind in EVENT_KINDS:
        raise BadUserInput(f"{rule.kind} rules follow a region's apply path or season clock: declare them on "
                           "a region (the global tier evaluates overtaken, entered_top_n, left_top_n, threshold)",
                           field="kind")
    if rule.kind is RuleKind.THRESHOLD and rule.metric is Metric.RANK and not 1 <= rule.value <= n_max:
        raise BadUserInput(f"a rank threshold on the global tier must be between 1 and {n_max}", field="value")
    return rule


class GlobalNotificationEngine(QueuedEngine):
    def __init__(self, rules: RedisRules, outbox: GlobalOutbox, fanout: Callable[[], FanOut | None],
                 settings: NotificationSettings, clock: Clock, n_max: int) -> None:
        self.rules_store = rules
        self.outbox = outbox
        self.fanout = fanout           # the service's, made when it opens
        self.settings = settings
        self.clock = clock
        self.n_max = n_max
        self.coalescer = Coalescer(settings.coalesce_players_max, settings.overtaken_by_max)
        self.rules: dict[str, list[Rule]] = {}
        self.refreshed: set[tuple[str, str]] = set()
        self.watches: dict[str, tuple[int, asyncio.Task[None]]] = {}
        self.tops: dict[str, list[RankedEntry]] = {}              # the top each live watch holds
        self.last_tops: dict[str, tuple[int, list[RankedEntry]]] = {}   # (slice, top) a watch that ended held
        self.watch_errors: dict[str, str] = {}     # the last error of each board's watch (logged once)
        self.queue = PublishQueue(lambda batch: self.outbox.add(batch), settings, log, "global notifications")
        self.suppressed = 0
        self.coalesced = 0

    def counters(self) -> dict[str, int]:
        return {"published": self.published, "waiting": len(self.unpublished), "suppressed": self.suppressed,
                "coalesced": self.coalesced, "publish_failures": self.publish_failures}

    def is_live(self, rule: Rule) -> bool:
        return (rule.board, rule.id) in self.refreshed and rule.board in self.tops

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    await self.refresh()
                    self._release_due()
                    await self._flush()
                except PodiumError as exc:
                    log.warning("global notification rules not refreshed: %s", exc)
                try:
                    await asyncio.wait_for(stop.wait(), self.settings.live_poll_ms / 1000)
                except TimeoutError:
                    pass
        finally:
            now = self.clock.now_ms()
            for board, top in list(self.tops.items()):      # held passes go out rather than die here
                rules = [r for r in self.rules.get(board, []) if r.kind is RuleKind.OVERTAKEN]
                self._queue(release_held(rules, as_board(top), now, f"g{now}.stop", self.coalescer))
            await self._flush_at_stop()
            for _, task in self.watches.values():
                await cancel_and_wait(task)
            self.watches.clear()

    async def refresh(self) -> None:
        by_board: dict[str, list[Rule]] = {}
        for rule in await self.rules_store.all():
            by_board.setdefault(rule.board, []).append(rule)
        self.rules = by_board
        fanout = self.fanout()
        for board in list(self.watches):
            n, task = self.watches[board]
            if board not in by_board or n != slice_for(by_board[board], self.n_max) or task.done():
                await cancel_and_wait(task)
                del self.watches[board]
        if fanout is not None:
            for board, rules in by_board.items():
                if board not in self.watches:
                    n = slice_for(rules, self.n_max)
                    self.watches[board] = (n, asyncio.create_task(self._watch(fanout, board, n),
                                                                  name=f"global notify {board}"))
        self.refreshed = {(r.board, r.id) for rules in by_board.values() for r in rules}

    async def _watch(self, fanout: FanOut, board: str, n: int) -> None:
        """The first top of a watch is a baseline, unless an earlier watch of this process held the
        same slice (a watch restarted after an error): the change since that top is evaluated. A
        later full top (the fan-out resends one) is evaluated against the top held."""
        state: list[RankedEntry] | None = None
        earlier = self.last_tops.get(board)
        if earlier is not None and earlier[0] == n:
            state = earlier[1]
        try:
            async for update in fanout.subscribe_top(board, n):
                tick = f"g{update.as_of_ms}.{update.seq}"
                new = update.entries if update.full else apply_diff(state or [], update.changes)
                if state is not None:
                    await self._step(board, state, new, tick)
                state = self.tops[board] = new
                self.last_tops[board] = (n, new)
                self.watch_errors.pop(board, None)
        except PodiumError as exc:
            # restarted by the next refresh; a board no region has written yet is unknown here until
            # its first change arrives: said once, not on every refresh
            if self.watch_errors.get(board) != str(exc):
                log.warning("global notification watch on %s ended: %s", board, exc)
            self.watch_errors[board] = str(exc)
        finally:
            self.tops.pop(board, None)

    async def _step(self, board: str, before: list[RankedEntry], after: list[RankedEntry], tick: str) -> None:
        result = evaluate(self.rules.get(board, []), as_board(before), as_board(after), self.clock.now_ms(), tick,
                          self.coalescer)
        self._queue(result.notifications)
        self.suppressed += result.suppressed
        self.coalesced += result.coalesced
        await self.queue.flush_with_backpressure()     # the outbox fails: evaluation waits, nothing is dropped

    def _release_due(self) -> None:
        """Held `overtaken` passes whose window ended go out even on a quiet board."""
        if not self.coalescer.held:
            return
        now = self.clock.now_ms()
        for board, top in list(self.tops.items()):
            rules = [r for r in self.rules.get(board, []) if r.kind is RuleKind.OVERTAKEN]
            if rules:
                here = as_board(top)
                self._queue(evaluate(rules, here, here, now, f"g{now}.held", self.coalescer).notifications)

    def _queue(self, notes: list[Notification]) -> None:
        self.unpublished.extend(dataclasses.replace(n, extra={**n.extra, "tier": TIER}) for n in notes)

    async def _flush_at_stop(self) -> None:
        left = await self.queue.flush_at_stop()
        if left:
            log.error("%d global notifications not written at stop (the outbox did not answer)", left)
