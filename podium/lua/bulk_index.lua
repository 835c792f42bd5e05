-- Writes one read of a board built aside into its index buckets (region/bulk_load_redis.py): the
-- client hashed the players into their buckets; this call does the HSETs, so the client sends one
-- command per read instead of a pipeline of thousands (whose replies cost it more than the hashing).
-- KEYS: 1 the built index state (routes the call to the board's slot; not written here)
-- ARGV: 1 bucket key prefix   2 TTL ms   then per bucket: number, field count k, "1" when the
--       bucket is new (gets the TTL), and k player/time-key pairs
-- Returns the number of players added.

local prefix, ttl, n = ARGV[1], ARGV[2], #ARGV
local i, added = 3, 0
while i <= n do
  local key = prefix .. ":" .. ARGV[i]
  local k = tonumber(ARGV[i + 1])
  local first = i + 3
  added = added + redis.call("HSET", key, unpack(ARGV, first, first + 2 * k - 1))
  if ARGV[i + 2] == "1" then redis.call("PEXPIRE", key, ttl) end
  i = first + 2 * k
end
return added
