"""Several feed events applied to one contest in one pass: each index page (the teams of one
`index_scan_entries` slice of the board at lock) is read for every player the events name, each
team's increments are summed in Lua, and each team gets one ZINCRBY per batch instead of one per
event. With events queued behind a fan-out, most teams hold several of their players, so a batch
updates each team once where one-by-one updated it once per event.

Exactly once, whatever the grouping on a replay: a batch first claims its events (`ct:{C}:ev:<id>`
← "b:<batch>") in one call, recording their summed deltas and its next page in `ct:{C}:bt:<batch>`;
each page is applied in the same call that advances that page; the last call marks every event
"done" and deletes the batch. An event another batch claimed is finished by resuming that batch;
an event the one-event path started (a position) is finished by that path; "done" is skipped.
A contest indexed before page marks existed (no `ct:{C}:players`) is applied one event at a time."""

from __future__ import annotations

import uuid
from typing import Any

from podium.region.contests.store_redis import RedisContestStore, contest_key

from podium.redis_client import as_text

# Claims the events not begun. KEYS: the batch's state, the contest's players set. ARGV: the event
# keys' prefix, batch id, then (event id, player, delta) triples. Returns one state per event:
# "claimed", or what its key held ("done", a position, "b:<batch>"); {"legacy"} without page marks.
_CLAIM = """
if redis.call('EXISTS', KEYS[2]) == 0 then return {'legacy'} end
local out, sums, ids = {}, {}, {}
for i = 3, #ARGV, 3 do
  local key = ARGV[1] .. ARGV[i]
  local state = redis.call('GET', key)
  if state then
    out[#out + 1] = state
  else
    redis.call('SET', key, 'b:' .. ARGV[2])
    sums[ARGV[i + 1]] = (sums[ARGV[i + 1]] or 0) + tonumber(ARGV[i + 2])
    ids[#ids + 1] = ARGV[i]
    out[#out + 1] = 'claimed'
  end
end
if #ids > 0 then
  local fields = {'page', 0, 'events', table.concat(ids, ' ')}
  for player, delta in pairs(sums) do
    fields[#fields + 1] = 'd:' .. player
    fields[#fields + 1] = string.format('%.17g', delta)
  end
  redis.call('HSET', KEYS[1], unpack(fields))
end
return out
"""

# Applies the batch's next page. KEYS: the batch's state, board, version. ARGV: prefixes of the page
# marks, the index lists and the event keys. Returns teams updated, or -1 once the batch is done.
# Teams are updated in the order the lists give them (each list is in board-at-lock order), and an
# increment is formatted once per distinct value.
_PAGE = """
local state = redis.call('HGETALL', KEYS[1])
if #state == 0 then return -1 end
local page, events, deltas = 0, '', {}
for i = 1, #state, 2 do
  local field, value = state[i], state[i + 1]
  if field == 'page' then page = tonumber(value)
  elseif field == 'events' then events = value
  else deltas[string.sub(field, 3)] = tonumber(value) end
end
local sums, order, n, more = {}, {}, 0, false
for player, delta in pairs(deltas) do
  local marks = redis.call('LRANGE', ARGV[1] .. player, math.max(page - 1, 0), page)
  local first, last
  if page == 0 then first, last = 0, tonumber(marks[1]) else first, last = tonumber(marks[1]), tonumber(marks[2]) end
  if last then
    more = true
    if last > first and delta ~= 0 then
      local rows = redis.call('LRANGE', ARGV[2] .. player, 2 * first, 2 * last - 1)
      for i = 1, #rows, 2 do
        local entry = rows[i + 1]
        local sum = sums[entry]
        if not sum then n = n + 1; order[n] = entry; sum = 0 end
        sums[entry] = sum - delta * tonumber(rows[i])
      end
    end
  end
end
local text, updated = {}, 0
for i = 1, n do
  local entry = order[i]
  local by = sums[entry]
  if by ~= 0 then
    local s = text[by]
    if not s then s = string.format('%.17g', by); text[by] = s end
    redis.call('ZINCRBY', KEYS[2], s, entry)
    updated = updated + 1
  end
end
if updated > 0 then redis.call('INCR', KEYS[3]) end
if more then redis.call('HSET', KEYS[1], 'page', page + 1); return updated end
for id in string.gmatch(events, '%S+') do redis.call('SET', ARGV[3] .. id, 'done') end
redis.call('DEL', KEYS[1])
return -1
"""


class RedisFeedBatches:
    """Batched fan-out on the contest store's Redis (the one-event path stays in the store)."""

    def __init__(self, store: RedisContestStore) -> None:
        self.store = store
        self._claim = store.redis.register_script(_CLAIM)
        self._page = store.redis.register_script(_PAGE)

    async def fan_out(self, contest_id: str, events: list[tuple[str, str, int]]) -> list[int]:
        """Applies (event id, player, delta) events to `contest_id`; per event, the entries holding
        its player when this call applied it, else 0 (applied before, or finished here for an
        earlier call that stopped part-way)."""
        batch = uuid.uuid4().hex
        args: list[Any] = [contest_key(contest_id, "ev:"), batch]
        for event_id, player, delta in events:
            args += [event_id, player, delta]
        keys = [contest_key(contest_id, f"bt:{batch}"), contest_key(contest_id, "players")]
        states = [as_text(s) for s in await self.store._call(self._claim(keys=keys, args=args))]
        if states == ["legacy"]:
            return [await self.store.fan_out(contest_id, *event) for event in events]
        for (event_id, player, delta), state in zip(events, states, strict=True):
            if state.startswith("b:"):
                await self._run(contest_id, state[2:])
            elif state not in ("claimed", "done"):
                await self.store.fan_out(contest_id, event_id, player, delta)
        if "claimed" not in states:
            return [0] * len(events)
        await self._run(contest_id, batch)
        pipe = self.store.redis.pipeline(transaction=False)
        for _, player, _ in events:
            pipe.llen(contest_key(contest_id, f"idx:{player}"))
        lengths = await self.store._call(pipe.execute())
        return [int(n) // 2 if s == "claimed" else 0 for n, s in zip(lengths, states, strict=True)]

    async def _run(self, contest_id: str, batch: str) -> None:
        keys = [contest_key(contest_id, f"bt:{batch}"), contest_key(contest_id, "board"), contest_key(contest_id, "ver")]
        args = [contest_key(contest_id, "pg:"), contest_key(contest_id, "idx:"), contest_key(contest_id, "ev:")]
        while int(await self.store._call(self._page(keys=keys, args=args))) >= 0:
            pass
