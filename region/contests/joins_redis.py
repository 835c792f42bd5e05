"""Batched joins in Redis: one round trip reads every team of a batch, one Lua call per contest
enters all of that contest's joins, one Lua call per match records the joined contests on the
teams. Each Lua call checks Redis's own clock (TIME) before it writes, like the single-entry
scripts in `store_redis`, so a batch is refused whole once the deadline has passed."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from typing import TypeVar

from podium.region.contests.store_redis import CONTESTS_SPAN_LUA, contest_key, match_key

from podium.redis_client import AnyRedis, store_reply

T = TypeVar("T")

# Enter many joins into one contest. KEYS: def, entries, owners. ARGV: capacity, per-owner max, then
# (entry key, owner, composition) per join. Returns one code per join, as the single-entry script:
# 1 joined, 0 already joined, -1 locked, -2 full, -3 owner at max.
_ENTER_MANY = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local deadline = tonumber(redis.call('HGET', KEYS[1], 'deadline_ms'))
local state = redis.call('HGET', KEYS[1], 'state')
local codes = {}
local n = (#ARGV - 2) / 3
if (not deadline) or now >= deadline or state ~= 'open' then
  for i = 1, n do codes[i] = -1 end
  return codes
end
local capacity, per_owner = tonumber(ARGV[1]), tonumber(ARGV[2])
local size = redis.call('HLEN', KEYS[2])
for i = 1, n do
  local entry, owner, comp = ARGV[3 * i], ARGV[3 * i + 1], ARGV[3 * i + 2]
  if redis.call('HEXISTS', KEYS[2], entry) == 1 then
    codes[i] = 0
  elseif size >= capacity then
    codes[i] = -2
  elseif tonumber(redis.call('HGET', KEYS[3], owner) or '0') >= per_owner then
    codes[i] = -3
  else
    redis.call('HSET', KEYS[2], entry, comp)
    redis.call('HINCRBY', KEYS[3], owner, 1)
    size = size + 1
    codes[i] = 1
  end
end
return codes
"""

# Record newly joined contests on the teams of one match, inside Redis: each team document is read,
# the contest ids it lacks are appended, and it is written back in the same call, so two batches
# (or two processes) joining one team to two contests at once both land, and a team saved in
# between keeps its new line-up. KEYS: teams. ARGV: deadline, then (team key, contest id) pairs.
# Returns 1 recorded, -1 locked (Redis time ≥ deadline: nothing written).
_RECORD_JOINED = CONTESTS_SPAN_LUA + """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
if now >= tonumber(ARGV[1]) then return -1 end
local docs, order = {}, {}
for i = 2, #ARGV, 2 do
  local key, contest = ARGV[i], ARGV[i + 1]
  local doc = docs[key]
  if doc == nil then
    doc = redis.call('HGET', KEYS[1], key)
    docs[key] = doc
    order[#order + 1] = key
  end
  if doc then
    local full, first, close = contests_span(doc)
    local item = '"' .. contest .. '"'
    if not string.find(',' .. string.sub(full, first, close - 1) .. ',', ',' .. item .. ',', 1, true) then
      if close > first then item = ',' .. item end
      docs[key] = string.sub(full, 1, close - 1) .. item .. string.sub(full, close)
    end
  end
end
for _, key in ipairs(order) do
  if docs[key] then redis.call('HSET', KEYS[1], key, docs[key]) end
end
return 1
"""


class RedisJoins:
    def __init__(self, redis: AnyRedis) -> None:
        self.redis = redis
        self._enter_many = redis.register_script(_ENTER_MANY)
        self._record_joined = redis.register_script(_RECORD_JOINED)

    async def _call(self, pending: Awaitable[T]) -> T:
        return await store_reply(pending, "contest store")

    async def teams(self, wanted: dict[str, list[str]]) -> dict[str, list[bytes | None]]:
        """Raw team documents by match, in the order asked (None: no such team); one round trip."""
        matches = list(wanted)
        pipe = self.redis.pipeline(transaction=False)
        for match_id in matches:
            pipe.hmget(match_key(match_id, "teams"), wanted[match_id])
        rows = await self._call(pipe.execute())
        return dict(zip(matches, rows, strict=True))

    async def enter(self, batches: dict[str, tuple[int, int, list[tuple[str, str, str]]]]) -> dict[str, list[int]]:
        """Per contest id: (capacity, per-owner max, [(entry key, owner, composition)]) → one code per
        join; one round trip for every contest of the batch."""
        contests = list(batches)
        pipe = self.redis.pipeline(transaction=False)
        for contest_id in contests:
            capacity, per_owner, joins = batches[contest_id]
            keys = [contest_key(contest_id, part) for part in ("def", "entries", "owners")]
            args: list[str | int] = [capacity, per_owner]
            for join in joins:
                args.extend(join)
            # queued: the pipeline sends it (redis-py accepts a pipeline here; its stubs say Redis)
            await self._enter_many(keys=keys, args=args, client=pipe)  # type: ignore[arg-type]
        rows = await self._call(pipe.execute())
        return {c: [int(code) for code in codes] for c, codes in zip(contests, rows, strict=True)}

    async def record_joined(self, joined: Mapping[str, tuple[int, Sequence[tuple[str, str]]]]) -> None:
        """Per match id: (deadline, [(team key, contest id)]) → each contest id added to its team's
        list in Redis (read-modify-write inside one Lua call per match); one round trip. A match
        past its deadline keeps its teams as they were."""
        pipe = self.redis.pipeline(transaction=False)
        for match_id, (deadline_ms, pairs) in joined.items():
            args: list[str | int] = [deadline_ms]
            for key, contest in pairs:
                args.extend((key, contest))
            await self._record_joined(keys=[match_key(match_id, "teams")], args=args, client=pipe)  # type: ignore[arg-type]
        await self._call(pipe.execute())
