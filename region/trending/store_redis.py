"""The trending store on Redis: the one adapter of region/trending.

Per stream (hash tag `{stream}`, so a stream's keys share a cluster slot), bucket and series:
  pt:{s}:c:<r>:<start>:<series>   sorted set item -> exact count (at most items_per_bucket_max)
  pt:{s}:m:<r>:<start>            hash t:<series> total weight, o:<series> weight past the item cap
  pt:{s}:v:<r>:<start>:<dim>      set of a dimension's values (at most dim_values_per_bucket_max)
  pt:{s}:k:<r>:<start>:<series>   list of serialized frequent-items sketches (per-batch deltas,
                                  compacted into one past sketch_deltas_max)
  pt:{s}:e:<event id>             dedup marker (expires after the dedup window)
  pt:{s}:ver                      bumped by every batch (live subscriptions re-read on change)
A batch's dedup, caps and counts are one Lua call (the table in `table.py` is its reference);
every bucket key expires when its resolution's retention has passed. Streams are declared in the
hash pt:streams."""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

import orjson
from podium.region.trending import sketch as sketches
from podium.region.trending.buckets import Bucket, Resolution, bucket_start
from podium.region.trending.events import OTHER_VALUE, TrendEvent, series_of
from podium.region.trending.streams import StreamSpec
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from podium.clock import Clock
from podium.config import TrendingSettings
from podium.errors import Conflict, Internal, NotFound, Unavailable
from podium.redis_client import AnyRedis

STREAMS_KEY = "pt:streams"
RES_CODE = {Resolution.MINUTE: "m", Resolution.HOUR: "h", Resolution.DAY: "d"}
EXPIRY_SLACK_MS = 60_000
COMPACT_LOCK_MS = 10_000
REFRESH_MS = 1000

_APPLY_LUA = """
local p = ARGV[1]
local dedup_px, icap, vcap = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local nres = tonumber(ARGV[5])
local res, i = {}, 6
for r = 1, nres do res[r] = {ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])}; i = i + 3 end
local nd = tonumber(ARGV[i]); i = i + 1
local dn = {}
for d = 1, nd do dn[d] = ARGV[i]; i = i + 1 end
local ne = tonumber(ARGV[i]); i = i + 1
local out, agg, zkeys, card, admitted, meta, vals, expire = {}, {}, {}, {}, {}, {}, {}, {}
for e = 1, ne do
  local id, item, at, w = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  local ev = {}
  for d = 1, nd do ev[d] = ARGV[i + 3 + d] end
  i = i + 4 + nd
  if redis.call('SET', p .. 'e:' .. id, '1', 'NX', 'PX', dedup_px) then
    local mask = 0
    for r = 1, nres do
      local code, size, keep = res[r][1], res[r][2], res[r][3]
      local start = at - (at % size)
      local exp = start + keep * size + 60000
      local base = code .. ':' .. string.format('%.0f', start)
      local present = {}
      for d = 1, nd do
        local v = ev[d]
        if v ~= '' then
          local vkey = p .. 'v:' .. base .. ':' .. dn[d]
          local vs = vals[vkey]
          if not vs then
            vs = {n = redis.call('SCARD', vkey), has = {}}
            vals[vkey] = vs
            expire[vkey] = exp
          end
          local h = vs.has[v]
          if h == nil then
            h = redis.call('SISMEMBER', vkey, v) == 1
            if not h and vs.n < vcap then redis.call('SADD', vkey, v); vs.n = vs.n + 1; h = true end
            vs.has[v] = h
          end
          if not h then v = '~other'; mask = mask + 2 ^ ((r - 1) * nd + (d - 1)) end
          present[#present + 1] = dn[d] .. '=' .. v
        end
      end
      local mkey = p .. 'm:' .. base
      local m = meta[mkey]
      if not m then m = {}; meta[mkey] = m; expire[mkey] = exp end
      for s = 0, 2 ^ #present - 1 do
        local parts, x = {}, s
        for j = 1, #present do
          if x % 2 == 1 then parts[#parts + 1] = present[j] end
          x = math.floor(x / 2)
        end
        local series = table.concat(parts, '&')
        local zkey = p .. 'c:' .. base .. ':' .. series
        local ad = admitted[zkey]
        if not ad then
          ad = {}; admitted[zkey] = ad; agg[zkey] = {}
          card[zkey] = redis.call('ZCARD', zkey)
          expire[zkey] = exp
          zkeys[#zkeys + 1] = zkey
        end
        local ok = ad[item]
        if ok == nil then
          ok = redis.call('ZSCORE', zkey, item) ~= false
          if not ok and card[zkey] < icap then ok = true; card[zkey] = card[zkey] + 1 end
          ad[item] = ok
        end
        m['t:' .. series] = (m['t:' .. series] or 0) + w
        if ok then agg[zkey][item] = (agg[zkey][item] or 0) + w
        else m['o:' .. series] = (m['o:' .. series] or 0) + w end
      end
    end
    out[e] = mask
  else
    out[e] = -1
  end
end
for _, zkey in ipairs(zkeys) do
  for item, w in pairs(agg[zkey]) do redis.call('ZINCRBY', zkey, w, item) end
end
for mkey, m in pairs(meta) do
  for f, v in pairs(m) do redis.call('HINCRBY', mkey, f, v) end
end
for k, at in pairs(expire) do redis.call('PEXPIREAT', k, string.format('%.0f', at)) end
redis.call('INCR', KEYS[1])
return out
"""

