"""Score ingestion shared by `POST /v1/scores`, the `submitScores` mutation and the stream agents:
validate each entry, group by board, apply each group in one Lua call, report per entry."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from podium.region.batch_decoder import DecodedBody, check_entries, decode_body
from podium.region.idempotency_redis import IdempotencyStore
from podium.region.ingest_results import apply_checked, counts_of, encode_response, session_token
from podium.region.rank_store import ApplyCode, RankStore
from podium.region.validation import check_batch_size, parse_batch, validate_entry

from podium.boards import BoardRegistry
from podium.clock import Clock
from podium.config import IngestLimits
from podium.errors import BadUserInput, Rebuilding, Unavailable
from podium.model import Board, EntryResult, EntryStatus, ScoreEntry

if TYPE_CHECKING:
    from podium.region.stream.sink import ScoreSink

_REASONS = {
    ApplyCode.DUPLICATE: "duplicate event",
    ApplyCode.OVERFLOW: "score total would exceed ±2^53",
    ApplyCode.BANNED: "player is banned",
}
_STATUS = {
    ApplyCode.APPLIED: EntryStatus.APPLIED,
    ApplyCode.UNCHANGED: EntryStatus.UNCHANGED,
    ApplyCode.QUARANTINED: EntryStatus.QUARANTINED,
}


@dataclass(slots=True)
class BatchResult:
    results: list[EntryResult]
    counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"results": [r.to_dict() for r in self.results], "counts": self.counts}

    @classmethod
    def of(cls, results: list[EntryResult]) -> BatchResult:
        counts = {s.value: 0 for s in EntryStatus}
        for r in results:
            counts[r.status.value] += 1
        return cls(results, counts)


def validate_batch(
    raw_entries: Sequence[Any], boards: dict[str, Board], limits: IngestLimits, now_ms: int
) -> tuple[list[tuple[int, ScoreEntry]], dict[int, EntryResult]]:
    valid: list[tuple[int, ScoreEntry]] = []
    rejected: dict[int, EntryResult] = {}
    for i, raw in enumerate(raw_entries):
        checked = validate_entry(i, raw, boards, limits, now_ms)
        if isinstance(checked, ScoreEntry):
            valid.append((i, checked))
        else:
            rejected[i] = checked
    return valid, rejected


async def apply_entries(
    store: RankStore,
    boards: dict[str, Board],
    entries: Sequence[tuple[int, ScoreEntry]],
    now_ms: int,
    *,
    partition: str | None = None,
    offset: int | None = None,
    region: str | None = None,
) -> dict[int, EntryResult] | None:
    """Apply validated entries, one atomic Lua call per board; None if `offset` was applied already
    (on every board of the group: offsets are stored per board, with the scores). With history on,
    the same call puts the accepted entries in the board's history backlog (see apply.lua)."""
    groups: dict[str, list[tuple[int, ScoreEntry]]] = defaultdict(list)
    for item in entries:
        groups[item[1].board].append(item)
    results: dict[int, EntryResult] = {}
    skipped = 0
    for board_id, group in groups.items():
        outcomes = await store.apply(
            boards[board_id], [e for _, e in group], now_ms, partition=partition, offset=offset
        )
        if outcomes is None:
            skipped += 1
            continue
        for (i, _), out in zip(group, outcomes, strict=True):
            status = _STATUS.get(out.code, EntryStatus.REJECTED)
            reason = _REASONS.get(out.code) or ("max_delta" if out.code is ApplyCode.QUARANTINED else None)
            result = EntryResult(i, status, reason=reason, rank=out.rank, score=out.score)
            if out.version and region:
                # read-your-writes: the global tier answers SESSION reads once it has this version
                result.extra["session"] = session_token(region, out.version)
            results[i] = result
    if groups and skipped == len(groups):
        return None
    return results


def entries_digest(raw_entries: list[Any]) -> str:
    """A digest of any decoded JSON value, to recognise a retried batch. orjson refuses integers
    beyond 64 bits, lone surrogates and NaN, which a batch may hold (they are rejected per entry,
    later); the stdlib encoder takes all of them, ASCII-escaped. Each value always takes the same
    path, so equal batches always get equal digests."""
    try:
        encoded = orjson.dumps(raw_entries)
    except orjson.JSONEncodeError:
        try:
            encoded = json.dumps(raw_entries, ensure_ascii=True, allow_nan=True).encode()
        except RecursionError as exc:
            raise BadUserInput("the batch nests too deeply") from exc
    return hashlib.sha256(encoded).hexdigest()


