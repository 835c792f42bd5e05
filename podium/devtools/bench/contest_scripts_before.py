"""The contest index and fan-out scripts as they were before the list index (a sorted set per
player, one ZINCRBY per entry): the same-run baseline of `benchmarks/contests_bench.py`. Both
versions index and fan out the same teams in one Redis, and the boards they leave must be equal.
Kept verbatim from region/contests/store_redis.py at commit e3a3e7a."""

from __future__ import annotations

import time
from typing import Any, Self

from podium.region.contests.store_redis import INDEX_ZADD_MEMBERS, RedisContestStore, contest_key

# One chunk of one feed event's fan-out, atomic with its progress, so a crash or a replay resumes
# where it stopped and no entry is counted twice. KEYS: progress, index, board. ARGV: delta
# (player points, hundredths), chunk size. KEYS[4] is the board's version (live ticks read it).
# Returns entries updated (0 when already done).
_FANOUT = """
local pos = redis.call('GET', KEYS[1])
if pos == 'done' then return 0 end
pos = tonumber(pos or '0')
local n = tonumber(ARGV[2])
local rows = redis.call('ZRANGE', KEYS[2], pos, pos + n - 1, 'WITHSCORES')
local delta = tonumber(ARGV[1])
for i = 1, #rows, 2 do
  redis.call('ZINCRBY', KEYS[3], -delta * tonumber(rows[i + 1]), rows[i])
end
local got = #rows / 2
if got < n then redis.call('SET', KEYS[1], 'done') else redis.call('SET', KEYS[1], pos + got) end
if got > 0 then redis.call('INCR', KEYS[4]) end
return got
"""


# Index one HSCAN page of a locked contest's entries, inside Redis. KEYS: entries, board. ARGV:
# cursor, count, the index key prefix, members per ZADD. Members are gathered per player and
# written with one ZADD per `ARGV[4]` members (a redis.call per member cost ~3× more).
# Returns the next cursor ("0" when done).
_INDEX = """
local page = redis.call('HSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
local rows = page[2]
local per = tonumber(ARGV[4])
local board, by_player = {}, {}
local function flush(key, args)
  if #args > 0 then redis.call('ZADD', key, unpack(args)) end
end
for i = 1, #rows, 2 do
  local entry, comp = rows[i], rows[i + 1]
  board[#board + 1] = 0
  board[#board + 1] = entry
  if #board >= 2 * per then flush(KEYS[2], {'NX', unpack(board)}); board = {} end
  local members = string.sub(comp, string.find(comp, '\t', 1, true) + 1)
  for player, mult in string.gmatch(members, '([^,=]+)=(%d+)') do
    local args = by_player[player]
    if not args then args = {}; by_player[player] = args end
    args[#args + 1] = tonumber(mult)
    args[#args + 1] = entry
    if #args >= 2 * per then flush(ARGV[3] .. player, args); by_player[player] = {} end
  end
end
if #board > 0 then flush(KEYS[2], {'NX', unpack(board)}) end
for player, args in pairs(by_player) do flush(ARGV[3] .. player, args) end
return page[1]
"""


def _redis_cpu_s(info: dict[str, Any]) -> float:
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


class _Timer:
    """Wall-clock and Redis CPU seconds of one phase."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis

    async def __aenter__(self) -> Self:
        self.cpu0, self.t0 = _redis_cpu_s(await self.redis.info("cpu")), time.perf_counter()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.wall_s = round(time.perf_counter() - self.t0, 3)
        self.redis_cpu_s = round(_redis_cpu_s(await self.redis.info("cpu")) - self.cpu0, 3)


async def index_and_fan_out_before(redis: Any, contest_id: str, players: list[str], delta: int,
                                   scan_entries: int, chunk_entries: int) -> dict[str, Any]:
    """Indexes `contest_id` and applies one event per player with the previous scripts."""
    index, fanout = redis.register_script(_INDEX), redis.register_script(_FANOUT)
    async with _Timer(redis) as built:
        cursor: Any = 0
        while True:
            cursor = await index(keys=[contest_key(contest_id, "entries"), contest_key(contest_id, "board")],
                                 args=[cursor, scan_entries, contest_key(contest_id, "idx:"), INDEX_ZADD_MEMBERS])
            if int(cursor) == 0:
                break
    events = []
    for n, player in enumerate(players):
        keys = [contest_key(contest_id, f"ev:e{n}"), contest_key(contest_id, f"idx:{player}"),
                contest_key(contest_id, "board"), contest_key(contest_id, "ver")]
        updated = 0
        async with _Timer(redis) as applied:
            while True:
                got = int(await fanout(keys=keys, args=[delta, chunk_entries]))
                updated += got
                if got < chunk_entries:
                    break
        events.append({"teams_updated": updated, "fanout_s": applied.wall_s, "redis_cpu_s": applied.redis_cpu_s})
    return {"index_s": built.wall_s, "index_redis_cpu_s": built.redis_cpu_s, "events": events}


async def index_and_fan_out_now(store: RedisContestStore, contest_id: str, players: list[str], delta: int) -> dict[str, Any]:
    """The same with the current store (a list of (multiplier, entry) per player)."""
    async with _Timer(store.redis) as built:
        await store.build_index(contest_id)
    events = []
    for n, player in enumerate(players):
        async with _Timer(store.redis) as applied:
            updated = await store.fan_out(contest_id, f"e{n}", player, delta)
        events.append({"teams_updated": updated, "fanout_s": applied.wall_s, "redis_cpu_s": applied.redis_cpu_s})
    return {"index_s": built.wall_s, "index_redis_cpu_s": built.redis_cpu_s, "events": events}
