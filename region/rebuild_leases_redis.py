"""Who rebuilds which board: the rebuild leases in Redis (one hash key, `podium:rebuilding`: one
cluster slot). Every process's board registry reads them with the boards and refuses a leased
board's writes (region/recovery.py). Redis errors become coded errors here, for every method."""

from __future__ import annotations

import secrets

from podium.clock import Clock
from podium.keys import REBUILDING_KEY
from podium.redis_client import AnyRedis
from podium.store_errors import translate_store_errors

# KEYS[1] the leases hash. ARGV: board, token, now ms, new deadline ms, mode.
# A lease is "<deadline ms>:<token>". acquire: when free or lapsed; renew/release: only its holder.
_LEASE_LUA = """
local cur = redis.call("HGET", KEYS[1], ARGV[1])
local deadline, holder = nil, nil
if cur then
  local sep = string.find(cur, ":", 1, true)
  deadline, holder = tonumber(string.sub(cur, 1, sep - 1)), string.sub(cur, sep + 1)
end
local mine = holder == ARGV[2]
if ARGV[5] == "acquire" then
  if cur and not mine and deadline > tonumber(ARGV[3]) then return 0 end
elseif not mine then
  return 0
end
if ARGV[5] == "release" then
  redis.call("HDEL", KEYS[1], ARGV[1])
else
  redis.call("HSET", KEYS[1], ARGV[1], ARGV[4] .. ":" .. ARGV[2])
end
return 1
"""


@translate_store_errors("the rebuild leases (Redis)")
class RebuildLeases:
    """Who rebuilds which board, in Redis (one hash key: one cluster slot)."""

    def __init__(self, redis: AnyRedis, clock: Clock, lease_ms: int) -> None:
        if lease_ms <= 0:
            raise ValueError("rebuild_lease_ms must be positive")
        self.clock = clock
        self.lease_ms = lease_ms
        self._script = redis.register_script(_LEASE_LUA)

    async def _call(self, board_id: str, token: str, mode: str) -> bool:
        now = self.clock.now_ms()
        return bool(await self._script(keys=[REBUILDING_KEY], args=[board_id, token, now, now + self.lease_ms, mode]))

    async def acquire(self, board_id: str) -> str | None:
        token = secrets.token_hex(8)
        return token if await self._call(board_id, token, "acquire") else None

    async def renew(self, board_id: str, token: str) -> bool:
        return await self._call(board_id, token, "renew")

    async def release(self, board_id: str, token: str) -> None:
        await self._call(board_id, token, "release")
