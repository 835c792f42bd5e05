-- Empties a board: its sorted set, change stream, the index of the previous encoding, and its
-- player index, which restarts under a fresh bucket key prefix (so no write can land in a bucket
-- that is being deleted).
-- KEYS: 1 zset  2 player index state  3 change stream  4 previous encoding's index.  ARGV: 1 new prefix
-- Returns {old bucket key prefix, old bucket count}: the caller deletes those buckets in chunks.
local old = ix_open(KEYS[2])
-- UNLINK: a big board is freed by a background thread, not while Redis blocks
redis.call("UNLINK", KEYS[1], KEYS[2], KEYS[3], KEYS[4])
redis.call("HSET", KEYS[2], "l", "0", "p", "0", "n", "0", "k", ARGV[1])
return {old.k, ix_buckets(old)}
