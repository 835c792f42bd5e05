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
