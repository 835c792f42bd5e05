-- Bulk load (RankStore.load, and the board a rebuild builds aside): sets each entry, index included.
-- KEYS: 1 zset  2 player index state (index.lua)
-- ARGV: 1 ttl ms ("" = keep; a board built aside expires unless swapped in)
--       2 bucket key prefix for a new index ("" = the index's own)
--       then 3 per entry: zscore, time key (8 characters), player
-- A player given twice keeps the last value (one member). Returns the number of entries set.
local z = KEYS[1]
local ix = ix_open(KEYS[2])
if ARGV[1] ~= "" then ix.ttl = tonumber(ARGV[1]) end
if ARGV[2] ~= "" and ix.fresh then ix.k = ARGV[2] end
local FIRST = 3
local n = 0
for b = FIRST, #ARGV, 3 do
  local player, key = ARGV[b + 2], ARGV[b + 1]
  local member = ix_member(ix, z, player)
  local new = key .. player
  if member and member ~= new then redis.call("ZREM", z, member) end
  redis.call("ZADD", z, ARGV[b], new)
  ix_set(ix, player, key)
  n = n + 1
end
ix_close(ix)
if ix.ttl then redis.call("PEXPIRE", z, ix.ttl) end
return n
