-- Bulk load (RankStore.load, and the board a rebuild builds aside): sets each entry, index included.
-- KEYS: 1 zset  2 player index state (index.lua)
-- ARGV: 1 ttl ms ("" = keep; a board built aside expires unless swapped in)
--       2 bucket key prefix for a new index ("" = the index's own)
--       3 "1" when the board is being built aside from rows naming each player once: no lookup of
--         a player's previous member (a player given twice anyway leaves two members, which the
--         swap refuses: replace.lua compares the sorted set's size with the index's)
--       then 3 per entry: zscore, time key (8 characters), player
-- Otherwise a player given twice keeps the last value (one member). Returns the number of entries set.
local z = KEYS[1]
local ix = ix_open(KEYS[2])
if ARGV[1] ~= "" then ix.ttl = tonumber(ARGV[1]) end
if ARGV[2] ~= "" and ix.fresh then ix.k = ARGV[2] end
local fresh = ARGV[3] == "1"
local FIRST = 4
local n = 0
for b = FIRST, #ARGV, 3 do
  local player, key = ARGV[b + 2], ARGV[b + 1]
  local new = key .. player
  if not fresh then
    local member = ix_member(ix, z, player)
    if member and member ~= new then redis.call("ZREM", z, member) end
  end
  redis.call("ZADD", z, ARGV[b], new)
  ix_set(ix, player, key)
  n = n + 1
end
ix_close(ix)
if ix.ttl then redis.call("PEXPIRE", z, ix.ttl) end
return n
