"""The threshold merge's reads on Redis (threshold_merge.py): a round's pages are one pipeline of
ZREVRANGE ... WITHSCORES (one per live bucket), and the new candidates' exact sums one Lua call of
ZMSCOREs, summed in Redis (one integer per item comes back, not one score per bucket and item).
A stream's bucket keys share its hash tag, so both work on a cluster too."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from podium.redis_client import AnyRedis

# ZMSCORE takes the items in slices (Lua's unpack is bounded by its C stack, ~8,000 values)
SUMS = """
local n = #ARGV
local sums = {}
for j = 1, n do sums[j] = 0 end
for _, key in ipairs(KEYS) do
  for lo = 1, n, 1000 do
    local hi = math.min(n, lo + 999)
    local scores = redis.call('ZMSCORE', key, unpack(ARGV, lo, hi))
    for j = 1, hi - lo + 1 do
      local s = scores[j]
      if s then sums[lo + j - 1] = sums[lo + j - 1] + tonumber(s) end
    end
  end
end
return sums
"""


# The top-K of one sorted set, equal counts at the K-th place item-ascending (ZRANGEBYSCORE lists
# them in byte order; the caller sorts the rows). KEYS[1] is the set; ARGV[2] is k.
_TOP_OF_SET = """
local rows = redis.call('ZREVRANGE', KEYS[1], 0, k - 1, 'WITHSCORES')
if #rows < 2 * k then return rows end
local kth = rows[#rows]
local out = {}
for i = 1, #rows, 2 do
  if tonumber(rows[i + 1]) > tonumber(kth) then out[#out + 1] = rows[i]; out[#out + 1] = rows[i + 1] end
end
local ties = redis.call('ZRANGEBYSCORE', KEYS[1], kth, kth, 'WITHSCORES', 'LIMIT', 0, k - #out / 2)
for _, v in ipairs(ties) do out[#out + 1] = v end
return out
"""

# A read that merges one bucket (exact_cover.py often leaves one) takes its top straight from it.
TOP = """
local k = tonumber(ARGV[2])
""" + _TOP_OF_SET

# The whole union and its top-K in one atomic call: KEYS[1] the merged range, KEYS[2..] the buckets;
# ARGV ttl ms, k. Kept for the TTL (reused while it lives), but read in the same call that made or
# found it: as separate calls, a union that took longer than its TTL to answer under load expired
# before its top was read (an empty or short answer).
UNION_TOP = """
local k = tonumber(ARGV[2])
if redis.call('EXISTS', KEYS[1]) == 0 then
  local buckets = {}
  for i = 2, #KEYS do buckets[#buckets + 1] = KEYS[i] end
  redis.call('ZUNIONSTORE', KEYS[1], #buckets, unpack(buckets))
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
""" + _TOP_OF_SET


class RedisBucketPages:
    """One read's buckets (their sorted-set keys); `guard` translates store errors."""

    def __init__(self, redis: AnyRedis, sums_script: Any, keys: Sequence[str],
                 guard: Callable[[Awaitable[Any]], Awaitable[Any]]) -> None:
        self.redis = redis
        self.keys = list(keys)
        self._sums = sums_script
        self._guard = guard

    async def pages(self, reads: Sequence[tuple[int, int, int]]) -> list[list[tuple[bytes, int]]]:
        pipe = self.redis.pipeline(transaction=False)
        for bucket, offset, count in reads:
            pipe.zrevrange(self.keys[bucket], offset, offset + count - 1, withscores=True, score_cast_func=int)
        replies = await self._guard(pipe.execute())
        return [[(m, int(s)) for m, s in rows] for rows in replies]

    async def sums(self, items: Sequence[bytes], buckets: Sequence[int]) -> list[int]:
        keys = [self.keys[b] for b in buckets]
        return [int(s) for s in await self._guard(self._sums(keys=keys, args=list(items)))]
