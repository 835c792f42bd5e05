-- Swaps a board built aside (by RankStore.replace) in for the live one, atomically: a reader sees
-- the old board or the new one, never a mix. All keys share the board's hash tag (one cluster slot).
--
-- KEYS: 1 built zset   2 built index hash   3 live zset   4 live index hash
-- ARGV: 1 number of entries the builder wrote
-- Returns the new board's size, or -1 (and drops the built keys) when the built zset and index do
-- not both hold exactly ARGV[1] entries (a player given twice, or keys lost mid-build).

local built = redis.call("ZCARD", KEYS[1])
if built ~= tonumber(ARGV[1]) or redis.call("HLEN", KEYS[2]) ~= built then
  redis.call("DEL", KEYS[1], KEYS[2])
  return -1
end
if built == 0 then
  redis.call("DEL", KEYS[3], KEYS[4])
  return 0
end
-- RENAME carries the builder's safety TTL over: PERSIST drops it on the live keys.
redis.call("RENAME", KEYS[1], KEYS[3])
redis.call("PERSIST", KEYS[3])
redis.call("RENAME", KEYS[2], KEYS[4])
redis.call("PERSIST", KEYS[4])
return built
