"""Builds the notification front of a region: rules and webhooks on the region's Redis, inboxes in
the warm store (`inbox_factory`), the engine on the region's fan-out, and the delivery worker,
with the tasks they own."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from podium.region.notifications.cursors_redis import RedisSeasonCursor
from podium.region.notifications.data_watch_redis import RedisDataWatch
from podium.region.notifications.engine import ContestLocks, NotificationEngine
from podium.region.notifications.inbox import InboxStore
from podium.region.notifications.inbox_drain_redis import InboxDrain, ensure_inbox_group
from podium.region.notifications.inbox_factory import build_inbox_store
from podium.region.notifications.journal_redis import RedisJournal
from podium.region.notifications.outbox_redis import RedisOutbox
from podium.region.notifications.publisher import InboxPublisher
from podium.region.notifications.quarantine_feed_redis import RedisQuarantineFeed
from podium.region.notifications.registrations_restore_redis import (
    follow_registrations,
    restore_registrations,
)
from podium.region.notifications.registrations_sqlite import SqliteRegistrations
from podium.region.rank_store import RankStore

from podium.boards import BoardRegistry
from podium.clock import Clock
from podium.config import Settings
from podium.errors import PodiumError
from podium.fanout import FanOut
from podium.notify_delivery import DeliveryWorker
from podium.notify_rules_redis import RedisRules
from podium.notify_webhooks_redis import RedisWebhooks
from podium.redis_client import AnyRedis
from podium.tasks import Supervisor, cancel_and_wait

log = logging.getLogger("podium.notifications")
INBOX_OPEN_LOOP = "notification-inbox-open"


@dataclass
class Notifications:
    settings: Settings
    clock: Clock
    rules: RedisRules
    inbox: InboxStore
    webhooks: RedisWebhooks
    engine: NotificationEngine
    worker: DeliveryWorker
    registrations: SqliteRegistrations | None = None    # the warm copy of rules and webhooks
    inbox_opener: asyncio.Task[None] | None = None       # retrying the inbox store's opening (degraded start)
    drain: InboxDrain | None = None                      # writing inboxes from the outbox, in this process
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


async def open_notifications(settings: Settings, redis: AnyRedis, clock: Clock, fanout: FanOut,
                             boards: BoardRegistry | None = None, store: RankStore | None = None,
                             contests: ContestLocks | None = None, supervisor: Supervisor | None = None) -> Notifications:
    """`boards` and `store` (the region's) let `board_ended` rules read a season's final standings;
    `contests` (the contest store) lets `contest_locking` rules read deadlines and entrants;
    with `supervisor`, an inbox store that does not open is retried in the background (else raised)."""
    s = settings.notifications
    warm = None
    if s.inbox_warm and settings.history.enabled:
        warm = SqliteRegistrations(s.registrations_sqlite_path or settings.data_dir / "notification_registrations.sqlite3")
        await warm.open()
        await restore_registrations(redis, warm)
    rules = RedisRules(redis, s.rules_per_board_max, warm)
    inbox = build_inbox_store(settings, redis)
    opener: asyncio.Task[None] | None = None
    try:
        await inbox.open()
    except PodiumError as exc:
        if supervisor is None:
            if warm is not None:
                await warm.close()
            raise
        # Started degraded: evaluation goes on (its notifications wait, journaled, for the inbox),
        # inbox reads answer 503, and the opening is retried with backoff as a supervised loop, so
        # /readyz lists it (backing_off with the error; stopped once open).
        log.warning("notification inbox not open (%s): the region starts without it and retries", exc)
        opener = supervisor.supervise(INBOX_OPEN_LOOP, inbox.open)
    webhooks = RedisWebhooks(redis, s.webhook_endpoints_max, s.webhook_queue_len_max, s.dead_letters_max, warm)
    seasons = (boards, store, RedisSeasonCursor(redis)) if boards is not None and store is not None else None
    drained = s.inbox_writer == "drain"
    if drained:   # before the engine publishes anything the drain must copy
        await ensure_inbox_group(redis)
    publisher = InboxPublisher(inbox, RedisOutbox(redis, s.outbox_len_max), write_inbox=not drained)
    engine = NotificationEngine(rules, publisher, fanout, s, clock, RedisQuarantineFeed(redis, s.webhook_poll_batch_max),
                                seasons, contests, RedisJournal(redis, s.inbox_write_batch_max),
                                RedisDataWatch(redis, clock))
    # One consumer name per region: a restarted process takes over the entries its predecessor held.
    worker = DeliveryWorker(webhooks, s, clock, f"{settings.region}-webhooks")
    n = Notifications(settings, clock, rules, inbox, webhooks, engine, worker, warm, opener)
    n.tasks = [asyncio.create_task(engine.run(n.stop), name="notification rules"),
               asyncio.create_task(worker.run(n.stop), name="webhook delivery")]
    if drained and not drain_elsewhere(settings):
        n.drain = inbox_drain(settings, redis, inbox)
        n.tasks.append(asyncio.create_task(n.drain.run(n.stop), name="notification inbox drain"))
    if warm is not None:
        n.tasks.append(asyncio.create_task(follow_registrations(redis, warm, n.stop, s.registrations_check_ms),
                                           name="notification registrations"))
    return n


def drain_elsewhere(settings: Settings) -> bool:
    """With the drain as inbox writer: does `podium history-writer` run it (not the region)?"""
    return settings.history.enabled and settings.history.writer_placement == "separate"


def inbox_drain(settings: Settings, redis: AnyRedis, inbox: InboxStore) -> InboxDrain:
    s = settings.notifications
    # One consumer name per region: a restarted drain re-reads the entries its predecessor held.
    return InboxDrain(redis, inbox, f"{settings.region}-inbox", s.inbox_write_batch_max, s.inbox_retry_ms_max)


async def close_notifications(n: Notifications) -> None:
    if n.inbox_opener is not None:
        await cancel_and_wait(n.inbox_opener)
    n.stop.set()
    for task in n.tasks:
        try:
            await asyncio.wait_for(asyncio.shield(task), 5.0)
        except TimeoutError:
            await cancel_and_wait(task)
    await n.inbox.close()           # after the engine and the drain: their last writes go to the inbox
    if n.registrations is not None:
        await n.registrations.close()


async def run_inbox_drain(settings: Settings, redis: AnyRedis, stop: asyncio.Event) -> None:
    """The drain in a process of its own (`podium history-writer`): opens the inbox store (retried
    while it fails), copies the outbox into the inboxes until `stop`, closes the store."""
    inbox = build_inbox_store(settings, redis)
    wait_s = 0.1
    while not stop.is_set():
        try:
            await inbox.open()
            break
        except PodiumError as exc:
            log.warning("notification inbox not open (%s): the inbox drain retries", exc)
            try:
                await asyncio.wait_for(stop.wait(), wait_s)
            except TimeoutError:
                pass
            wait_s = min(wait_s * 2, settings.notifications.inbox_retry_ms_max / 1000)
    else:
        return
    try:
        await ensure_inbox_group(redis)
        await inbox_drain(settings, redis, inbox).run(stop)
    finally:
        await inbox.close()