# Replaces the first n deltas of a sketch list by their merge (only the lock holder compacts;
# writers only append, so the first n entries are the ones that were merged).
_COMPACT_LUA = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('LTRIM', KEYS[1], tonumber(ARGV[2]), -1)
redis.call('LPUSH', KEYS[1], ARGV[3])
redis.call('DEL', KEYS[2])
return 1
"""


def _prefix(stream: str) -> str:
    return f"pt:{{{stream}}}:"


def _base(b: Bucket) -> str:
    return f"{RES_CODE[b.resolution]}:{b.start_ms}"


def _sketch_deltas(spec: StreamSpec, dims: list[str], events: Sequence[TrendEvent],
                   masks: Sequence[int]) -> dict[tuple[Bucket, str], bytes]:
    """One serialized sketch per (bucket, series) of the batch's fresh events, with the dimension
    values the Lua call capped (bit r * len(dims) + j of an event's mask) replaced by OTHER_VALUE."""
    cells: dict[tuple[Bucket, str], Counter[str]] = defaultdict(Counter)
    for e, mask in zip(events, masks, strict=True):
        if mask < 0:
            continue
        values = dict(e.dims)
        for ri, r in enumerate(spec.resolutions):
            capped = [(d, OTHER_VALUE if mask >> (ri * len(dims) + j) & 1 else values[d])
                      for j, d in enumerate(dims) if d in values]
            bucket = Bucket(bucket_start(e.at_ms, r), r)
            for series in series_of(capped):
                cells[(bucket, series)][e.item] += e.weight
    return {cell: sketches.of_counts(counts.items(), spec.sketch_lg_size).serialize()
            for cell, counts in cells.items()}


class TrendingStoreError(Unavailable):
    def __init__(self) -> None:
        super().__init__("the trending store (Redis) is unreachable; retry shortly", retryAfter=1)


async def _guard(coro: Any) -> Any:
    try:
        return await coro
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise TrendingStoreError() from exc
    except RedisError as exc:
        raise Internal("the trending store rejected an operation") from exc


class RedisTrendingStore:
    def __init__(self, redis: AnyRedis, limits: TrendingSettings) -> None:
        self.redis = redis
        self.limits = limits
        self._apply = redis.register_script(_APPLY_LUA)
        self._compact = redis.register_script(_COMPACT_LUA)

    async def apply(self, spec: StreamSpec, events: Sequence[TrendEvent]) -> list[bool]:
        """Counts the events (Lua calls of at most lua_events_max events), then appends their sketch deltas; per event, whether
        it was fresh. A crash between the two leaves the exact counts right and the sketches short
        of that batch (approximate answers then under-count it; their bounds do not cover it)."""
        if not events:
            return []
        p = _prefix(spec.id)
        dims = sorted(spec.dimensions)
        args: list[Any] = [p, self.limits.dedup_window_ms, spec.items_per_bucket_max, spec.dim_values_per_bucket_max,
                           len(spec.resolutions)]
        for r in spec.resolutions:
            args += [RES_CODE[r], r.size_ms, spec.kept(r)]
        args += [len(dims), *dims]
        masks: list[int] = []
        # Chunks in order: a script blocks Redis while it runs, so one call holds at most
        # lua_events_max events (other clients wait milliseconds, not seconds)
        step = self.limits.lua_events_max
        for lo in range(0, len(events), step):
            chunk_args = [*args, len(events[lo : lo + step])]
            for e in events[lo : lo + step]:
                values = dict(e.dims)
                chunk_args += [e.event_id, e.item, e.at_ms, e.weight, *(values.get(d, "") for d in dims)]
            masks += [int(m) for m in await _guard(self._apply(keys=[p + "ver"], args=chunk_args))]
        await self._append_sketches(spec, dims, events, masks)
        return [int(m) >= 0 for m in masks]

    async def _append_sketches(self, spec: StreamSpec, dims: list[str], events: Sequence[TrendEvent],
                               masks: Sequence[int]) -> None:
        # CPU work off the event loop: a 10,000-event batch must not stall other requests' I/O
        cells = await asyncio.to_thread(_sketch_deltas, spec, dims, events, masks)
        if not cells:
            return
        p = _prefix(spec.id)
        pipe = self.redis.pipeline(transaction=False)
        keys = []
        for (bucket, series), blob in cells.items():
            key = f"{p}k:{_base(bucket)}:{series}"
            keys.append((key, bucket))
            pipe.rpush(key, blob)
            pipe.pexpireat(key, bucket.start_ms + spec.kept(bucket.resolution) * bucket.resolution.size_ms
                           + EXPIRY_SLACK_MS)
        lengths = (await _guard(pipe.execute()))[::2]
        for (key, _bucket), length in zip(keys, lengths, strict=True):
            if int(length) > self.limits.sketch_deltas_max:
                await self._compact_list(spec, key, int(length))

    async def _compact_list(self, spec: StreamSpec, key: str, length: int) -> None:
        lock, token = key + ":lock", hashlib.sha1(key.encode() + str(length).encode()).hexdigest()
        if not await _guard(self.redis.set(lock, token, nx=True, px=COMPACT_LOCK_MS)):
            return   # another writer compacts it
        blobs = await _guard(self.redis.lrange(key, 0, length - 1))
        merged = sketches.merge_blobs(blobs, spec.sketch_lg_size).serialize()
        await _guard(self._compact(keys=[key, lock], args=[token, len(blobs), merged]))

    async def read_exact(self, spec: StreamSpec, buckets: Sequence[Bucket], series: str,
                         k: int) -> tuple[list[tuple[str, int]], int, int]:
        """The top-K (count desc, item asc) of the buckets' merged counts, other and total."""
        p = _prefix(spec.id)
        zkeys = [f"{p}c:{_base(b)}:{series}" for b in buckets]
        other, total = await self._meta(p, buckets, series)
        if not zkeys:
            return [], other, total
        # the merged range is reused only while the stream has had no new batch (its version)
        version = await _guard(self.redis.get(p + "ver")) or b"0"
        union = p + "u:" + hashlib.sha1(version + b"|" + "|".join(zkeys).encode()).hexdigest()
        if not await _guard(self.redis.exists(union)):
            pipe = self.redis.pipeline(transaction=False)
            pipe.zunionstore(union, zkeys)
            pipe.pexpire(union, max(1, self.limits.union_ttl_ms))
            await _guard(pipe.execute())
        rows = await _guard(self.redis.zrevrange(union, 0, k - 1, withscores=True))
        if len(rows) == k:
            kth = rows[-1][1]
            above = [(m, s) for m, s in rows if s > kth]
            ties = await _guard(self.redis.zrangebyscore(union, kth, kth, start=0, num=k - len(above),
                                                         withscores=True))
            rows = above + ties
        # ZREVRANGE lists equal counts in reverse byte order; the rule is item ascending (UTF-8
        # byte order is code point order, so sorting the bytes sorts the strings)
        rows = sorted(rows, key=lambda r: (-r[1], r[0]))
        return [(m.decode(), int(s)) for m, s in rows], other, total

    async def read_sketch(self, spec: StreamSpec, buckets: Sequence[Bucket], series: str) -> tuple[Any, int]:
        """The merged sketch of the buckets, and their exact total weight."""
        p = _prefix(spec.id)
        pipe = self.redis.pipeline(transaction=False)
        for b in buckets:
            pipe.lrange(f"{p}k:{_base(b)}:{series}", 0, -1)
        lists = await _guard(pipe.execute()) if buckets else []
        _other, total = await self._meta(p, buckets, series)
        blobs = [blob for chunk in lists for blob in chunk]
        return await asyncio.to_thread(sketches.merge_blobs, blobs, spec.sketch_lg_size), total

    async def _meta(self, p: str, buckets: Sequence[Bucket], series: str) -> tuple[int, int]:
        if not buckets:
            return 0, 0
        pipe = self.redis.pipeline(transaction=False)
        for b in buckets:
            pipe.hmget(f"{p}m:{_base(b)}", [f"o:{series}", f"t:{series}"])
        other = total = 0
        for o, t in await _guard(pipe.execute()):
            other += int(o or 0)
            total += int(t or 0)
        return other, total

    async def versions(self, streams: Sequence[str]) -> dict[str, int]:
        """Each stream's batch counter (a pipeline of GETs: the keys live in different slots)."""
        if not streams:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        for s in streams:
            pipe.get(_prefix(s) + "ver")
        values = await _guard(pipe.execute())
        return {s: int(v or 0) for s, v in zip(streams, values, strict=True)}

    async def bucket_memory_bytes(self, spec: StreamSpec, bucket: Bucket) -> int:
        """Bytes Redis uses for one bucket of a stream (every series and the sketches)."""
        p = _prefix(spec.id)
        total = 0
        async for key in self.redis.scan_iter(match=f"{p}[cmvk]:{_base(bucket)}*", count=1000):
            total += int(await _guard(self.redis.memory_usage(key)) or 0)
        return total


class StreamRegistry:
    """Declared streams in one Redis hash, cached per process for `refresh_ms`."""

    def __init__(self, redis: AnyRedis, clock: Clock, limits: TrendingSettings, refresh_ms: int = REFRESH_MS) -> None:
        self.redis = redis
        self.clock = clock
        self.limits = limits
        self.refresh_ms = refresh_ms
        self._streams: dict[str, StreamSpec] = {}
        self._loaded_at: float | None = None

    async def refresh(self) -> dict[str, StreamSpec]:
        raw = await _guard(self.redis.hgetall(STREAMS_KEY))
        self._streams = {k.decode(): StreamSpec.from_dict(orjson.loads(v), self.limits) for k, v in raw.items()}
        self._loaded_at = self.clock.monotonic()
        return self._streams

    async def all(self) -> dict[str, StreamSpec]:
        if self._loaded_at is None or (self.clock.monotonic() - self._loaded_at) * 1000 > self.refresh_ms:
            return await self.refresh()
        return self._streams

    async def require(self, stream: str) -> StreamSpec:
        spec = (await self.all()).get(stream) or (await self.refresh()).get(stream)
        if spec is None:
            raise NotFound(f"unknown stream {str(stream)[:64]!r}")
        return spec

    async def create(self, spec: StreamSpec, *, exist_ok: bool = False) -> StreamSpec:
        if len(await self.refresh()) >= self.limits.streams_max and spec.id not in self._streams:
            raise Conflict(f"this region already has {self.limits.streams_max} streams")
        created = await _guard(self.redis.hsetnx(STREAMS_KEY, spec.id, orjson.dumps(spec.to_dict())))
        if not created and not exist_ok:
            raise Conflict(f"stream {spec.id!r} already exists")
        return (await self.refresh())[spec.id]
