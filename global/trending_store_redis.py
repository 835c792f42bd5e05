"""The global tier's trending store on Redis: the bucket cells the regions ship, their stream
declarations and how far each region's shipping has got (one adapter of global/trending).

Per stream (hash tag `{stream}`):
  gt:{s}:c:<region>:<r>:<start>:<series>  hash v (region's version), t total, o other, f floor,
                                          s sketch, c exact counts (MessagePack [items, counts])
  gt:{s}:spec                              hash region -> its declaration (JSON)
  gt:{s}:asof                              hash region -> Unix ms: the region's counts before it are all here
  gt:streams                               set of stream ids (at most `global_streams_max`)
A cell is replaced only by a newer one (larger version, then larger total: counts only grow), so
a resent or late body changes nothing. Each cell expires when its region's retention has passed,
so the store is bounded by what the regions keep."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import orjson
from podium.replication.trending_buckets import Bucket, Resolution
from podium.replication.trending_wire import ShippedStream, TrendCell

from podium.errors import Conflict
from podium.redis_client import AnyRedis, as_text
from podium.store_errors import translate_store_errors

STREAMS_KEY = "gt:streams"
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

    async def declare(self, region: str, streams: Sequence[ShippedStream]) -> None:
        """Records the region's declarations; a stream beyond `streams_max` is refused (409)."""
        if not streams:
            return
        known = {as_text(m) for m in await self.redis.smembers(STREAMS_KEY)}
        new = {s.id for s in streams} - known
        if len(known) + len(new) > self.streams_max:
            raise Conflict(f"the global tier already keeps {len(known)} trending streams "
                           f"(trending.global_streams_max = {self.streams_max})")
        pipe = self.redis.pipeline(transaction=False)
        if new:
            pipe.sadd(STREAMS_KEY, *new)
        for s in streams:
            pipe.hset(_prefix(s.id) + "spec", region, orjson.dumps(s.to_wire()))
        await pipe.execute()

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
        return sum(int(r) for r in await pipe.execute()) if cells else 0

    async def mark_as_of(self, region: str, streams: Sequence[str], as_of_ms: int) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for s in streams:
            pipe.hset(_prefix(s) + "asof", region, as_of_ms)
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
