"""Batched joins in Redis: one round trip reads every team of a batch, one Lua call per contest
enters all of that contest's joins, one Lua call per match records the joined contests on the
teams. Each Lua call checks Redis's own clock (TIME) before it writes, like the single-entry
scripts in `store_redis`, so a batch is refused whole once the deadline has passed. A join is
recorded on its team only at the version its entry was made from (see `_RECORD_JOINED`)."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from typing import TypeVar

from podium.region.contests.store_redis import CONTESTS_SPAN_LUA, ENTRY_LUA, contest_key, match_key

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
# (or two processes) joining one team to two contests at once both land. A join is recorded only if
# the team is still at the version its entry was made from: a team saved since then is returned
# instead, and the join brings its entry up to that version and tries again (`joins`). Once the
# contest is on the record, every later save updates the entry itself. KEYS: teams. ARGV: deadline,
# then (team key, contest id, version) triples. Returns -1 when locked (Redis time ≥ deadline:
# nothing written), else one reply per triple: 1 recorded, 0 no such team, or the team's document
# as it is now (its version differs). The version is read with a pattern: `"version":` can only be
# the key (a '"' inside a JSON string is escaped, and the document has no nested objects).
_RECORD_JOINED = CONTESTS_SPAN_LUA + """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
if now >= tonumber(ARGV[1]) then return -1 end
local docs, order, replies = {}, {}, {}
for i = 2, #ARGV, 3 do
  local key, contest, version = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local doc = docs[key]
  if doc == nil then
    doc = redis.call('HGET', KEYS[1], key)
    docs[key] = doc
    order[#order + 1] = key
  end
  if not doc then
    replies[#replies + 1] = 0
  elseif string.match(doc, '"version":(%d+)') ~= version then
    replies[#replies + 1] = doc
  else
    local full, first, close = contests_span(doc)
    local item = '"' .. contest .. '"'
    if not string.find(',' .. string.sub(full, first, close - 1) .. ',', ',' .. item .. ',', 1, true) then
      if close > first then item = ',' .. item end
      docs[key] = string.sub(full, 1, close - 1) .. item .. string.sub(full, close)
    end
    replies[#replies + 1] = 1
  end
end
for _, key in ipairs(order) do
  if docs[key] then redis.call('HSET', KEYS[1], key, docs[key]) end
end
return replies
"""

# Withdraw an entry whose team was saved, before the join was recorded, with a line-up the contest
# refuses. Only the entry as the join made it is removed (no one else writes an entry before its
# join is recorded). KEYS: def, entries, owners. ARGV: entry key, owner, composition. Returns 1
# removed, 0 not as made, -1 locked (the entry stays: a locked contest's entries never change).
_WITHDRAW = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local deadline = tonumber(redis.call('HGET', KEYS[1], 'deadline_ms'))
if (not deadline) or now >= deadline or redis.call('HGET', KEYS[1], 'state') ~= 'open' then return -1 end
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[3] then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
if redis.call('HINCRBY', KEYS[3], ARGV[2], -1) <= 0 then redis.call('HDEL', KEYS[3], ARGV[2]) end
return 1
"""


class RedisJoins:
    def __init__(self, redis: AnyRedis) -> None:
        self.redis = redis
        self._enter_many = redis.register_script(_ENTER_MANY)
        self._record_joined = redis.register_script(_RECORD_JOINED)
        self._withdraw = redis.register_script(_WITHDRAW)
        self._entry = redis.register_script(ENTRY_LUA)

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

    async def record_joined(self, joined: Mapping[str, tuple[int, Sequence[tuple[str, str, int]]]],
                            ) -> dict[str, list[int | bytes]]:
        """Per match id: (deadline, [(team key, contest id, version)]) → one reply per join: 1
        recorded, 0 no such team, -1 locked, or the team's document when it is no longer at that
        version (nothing recorded for that join). One Lua call per match, one round trip."""
        matches = list(joined)
        pipe = self.redis.pipeline(transaction=False)
        for match_id in matches:
            deadline_ms, triples = joined[match_id]
            args: list[str | int] = [deadline_ms]
            for key, contest, version in triples:
                args.extend((key, contest, version))
            await self._record_joined(keys=[match_key(match_id, "teams")], args=args, client=pipe)  # type: ignore[arg-type]
        rows = await self._call(pipe.execute())
        out: dict[str, list[int | bytes]] = {}
        for match_id, row in zip(matches, rows, strict=True):
            count = len(joined[match_id][1])
            out[match_id] = [-1] * count if not isinstance(row, list) else [
                r if isinstance(r, bytes) else int(r) for r in row]
        return out

    async def update(self, contest_id: str, key: str, owner: str, comp: str) -> int:
        """Brings a joined entry to a newer composition (never an older one): 1 done, -1 locked."""
        keys = [contest_key(contest_id, part) for part in ("def", "entries", "owners")]
        return int(await self._call(self._entry(keys=keys, args=[key, owner, comp, 0, 0, "update"])))

    async def withdraw(self, contest_id: str, key: str, owner: str, comp: str) -> int:
        """Removes an entry as its join made it: 1 removed, 0 changed since, -1 locked."""
        keys = [contest_key(contest_id, part) for part in ("def", "entries", "owners")]
        return int(await self._call(self._withdraw(keys=keys, args=[key, owner, comp])))
