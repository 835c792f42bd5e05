"""The global tier's trending store on Redis: the bucket cells the regions ship, their stream
declarations and how far each region's shipping has got (one adapter of global/trending).

Per stream (hash tag `{stream}`):
  gt:{s}:c:<region>:<r>:<start>:<series>  hash v (region's version), t total, o other, f floor,
                                          s sketch, c exact counts (MessagePack [items, counts])
  gt:{s}:spec                              hash region -> its declaration (JSON)
  gt:{s}:asof                              hash region -> Unix ms: the region's counts before it are all here
  gt:{s}:ver                               counter, bumped when a body replaced a cell (the live fan-out's cue)
  gt:streams                               set of stream ids (at most `global_streams_max`)
  gt:generation                            a random id made by the first body into an empty store: a
                                           region that sees it change knows the store was wiped
A cell is replaced only by a newer one (larger version, then larger total: counts only grow), so
a resent or late body changes nothing. Each cell expires when its region's retention has passed,
so the store is bounded by what the regions keep."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Sequence
from typing import Any

import msgspec
import orjson
from podium.replication.trending_buckets import Bucket, Resolution
from podium.replication.trending_wire import ShippedStream, TrendCell

from podium.redis_client import AnyRedis, as_text
from podium.store_errors import translate_store_errors

STREAMS_KEY = "gt:streams"
GENERATION_KEY = "gt:generation"
EXPIRY_SLACK_MS = 60_000
RES_CODE = {Resolution.MINUTE: "m", Resolution.HOUR: "h", Resolution.DAY: "d"}
_PACK = msgspec.msgpack.Encoder()
_UNPACK = msgspec.msgpack.Decoder(tuple[list[str], list[int]])
# KEYS[1] the cell; ARGV: version, total, other, floor, sketch, counts, expiry ms
PUT_CELL = """
local old = redis.call('HMGET', KEYS[1], 'v', 't')
local v, t = tonumber(ARGV[1]), tonumber(ARGV[2])
if old[1] then
  local ov, ot = tonumber(old[1]), tonumber(old[2])
  if ov > v or (ov == v and ot >= t) then return 0 end
end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 't', ARGV[2], 'o', ARGV[3], 'f', ARGV[4], 's', ARGV[5], 'c', ARGV[6])
redis.call('PEXPIREAT', KEYS[1], ARGV[7])
return 1
"""


def _prefix(stream: str) -> str:
    return f"gt:{{{stream}}}:"


def cell_key(stream: str, region: str, resolution: Resolution, start_ms: int, series: str) -> str:
    return f"{_prefix(stream)}c:{region}:{RES_CODE[resolution]}:{start_ms}:{series}"


@translate_store_errors("the global trending store (Redis)")
class GlobalTrendingStore:
    def __init__(self, redis: AnyRedis, streams_max: int) -> None:
        self.redis = redis
        self.streams_max = streams_max
        self._put = redis.register_script(PUT_CELL)

    async def generation(self) -> str:
        """The store's generation: made once (SET NX) by the first body into an empty store."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(GENERATION_KEY, secrets.token_hex(8), nx=True)
        pipe.get(GENERATION_KEY)
        _, value = await pipe.execute()
        return as_text(value)

    async def declare(self, region: str, streams: Sequence[ShippedStream]) -> list[str]:
        """Records the region's declarations of the streams that fit: every stream already kept, new
        ones while fewer than `streams_max` are kept. Returns the ids refused (the rest of the cap)."""
        if not streams:
            return []
        known = {as_text(m) for m in await self.redis.smembers(STREAMS_KEY)}
        room = max(0, self.streams_max - len(known))
        new = sorted({s.id for s in streams} - known)
        admitted, refused = new[:room], new[room:]
        pipe = self.redis.pipeline(transaction=False)
        if admitted:
            pipe.sadd(STREAMS_KEY, *admitted)
        for s in streams:
            if s.id not in refused:
                pipe.hset(_prefix(s.id) + "spec", region, orjson.dumps(s.to_wire()))
        await pipe.execute()
        return refused

    async def put_cells(self, region: str, streams: Sequence[ShippedStream], cells: Sequence[TrendCell]) -> int:
        """Stores the cells newer than the ones held; returns how many replaced (or added) one."""
        kept = {s.id: s.kept for s in streams}
        pipe = self.redis.pipeline(transaction=False)
        for c in cells:
            expiry = c.start_ms + kept[c.stream].get(c.resolution, 1) * c.resolution.size_ms + EXPIRY_SLACK_MS
            await self._put(keys=[cell_key(c.stream, region, c.resolution, c.start_ms, c.series)],
                      args=[c.version, c.total, c.other, c.floor, c.sketch,
                            _PACK.encode((list(c.counts), list(c.counts.values()))), expiry],
                            client=pipe)  # type: ignore[arg-type]   # a pipeline queues the EVALSHA
        if not cells:
            return 0
        replaced = Counter(c.stream for c, r in zip(cells, await pipe.execute(), strict=True) if int(r))
        if replaced:
            bump = self.redis.pipeline(transaction=False)
            for stream in replaced:
                bump.incr(_prefix(stream) + "ver")
            await bump.execute()
        return sum(replaced.values())

    async def versions(self, streams: list[str]) -> dict[str, int]:
        """Each stream's counter of bodies that changed it (0 when none since the store was made)."""
        pipe = self.redis.pipeline(transaction=False)
        for s in streams:
            pipe.get(_prefix(s) + "ver")
        return {s: int(v or 0) for s, v in zip(streams, await pipe.execute() if streams else [], strict=True)}

    async def mark_as_of(self, region: str, streams: Sequence[str], as_of_ms: int) -> None:
        """Records the region's as-of time for the streams it declared here (others are ignored)."""
        check = self.redis.pipeline(transaction=False)
        for s in streams:
            check.hexists(_prefix(s) + "spec", region)
        declared = [s for s, ok in zip(streams, await check.execute() if streams else [], strict=True) if ok]
        pipe = self.redis.pipeline(transaction=False)
        for s in declared:
            pipe.hset(_prefix(s) + "asof", region, as_of_ms)
        if declared:
            await pipe.execute()

    async def specs(self, stream: str) -> dict[str, ShippedStream]:
        """Each region's declaration of the stream (already validated at intake)."""
        raw = await self.redis.hgetall(_prefix(stream) + "spec")
        return {as_text(r): ShippedStream.from_wire(orjson.loads(v), 32) for r, v in raw.items()}

    async def as_of(self, stream: str) -> dict[str, int]:
        raw = await self.redis.hgetall(_prefix(stream) + "asof")
        return {as_text(r): int(v) for r, v in raw.items()}

    async def streams(self) -> list[str]:
        return sorted(as_text(m) for m in await self.redis.smembers(STREAMS_KEY))

    async def cells(self, stream: str, regions: Sequence[str], buckets: Sequence[Bucket],
                    series: str) -> list[tuple[str, dict[str, Any]]]:
        """The held cells of these regions and buckets, as (region, fields); absent ones left out."""
        pipe = self.redis.pipeline(transaction=False)
        order = [(r, b) for r in regions for b in buckets]
        for r, b in order:
            pipe.hmget(cell_key(stream, r, b.resolution, b.start_ms, series), ["t", "o", "f", "s", "c"])
        out = []
        for (region, _b), (t, o, f, s, c) in zip(order, await pipe.execute() if order else [], strict=True):
            if t is None:
                continue
            items, counts = _UNPACK.decode(c)
            out.append((region, {"total": int(t), "other": int(o), "floor": int(f), "sketch": bytes(s),
                                 "counts": dict(zip(items, counts, strict=True))}))
        return out
