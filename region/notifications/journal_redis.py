"""The evaluation journal (Redis): what a region's rules have derived but not yet stored, and the top
each board's rules were last evaluated against, written together so a process killed at any point
(kill -9) loses no notification and announces none twice.

    pn:pending{pn:outbox}   hash: "<board>\\t<notification id>" -> the notification (JSON), derived and
                            not yet in the outbox
    pn:base{pn:outbox}      hash: board id -> the evaluated top (JSON: the slice `n`, the rule ids
                            evaluated, the entries), the cursor of the board's evaluation
    pn:held{pn:outbox}      hash: "<board>\t<rule id>\t<player>" -> `overtaken` passes held in a
                            coalescing window (JSON), written with the step that held them and
                            removed with the step that sent them

One evaluation step is one MULTI: its notifications join `pending` and the board's cursor moves to
the top they were derived from. The notifications then go to the inboxes (idempotent by id), and the
outbox adds them and removes them from `pending` in one MULTI (`RedisOutbox.add`). So:
- killed before the step's MULTI: nothing of it was stored, the cursor is still the previous top, and
  the next process derives the change again from that top (the first top it reads after starting);
- killed after it: `pending` holds the notifications with their ids; the next process publishes them
  first (the inbox keeps each (player, id) once; the outbox gets each once).
The hash tag `{pn:outbox}` puts both keys in the outbox's slot: the MULTIs are legal on a Redis Cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from podium.model import RankedEntry
from podium.notify_rules import Notification
from podium.redis_client import AnyRedis, store_reply

PENDING_KEY = "pn:pending{pn:outbox}"
BASELINE_KEY = "pn:base{pn:outbox}"
HELD_KEY = "pn:held{pn:outbox}"
HeldChanges = dict[tuple[str, str], dict[str, object] | None]    # (rule, player) -> held passes, None: sent
RETRY_AFTER_S = 1.0


def pending_field(note: Notification) -> str:
    """Ids are unique per board (rule ids are per board), so the board is part of the field."""
    return f"{note.board}\t{note.id}"


@dataclass(frozen=True, slots=True)
class Baseline:
    """The top a board's rules were last evaluated against: at slice `n`, for the rules `rule_ids`."""

    n: int
    rule_ids: frozenset[str]
    entries: list[RankedEntry]

    def to_json(self) -> bytes:
        return orjson.dumps({"n": self.n, "rules": sorted(self.rule_ids),
                             "entries": [[e.rank, e.player, e.score, e.achieved_at_ms] for e in self.entries]})

    @classmethod
    def from_json(cls, raw: bytes | str) -> Baseline:
        d = orjson.loads(raw)
        return cls(d["n"], frozenset(d["rules"]), [RankedEntry(r, p, s, t) for r, p, s, t in d["entries"]])


class RedisJournal:
    def __init__(self, redis: AnyRedis, scan_count: int) -> None:
        self.redis = redis
        self.scan_count = max(1, scan_count)

    async def record(self, board: str, baseline: Baseline | None, notes: Sequence[Notification],
                     held: HeldChanges | None = None) -> None:
        """One evaluation step, atomically: its notifications become pending, the board's cursor its
        top (None: a release of held passes, the cursor stays), and its held passes are kept or dropped."""
        held = held or {}
        kept = {f"{board}\t{r}\t{p}": orjson.dumps(doc) for (r, p), doc in held.items() if doc is not None}
        sent = [f"{board}\t{r}\t{p}" for (r, p), doc in held.items() if doc is None]

        async def write() -> None:
            async with self.redis.pipeline(transaction=True) as pipe:
                if notes:
                    pipe.hset(PENDING_KEY, mapping={pending_field(n): orjson.dumps(n.to_dict()) for n in notes})
                if baseline is not None:
                    pipe.hset(BASELINE_KEY, board, baseline.to_json())
                if kept:
                    pipe.hset(HELD_KEY, mapping=kept)  # type: ignore[arg-type]
                if sent:
                    pipe.hdel(HELD_KEY, *sent)
                await pipe.execute()

        await store_reply(write(), "notification journal", RETRY_AFTER_S)

    async def baseline(self, board: str) -> Baseline | None:
        raw = await store_reply(self.redis.hget(BASELINE_KEY, board), "notification journal", RETRY_AFTER_S)
        return None if raw is None else Baseline.from_json(raw)

    async def held(self) -> list[tuple[str, str, str, dict[str, Any]]]:
        """Every journaled held pass: (board, rule id, player, its document)."""
        async def read() -> list[tuple[str, str, str, dict[str, Any]]]:
            out = []
            async for field, raw in self.redis.hscan_iter(HELD_KEY, count=self.scan_count):
                board, rule, player = (field.decode() if isinstance(field, bytes) else field).split("\t", 2)
                out.append((board, rule, player, orjson.loads(raw)))
            return out

        return await store_reply(read(), "notification journal", RETRY_AFTER_S)

    async def pending(self) -> list[Notification]:
        """Every notification derived and not yet in the outbox (bounded by the engine's
        `evaluate_queue_max` backpressure), read in HSCAN pages of `scan_count`."""
        async def read() -> list[Notification]:
            out: list[Notification] = []
            async for _, raw in self.redis.hscan_iter(PENDING_KEY, count=self.scan_count):
                out.append(Notification.from_dict(orjson.loads(raw)))
            return out

        notes = await store_reply(read(), "notification journal", RETRY_AFTER_S)
        return sorted(notes, key=lambda n: (n.at_ms, n.board, n.id))
