"""The inbox writer as a consumer of the outbox (`notifications.inbox_writer=drain`; the default is `engine`).

The engine publishes a batch to the outbox only (one MULTI that also clears it from the evaluation
journal's pending hash), and this drain copies the outbox into the player inboxes: consumer group
`inbox` on `pn:outbox`, consumer `<region>-inbox`, batches of `inbox_write_batch_max`, an entry
acknowledged only after its batch is in the inbox store. So the warm-store writes (SQLite's inserts
and trims; Cassandra's per-player batches) leave the engine's path, and with
`history.writer_placement=separate` they run in `podium history-writer`'s process, not the region's.

Nothing published is lost: an entry stays pending in the group until its inbox write succeeded; a
drain killed at any point (kill -9 included) re-reads its own pending entries first when it starts
again (same consumer name), and a failed write is retried (backoff doubling up to
`inbox_retry_ms_max`) with the same entries, idempotently (the inbox keeps each (player, id) once).
The group is made from id 0 when it is missing (a first start, or a Redis that lost its data):
entries already in inboxes are written again, which changes nothing. The outbox's MAXLEN
(`outbox_len_max`) bounds how far the drain may fall behind. A webhook may reach its receiver before
the player's inbox row exists (both follow the outbox; the inbox write is usually milliseconds
behind)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from podium.region.notifications.inbox import InboxStore
from podium.region.notifications.outbox_redis import OUTBOX_KEY
from redis.exceptions import RedisError, ResponseError

from podium.errors import PodiumError, Unavailable
from podium.notify_rules import Notification
from podium.redis_client import AnyRedis

log = logging.getLogger("podium.notifications")
GROUP = "inbox"
RETRY_S_INITIAL = 0.05
BLOCK_MS = 1000  # an idle drain waits this long in XREADGROUP (a stop is seen within it)
HELD = "inbox writes held until the store answers"


async def ensure_inbox_group(redis: AnyRedis) -> None:
    """The group exists before the engine publishes anything a drain should copy (from id 0: an
    entry already in an inbox is written again, idempotently)."""
    try:
        await redis.xgroup_create(OUTBOX_KEY, GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise Unavailable(f"notification outbox (Redis): {exc}", retryAfter=1.0) from exc
    except RedisError as exc:
        raise Unavailable(f"notification outbox (Redis): {exc}", retryAfter=1.0) from exc


class InboxDrain:
    def __init__(
        self, redis: AnyRedis, inbox: InboxStore, consumer: str, batch_max: int, retry_ms_max: int
    ) -> None:
        self.redis = redis
        self.inbox = inbox
        self.consumer = consumer
        self.batch_max = batch_max
        self.retry_s_max = retry_ms_max / 1000
        self.written = 0  # notifications written to inboxes (a re-read entry counts again)
        self.failures = 0  # failed reads or writes (each retried)

    async def _read(self, from_id: str, block_ms: int | None) -> list[tuple[Any, Any]]:
        try:
            reply: Any = await self.redis.xreadgroup(
                GROUP, self.consumer, {OUTBOX_KEY: from_id}, count=self.batch_max, block=block_ms
            )
        except ResponseError as exc:
            if "NOGROUP" in str(exc):  # the stream went (a Redis that lost its data): make it again
                await ensure_inbox_group(self.redis)
                return []
            raise Unavailable(f"notification outbox (Redis): {exc}", retryAfter=1.0) from exc
        except RedisError as exc:
            raise Unavailable(f"notification outbox (Redis): {exc}", retryAfter=1.0) from exc
        return [(mid, fields) for _, entries in reply or [] for mid, fields in entries]

    async def step(self, from_id: str, block_ms: int | None) -> int:
        """Reads one batch (">": new entries; "0": this consumer's pending ones), writes it to the
        inboxes, acknowledges it; the number of entries read (0: nothing there)."""
        entries = await self._read(from_id, block_ms)
        notes: list[Notification] = []
        for _, fields in entries:
            raw = fields.get(b"n") if fields else None
            if raw is not None:
                try:
                    notes.append(Notification.from_dict(orjson.loads(raw)))
                except (ValueError, KeyError, TypeError) as exc:  # not ours: never blocks the rest
                    log.warning("outbox entry skipped by the inbox drain: %s", exc)
        if notes:
            await self.inbox.append(notes)
            self.written += len(notes)
        if entries:
            try:
                await self.redis.xack(OUTBOX_KEY, GROUP, *(mid for mid, _ in entries))
            except RedisError as exc:
                raise Unavailable(f"notification outbox (Redis): {exc}", retryAfter=1.0) from exc
        return len(entries)

    async def run(self, stop: asyncio.Event) -> None:
        """Pending entries first (left by a predecessor), then new ones, until `stop`; a failure
        goes back to the pending ones after a backoff."""
        pending = True
        wait_s = RETRY_S_INITIAL
        held = False
        while not stop.is_set():
            try:
                if pending:
                    pending = await self.step("0", None) > 0
                else:
                    await self.step(">", BLOCK_MS)
                wait_s = RETRY_S_INITIAL
                if held:
                    log.info("inbox writes resumed")
                    held = False
            except PodiumError as exc:
                self.failures += 1
                if not held:
                    log.warning("%s: %s", HELD, exc)
                    held = True
                pending = True
                try:
                    await asyncio.wait_for(stop.wait(), wait_s)
                except TimeoutError:
                    pass
                wait_s = min(wait_s * 2, self.retry_s_max)

    def status(self) -> dict[str, int]:
        return {"written": self.written, "failures": self.failures}
