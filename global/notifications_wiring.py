"""Builds the global tier's notification front on its own Redis: rules (`pg:rules`), webhook
endpoints, queues and dead letters (`pgw:*`), the outbox (`pg:outbox`), the engine on the
service's fan-out and the kernel's delivery worker."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from podium.global_.notifications import GLOBAL_RULES_KEY, GlobalNotificationEngine, global_n_max
from podium.global_.notifications_outbox_redis import GlobalOutbox
from podium.global_.service import GlobalService

from podium.clock import Clock
from podium.config import Settings
from podium.notify_delivery import DeliveryWorker
from podium.notify_rules_redis import RedisRules
from podium.notify_webhooks_redis import GLOBAL_KEYS, RedisWebhooks
from podium.tasks import cancel_and_wait

STOP_WAIT_S = 5.0


@dataclass
class GlobalNotifications:
    settings: Settings
    clock: Clock
    rules: RedisRules
    webhooks: RedisWebhooks
    engine: GlobalNotificationEngine
    worker: DeliveryWorker
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def open_global_notifications(service: GlobalService) -> GlobalNotifications:
    settings, s = service.settings, service.settings.notifications
    rules = RedisRules(service.redis, s.rules_per_board_max, key=GLOBAL_RULES_KEY)
    webhooks = RedisWebhooks(service.redis, s.webhook_endpoints_max, s.webhook_queue_len_max, s.dead_letters_max,
                             keys=GLOBAL_KEYS)
    engine = GlobalNotificationEngine(rules, GlobalOutbox(service.redis, s.outbox_len_max), lambda: service.fanout,
                                      s, service.clock, global_n_max(settings))
    worker = DeliveryWorker(webhooks, s, service.clock, "global-webhooks")
    n = GlobalNotifications(settings, service.clock, rules, webhooks, engine, worker)
    n.tasks = [asyncio.create_task(engine.run(n.stop), name="global notification rules"),
               asyncio.create_task(worker.run(n.stop), name="global webhook delivery")]
    return n


async def close_global_notifications(n: GlobalNotifications) -> None:
    n.stop.set()
    for task in n.tasks:
        try:
            await asyncio.wait_for(asyncio.shield(task), STOP_WAIT_S)
        except TimeoutError:
            await cancel_and_wait(task)
