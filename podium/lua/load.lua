-- Bulk load into a live board (RankStore.load): sets each entry, index included. (A board built
-- aside by RankStore.replace writes its index from Python instead: its final size is known.)
-- KEYS: 1 zset  2 player index state (index.lua)
-- ARGV: 3 per entry: zscore, time key (8 characters), player
-- A player given twice keeps the last value (one member). Returns the number of entries set.
local z = KEYS[1]
local ix = ix_open(KEYS[2])
local n = 0
for b = 1, #ARGV, 3 do
  local player, key = ARGV[b + 2], ARGV[b + 1]
  local new = key .. player
  local member = ix_member(ix, z, player)
  if member and member ~= new then redis.call("ZREM", z, member) end
  redis.call("ZADD", z, ARGV[b], new)
  ix_set(ix, player, key)
  n = n + 1
end
ix_close(ix)
return n
