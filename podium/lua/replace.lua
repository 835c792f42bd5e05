-- Swaps a board built aside (by RankStore.replace) in for the live one, atomically: a reader sees
-- the old board or the new one, never a mix. All keys share the board's hash tag (one cluster slot).
--
-- KEYS: 1 built zset   2 built index state   3 live zset   4 live index state
--       5 the index of the previous encoding (dropped: the board is in the current encoding now)
-- ARGV: 1 number of entries the builder wrote   2 bucket key prefix for a fresh index when the
--       built board is empty
-- Returns {size, replaced bucket key prefix, replaced bucket count}: the caller deletes the replaced
-- buckets afterwards, in chunks (no new write can reach them: the live index has a new prefix).
-- size is -1 (and the built zset and state are dropped; their buckets expire) when the built zset
-- and index do not both hold exactly ARGV[1] entries (a player given twice, or keys lost mid-build).

local built = redis.call("ZCARD", KEYS[1])
local nix = ix_open(KEYS[2])
if built ~= tonumber(ARGV[1]) or nix.n ~= built then
  redis.call("UNLINK", KEYS[1], KEYS[2])
  return {-1, "", 0}
end
local old = ix_open(KEYS[4])
redis.call("UNLINK", KEYS[5])
if built == 0 then
  redis.call("UNLINK", KEYS[3], KEYS[4])
  redis.call("HSET", KEYS[4], "l", "0", "p", "0", "n", "0", "k", ARGV[2])
  return {0, old.k, ix_buckets(old)}
end
-- The replaced board is freed by a background thread (RENAME onto it would free it while Redis blocks).
redis.call("UNLINK", KEYS[3], KEYS[4])
-- RENAME carries the builder's safety TTL over: PERSIST drops it on the live keys and buckets.
redis.call("RENAME", KEYS[1], KEYS[3])
redis.call("PERSIST", KEYS[3])
redis.call("RENAME", KEYS[2], KEYS[4])
redis.call("PERSIST", KEYS[4])
for b = 0, ix_buckets(nix) - 1 do
  redis.call("PERSIST", nix.k .. ":" .. string.format("%d", b))
end
return {built, old.k, ix_buckets(old)}