class IngestService:
    def __init__(
        self, store: RankStore, registry: BoardRegistry, idempotency: IdempotencyStore,
        limits: IngestLimits, clock: Clock, region: str = "local",
    ) -> None:
        self.region = region
        self.on_counts: Callable[[dict[str, int]], None] | None = None
        self.store = store
        self.registry = registry
        self.idempotency = idempotency
        self.limits = limits
        self.clock = clock
        # None: apply in the request (embedded default); a KafkaSink produces to the event log instead.
        self.sink: ScoreSink | None = None

    async def submit(
        self, raw_entries: list[Any], *, scope: str, idem_key: str | None = None, wait: bool = False,
        body_digest: str | None = None,
    ) -> dict[str, Any]:
        """`body_digest` identifies the request for its Idempotency-Key (HTTP: the body's SHA-256,
        defined for any bytes); without it, a digest of the decoded entries."""
        check_batch_size(raw_entries, self.limits)
        if idem_key is None:
            return (await self._process(raw_entries, wait)).to_dict()
        body_hash = body_digest or entries_digest(raw_entries)
        replay = await self.idempotency.begin(scope, idem_key, body_hash)
        if replay is not None:
            return replay
        try:
            response = (await self._process(raw_entries, wait)).to_dict()
        except BaseException:
            # With Redis down the pending mark cannot be removed; it lapses after `pending_ms`.
            with contextlib.suppress(Unavailable):
                await self.idempotency.abandon(scope, idem_key)
            raise
        await self.idempotency.finish(scope, idem_key, body_hash, response)
        return response

    async def submit_body(
        self, body: bytes, *, scope: str, idem_key: str | None = None, wait: bool = False, body_digest: str,
    ) -> bytes:
        """`submit` for an HTTP body, answered as encoded JSON: decoded and validated in C
        (`batch_decoder`), results built straight from the store's outcomes (`ingest_results`)."""
        if self.sink is not None:   # event-log mode: the sink takes validated `ScoreEntry` pairs
            entries = parse_batch(body, self.limits)
            return orjson.dumps(await self.submit(entries, scope=scope, idem_key=idem_key, wait=wait,
                                                  body_digest=body_digest))
        decoded = decode_body(body, self.limits)
        if idem_key is None:
            return await self._process_body(decoded)
        replay = await self.idempotency.begin(scope, idem_key, body_digest)
        if replay is not None:
            return orjson.dumps(replay)
        try:
            response = await self._process_body(decoded)
        except BaseException:
            with contextlib.suppress(Unavailable):
                await self.idempotency.abandon(scope, idem_key)
            raise
        await self.idempotency.finish_encoded(scope, idem_key, body_digest, response)
        return response

    async def _process_body(self, decoded: DecodedBody) -> bytes:
        now_ms = self.clock.now_ms()
        boards = await self.registry.all()
        if not decoded.named_boards() <= boards.keys():
            boards = await self.registry.refresh()  # a board may have been created by another process
        checked = check_entries(decoded, boards, self.limits, now_ms)
        for board_id in sorted(checked.board_ids()):
            if self.registry.rebuilding(board_id):
                raise Rebuilding(board_id)
        rows = await apply_checked(self.store, boards, checked, now_ms, self.region)
        counts = counts_of(rows)
        if self.on_counts is not None:
            self.on_counts(counts)
        return encode_response(rows, counts)

    async def _process(self, raw_entries: list[Any], wait: bool = False) -> BatchResult:
        now_ms = self.clock.now_ms()
        boards = await self.registry.all()
        if any(isinstance(e, dict) and isinstance(e.get("board"), str) and e["board"] not in boards
               for e in raw_entries):
            boards = await self.registry.refresh()  # a board may have been created by another process
        valid, results = validate_batch(raw_entries, boards, self.limits, now_ms)
        if self.sink is not None:
            applied: dict[int, EntryResult] | None = await self.sink.put(boards, valid, now_ms, wait=wait)
        else:
            # A board being rebuilt would lose writes at the swap: refuse the batch as a whole (503,
            # nothing applied) so the client retries it, rather than dropping its entries.
            for board_id in sorted({e.board for _, e in valid}):
                if self.registry.rebuilding(board_id):
                    raise Rebuilding(board_id)
            applied = await apply_entries(self.store, boards, valid, now_ms, region=self.region)
        results.update(applied or {})
        batch = BatchResult.of([results[i] for i in range(len(raw_entries))])
        if self.on_counts is not None:
            self.on_counts(batch.counts)
        return batch
